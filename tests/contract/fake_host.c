/* fake_host.c - an in-memory struct lk_host for plugin contract tests. */
#include "fake_host.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"	/* lk_parse_*, lk_path_cmp, lk_x*: the real host's parsers */

/* The fake host is the opaque context it hands to plugins. */
static struct fake_host *host_of(struct lk_ctx *ctx)
{
	return (struct fake_host *)ctx;
}

static struct lk_ctx *ctx_of(struct fake_host *fh)
{
	return (struct lk_ctx *)fh;
}

static void violation(struct fake_host *fh, const char *fmt, ...) LK_PRINTF(2, 3);

static void violation(struct fake_host *fh, const char *fmt, ...)
{
	va_list ap;

	if (fh->n_violations++)
		return;
	va_start(ap, fmt);
	vsnprintf(fh->violation, sizeof(fh->violation), fmt, ap);
	va_end(ap);
}

/* ---- trees ------------------------------------------------------------ */

void fake_tree_init(struct fake_tree *t, const char *root)
{
	memset(t, 0, sizeof(*t));
	t->tree.struct_size = sizeof(t->tree);
	t->tree.root = lk_xstrdup(root);
}

void fake_tree_add(struct fake_tree *t, const char *path, uint32_t type, uint64_t size,
		   const char *content)
{
	struct lk_file *f;

	lk_grow((void **)&t->files, &t->cap_files, t->n_files + 1, sizeof(*t->files));
	/* contents is parallel to files and grows with it */
	t->contents = lk_xrealloc(t->contents, t->cap_files * sizeof(*t->contents));
	f = &t->files[t->n_files];
	memset(f, 0, sizeof(*f));
	f->path = lk_xstrdup(path);
	f->type = type;
	f->mode = type == LK_FILE_DIR ? 0755 : 0644;
	f->size = content ? strlen(content) : (type == LK_FILE_REGULAR ? size : 0);
	if (type == LK_FILE_SYMLINK)
		f->link_target = lk_xstrdup("target");
	t->contents[t->n_files] = content ? lk_xstrdup(content) : NULL;
	t->n_files++;
	t->tree.files = t->files;
	t->tree.n_files = t->n_files;
}

struct tree_entry {
	struct lk_file file;
	char *content;
};

static int tree_entry_cmp(const void *a, const void *b)
{
	const struct tree_entry *x = a, *y = b;

	return lk_path_cmp(x->file.path, y->file.path);
}

void fake_tree_finish(struct fake_tree *t)
{
	struct tree_entry *e = lk_xcalloc(t->n_files, sizeof(*e));

	for (size_t i = 0; i < t->n_files; i++) {
		e[i].file = t->files[i];
		e[i].content = t->contents[i];
	}
	qsort(e, t->n_files, sizeof(*e), tree_entry_cmp);
	for (size_t i = 0; i < t->n_files; i++) {
		t->files[i] = e[i].file;
		t->contents[i] = e[i].content;
	}
	free(e);
	t->tree.files = t->files;
	t->tree.n_files = t->n_files;
}

void fake_tree_release(struct fake_tree *t)
{
	for (size_t i = 0; i < t->n_files; i++) {
		free((char *)t->files[i].path);
		free((char *)t->files[i].link_target);
		free(t->contents[i]);
	}
	free(t->files);
	free(t->contents);
	free((char *)t->tree.root);
	memset(t, 0, sizeof(*t));
}

/* ---- unit sets ---------------------------------------------------------- */

#define FILES_PER_UNIT 2

void fake_unit_set_init(struct fake_unit_set *s, const struct fake_unit_desc *descs,
			size_t n, uint32_t max_layers)
{
	memset(s, 0, sizeof(*s));
	fake_tree_init(&s->tree, "/fake/root");
	for (size_t i = 0; i < n; i++) {
		const struct fake_unit_desc *d = &descs[i];
		char path[512];

		for (int k = 0; k < FILES_PER_UNIT; k++) {
			uint64_t part = k == 0 ? d->bytes - d->bytes / 2 : d->bytes / 2;

			/* The unit's index is in the path so that two units of one
			 * name still own distinct files. */
			snprintf(path, sizeof(path), "%s/%s/%zu/f%d", lk_unit_kind_name(d->kind),
				 d->name, i, k);
			fake_tree_add(&s->tree, path, LK_FILE_REGULAR, part, NULL);
		}
	}
	fake_tree_finish(&s->tree);

	s->units = lk_xcalloc(n, sizeof(*s->units));
	s->file_store = lk_xcalloc(n * FILES_PER_UNIT, sizeof(*s->file_store));
	for (size_t i = 0; i < n; i++) {
		struct lk_unit *u = &s->units[i];

		u->name = lk_xstrdup(descs[i].name);
		u->version = lk_xstrdup(descs[i].version ? descs[i].version : "");
		u->kind = descs[i].kind;
		u->origin = lk_xstrdup("fake unit set");
		u->bytes = descs[i].bytes;
		u->files = s->file_store + i * FILES_PER_UNIT;
	}
	/* Map files back to their units: the index is the path's next to
	 * last component (names may hold '/', as "@scope/name" does). */
	for (size_t f = 0; f < s->tree.n_files; f++) {
		const char *path = s->tree.files[f].path;
		const char *p = strrchr(path, '/');
		size_t unit;

		while (p > path && p[-1] != '/')
			p--;
		unit = strtoul(p, NULL, 10);
		((uint32_t *)s->units[unit].files)[s->units[unit].n_files++] = (uint32_t)f;
	}
	s->set.struct_size = sizeof(s->set);
	s->set.tree = &s->tree.tree;
	s->set.n_units = n;
	s->set.units = s->units;
	s->set.max_layers = max_layers;
}

void fake_unit_set_release(struct fake_unit_set *s)
{
	for (size_t i = 0; i < s->set.n_units; i++) {
		free((char *)s->units[i].name);
		free((char *)s->units[i].version);
		free((char *)s->units[i].origin);
	}
	free(s->units);
	free(s->file_store);
	fake_tree_release(&s->tree);
	memset(s, 0, sizeof(*s));
}

/* ---- plans -------------------------------------------------------------- */

void fake_plan_release(struct fake_plan *plan)
{
	for (size_t i = 0; i < plan->n_layers; i++) {
		struct fake_layer *l = &plan->layers[i];

		for (size_t u = 0; u < l->n_units; u++)
			free(l->unit_reasons[u]);
		free(l->name);
		free(l->reason);
		free(l->units);
		free(l->unit_reasons);
		free(l->files);
	}
	free(plan->layers);
	plan->layers = NULL;
	plan->n_layers = 0;
}

static int str_equal(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

int fake_plan_equal(const struct fake_plan *a, const struct fake_plan *b)
{
	if (a->n_layers != b->n_layers)
		return 0;
	for (size_t i = 0; i < a->n_layers; i++) {
		const struct fake_layer *x = &a->layers[i], *y = &b->layers[i];

		if (!str_equal(x->name, y->name) || !str_equal(x->reason, y->reason) ||
		    x->n_units != y->n_units || x->n_files != y->n_files)
			return 0;
		for (size_t u = 0; u < x->n_units; u++)
			if (x->units[u] != y->units[u] ||
			    !str_equal(x->unit_reasons[u], y->unit_reasons[u]))
				return 0;
		for (size_t f = 0; f < x->n_files; f++)
			if (x->files[f] != y->files[f])
				return 0;
	}
	return 1;
}

long fake_plan_layer_of(const struct fake_plan *plan, uint32_t unit)
{
	for (size_t i = 0; i < plan->n_layers; i++)
		for (size_t u = 0; u < plan->layers[i].n_units; u++)
			if (plan->layers[i].units[u] == unit)
				return (long)i;
	return -1;
}

long fake_plan_find(const struct fake_plan *plan, const char *name)
{
	for (size_t i = 0; i < plan->n_layers; i++)
		if (!strcmp(plan->layers[i].name, name))
			return (long)i;
	return -1;
}

int fake_plan_verify(const struct fake_plan *plan, const struct lk_unit_set *set,
		     char *msg, size_t msg_len)
{
	const struct lk_tree *tree = set->tree;
	long *layer_of_file;
	int rc = -1;

	if (set->n_units && !plan->n_layers) {
		snprintf(msg, msg_len, "no layer for %zu units", set->n_units);
		return -1;
	}
	if (plan->n_layers > set->max_layers) {
		snprintf(msg, msg_len, "%zu layers, over max_layers %u", plan->n_layers,
			 set->max_layers);
		return -1;
	}
	layer_of_file = lk_xcalloc(tree->n_files ? tree->n_files : 1, sizeof(*layer_of_file));
	for (size_t f = 0; f < tree->n_files; f++)
		layer_of_file[f] = -1;
	for (size_t i = 0; i < plan->n_layers; i++) {
		const struct fake_layer *l = &plan->layers[i];

		if (!l->name || !*l->name) {
			snprintf(msg, msg_len, "layer %zu has no name", i);
			goto out_free;
		}
		for (size_t j = 0; j < i; j++) {
			if (!strcmp(plan->layers[j].name, l->name)) {
				snprintf(msg, msg_len, "two layers named '%s'", l->name);
				goto out_free;
			}
		}
		if (!l->n_units && !l->n_files) {
			snprintf(msg, msg_len, "layer '%s' is empty", l->name);
			goto out_free;
		}
		for (size_t u = 0; u < l->n_units; u++) {
			const struct lk_unit *unit;

			if (l->units[u] >= set->n_units) {
				snprintf(msg, msg_len, "layer '%s' names unknown unit %u", l->name,
					 l->units[u]);
				goto out_free;
			}
			unit = &set->units[l->units[u]];
			for (size_t k = 0; k < unit->n_files; k++) {
				uint32_t f = unit->files[k];

				if (layer_of_file[f] >= 0) {
					snprintf(msg, msg_len, "unit '%s' is in layers '%s' and '%s'",
						 unit->name, plan->layers[layer_of_file[f]].name,
						 l->name);
					goto out_free;
				}
				layer_of_file[f] = (long)i;
			}
		}
		for (size_t k = 0; k < l->n_files; k++) {
			uint32_t f = l->files[k];

			if (f >= tree->n_files || layer_of_file[f] >= 0) {
				snprintf(msg, msg_len, "layer '%s': file %u unknown or placed twice",
					 l->name, f);
				goto out_free;
			}
			layer_of_file[f] = (long)i;
		}
	}
	for (size_t f = 0; f < tree->n_files; f++) {
		if (layer_of_file[f] < 0) {
			snprintf(msg, msg_len, "file '%s' is in no layer", tree->files[f].path);
			goto out_free;
		}
	}
	rc = 0;
out_free:
	free(layer_of_file);
	return rc;
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A layer's content as one string: its members sorted, so the order the
 * strategy added them in does not matter (the tar is sorted by path). */
static char *layer_signature(const struct fake_layer *l, const struct lk_unit_set *set)
{
	size_t n = l->n_units + l->n_files, len = 1;
	char **parts = lk_xcalloc(n ? n : 1, sizeof(*parts));
	char *sig;

	for (size_t u = 0; u < l->n_units; u++) {
		const struct lk_unit *unit = &set->units[l->units[u]];

		parts[u] = lk_xasprintf("%s@%s#%llu", unit->name, unit->version,
					(unsigned long long)unit->bytes);
	}
	for (size_t k = 0; k < l->n_files; k++)
		parts[l->n_units + k] = lk_xasprintf("file:%s", set->tree->files[l->files[k]].path);
	qsort(parts, n, sizeof(*parts), cmp_str_ptr);
	for (size_t i = 0; i < n; i++)
		len += strlen(parts[i]) + 1;
	sig = lk_xcalloc(len, 1);
	for (size_t i = 0; i < n; i++) {
		strcat(sig, parts[i]);
		strcat(sig, "|");
		free(parts[i]);
	}
	free(parts);
	return sig;
}

static char **plan_signatures(const struct fake_plan *p, const struct lk_unit_set *set)
{
	char **sigs = lk_xcalloc(p->n_layers ? p->n_layers : 1, sizeof(*sigs));

	for (size_t i = 0; i < p->n_layers; i++)
		sigs[i] = layer_signature(&p->layers[i], set);
	qsort(sigs, p->n_layers, sizeof(*sigs), cmp_str_ptr);
	return sigs;
}

size_t fake_plan_changed_layers(const struct fake_plan *a, const struct lk_unit_set *sa,
				const struct fake_plan *b, const struct lk_unit_set *sb)
{
	char **x = plan_signatures(a, sa), **y = plan_signatures(b, sb);
	size_t i = 0, j = 0, only_a = 0, only_b = 0;

	/* A merge of two sorted multisets. */
	while (i < a->n_layers || j < b->n_layers) {
		int c = i == a->n_layers ? 1 : j == b->n_layers ? -1 : strcmp(x[i], y[j]);

		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			only_a++;
			i++;
		} else {
			only_b++;
			j++;
		}
	}
	for (i = 0; i < a->n_layers; i++)
		free(x[i]);
	for (j = 0; j < b->n_layers; j++)
		free(y[j]);
	free(x);
	free(y);
	return only_a > only_b ? only_a : only_b;
}

/* ---- plugins ------------------------------------------------------------ */

int fake_plugin_open(struct fake_plugin *p, const char *path, char *err, size_t err_len)
{
	lk_discovery_entry_fn discovery_entry;
	lk_strategy_entry_fn strategy_entry;

	memset(p, 0, sizeof(*p));
	p->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!p->handle) {
		snprintf(err, err_len, "cannot load %s: %s", path, dlerror());
		return -1;
	}
	*(void **)&discovery_entry = dlsym(p->handle, LK_DISCOVERY_ENTRY_SYMBOL);
	*(void **)&strategy_entry = dlsym(p->handle, LK_STRATEGY_ENTRY_SYMBOL);
	if (!!discovery_entry == !!strategy_entry) {
		snprintf(err, err_len, "%s exports %s entry symbol", path,
			 discovery_entry ? "both kinds of" : "no");
		goto out_close;
	}
	if (discovery_entry) {
		const struct lk_discovery *d = discovery_entry();

		if (!d || d->abi_major != LK_ABI_MAJOR ||
		    d->struct_size < sizeof(struct lk_discovery)) {
			snprintf(err, err_len, "%s: bad descriptor (abi %u, size %u)", path,
				 d ? d->abi_major : 0, d ? d->struct_size : 0);
			goto out_close;
		}
		p->kind = FAKE_DISCOVERY;
		p->discovery = d;
		p->abi_major = d->abi_major;
		p->abi_minor = d->abi_minor;
		p->struct_size = d->struct_size;
		p->name = d->name;
		p->description = d->description;
		p->version = d->version;
		p->options = d->options;
	} else {
		const struct lk_strategy *s = strategy_entry();

		if (!s || s->abi_major != LK_ABI_MAJOR ||
		    s->struct_size < sizeof(struct lk_strategy)) {
			snprintf(err, err_len, "%s: bad descriptor (abi %u, size %u)", path,
				 s ? s->abi_major : 0, s ? s->struct_size : 0);
			goto out_close;
		}
		p->kind = FAKE_STRATEGY;
		p->strategy = s;
		p->abi_major = s->abi_major;
		p->abi_minor = s->abi_minor;
		p->struct_size = s->struct_size;
		p->name = s->name;
		p->description = s->description;
		p->version = s->version;
		p->options = s->options;
	}
	return 0;

out_close:
	dlclose(p->handle);
	p->handle = NULL;
	return -1;
}

void fake_plugin_close(struct fake_plugin *p)
{
	if (p->handle)
		dlclose(p->handle);
	memset(p, 0, sizeof(*p));
}

/* ---- host services ------------------------------------------------------ */

static void host_log(struct lk_ctx *ctx, int level, const char *fmt, ...)
{
	struct fake_host *fh = host_of(ctx);
	va_list ap;
	char *msg;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (level <= LK_LOG_WARN)
		fh->n_warnings++;
	if (getenv("FAKE_HOST_VERBOSE"))
		fprintf(stderr, "[%s %d] %s\n", fh->plugin ? fh->plugin->name : "?", level, msg);
	if (fh->n_logs == FAKE_MAX_LOGS) {
		free(msg);
		return;
	}
	fh->log_levels[fh->n_logs] = level;
	fh->logs[fh->n_logs++] = msg;
}

static void host_set_error(struct lk_ctx *ctx, const char *fmt, ...)
{
	struct fake_host *fh = host_of(ctx);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(fh->error, sizeof(fh->error), fmt, ap);
	va_end(ap);
	fh->has_error = 1;
}

/* The declared spec of key, or NULL (and a violation: the host would
 * answer NULL / 0, which a plugin must not rely on). */
static const struct lk_option_spec *spec_of(struct fake_host *fh, const char *key,
					    int type)
{
	const struct lk_option_spec *s = fh->plugin ? fh->plugin->options : NULL;

	for (; s && s->key; s++) {
		if (strcmp(s->key, key))
			continue;
		if (type >= 0 && s->type != (uint32_t)type) {
			violation(fh, "option '%s' (type %u) read as type %d", key, s->type, type);
			return NULL;
		}
		return s;
	}
	violation(fh, "option '%s' read but not declared", key);
	return NULL;
}

/* The text of an option: the value set, else the default, else NULL. */
static const char *option_text(struct fake_host *fh, const struct lk_option_spec *s)
{
	for (size_t i = 0; i < fh->n_options; i++)
		if (!strcmp(fh->option_keys[i], s->key))
			return fh->option_values[i];
	return s->default_value;
}

static const char *host_opt_string(struct lk_ctx *ctx, const char *key)
{
	struct fake_host *fh = host_of(ctx);
	const struct lk_option_spec *s = spec_of(fh, key, -1);

	return s ? option_text(fh, s) : NULL;
}

static int64_t host_opt_int(struct lk_ctx *ctx, const char *key)
{
	struct fake_host *fh = host_of(ctx);
	const struct lk_option_spec *s = spec_of(fh, key, LK_OPT_INT);
	const char *text = s ? option_text(fh, s) : NULL;
	int64_t v = 0;

	if (text && lk_parse_int64(text, &v) != 0)
		v = 0;
	return v;
}

static int host_opt_bool(struct lk_ctx *ctx, const char *key)
{
	struct fake_host *fh = host_of(ctx);
	const struct lk_option_spec *s = spec_of(fh, key, LK_OPT_BOOL);
	const char *text = s ? option_text(fh, s) : NULL;
	int v = 0;

	if (text && lk_parse_bool(text, &v) != 0)
		v = 0;
	return v;
}

static uint64_t host_opt_size(struct lk_ctx *ctx, const char *key)
{
	struct fake_host *fh = host_of(ctx);
	const struct lk_option_spec *s = spec_of(fh, key, LK_OPT_SIZE);
	const char *text = s ? option_text(fh, s) : NULL;
	uint64_t v = 0;

	if (text && lk_parse_size(text, &v) != 0)
		v = 0;
	return v;
}

/* Items of a list value, split as the real host splits them (commas and
 * newlines, trimmed, empty items dropped).  Returns the count; with
 * want >= 0 stores that item (host-owned until the call ends) in *item. */
static size_t list_items(struct fake_host *fh, const char *text, long want, const char **item)
{
	size_t n = 0;

	while (text && *text) {
		const char *end = text + strcspn(text, ",\n");
		const char *a = text, *b = end;

		while (a < b && (*a == ' ' || *a == '\t' || *a == '\r'))
			a++;
		while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
			b--;
		if (b > a) {
			if (want >= 0 && (size_t)want == n) {
				char *copy = lk_xmalloc((size_t)(b - a) + 1);

				memcpy(copy, a, (size_t)(b - a));
				copy[b - a] = '\0';
				fh->scratch = lk_xrealloc(fh->scratch,
							  (fh->n_scratch + 1) * sizeof(*fh->scratch));
				fh->scratch[fh->n_scratch++] = copy;
				*item = copy;
			}
			n++;
		}
		text = *end ? end + 1 : end;
	}
	return n;
}

static size_t host_opt_list_count(struct lk_ctx *ctx, const char *key)
{
	struct fake_host *fh = host_of(ctx);
	const struct lk_option_spec *s = spec_of(fh, key, LK_OPT_LIST);

	return s ? list_items(fh, option_text(fh, s), -1, NULL) : 0;
}

static const char *host_opt_list_item(struct lk_ctx *ctx, const char *key, size_t i)
{
	struct fake_host *fh = host_of(ctx);
	const struct lk_option_spec *s = spec_of(fh, key, LK_OPT_LIST);
	const char *item = NULL;

	if (s)
		list_items(fh, option_text(fh, s), (long)i, &item);
	return item;
}

static long host_find_file(struct lk_ctx *ctx, const char *path)
{
	struct fake_host *fh = host_of(ctx);
	size_t lo = 0, hi;

	fh->n_tree_reads++;
	if (fh->in_plan)
		violation(fh, "strategy called find_file(\"%s\")", path);
	if (!fh->tree || !path)
		return -1;
	hi = fh->tree->n_files;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = lk_path_cmp(fh->tree->files[mid].path, path);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int host_read_file(struct lk_ctx *ctx, uint32_t index, size_t max_bytes,
			  char **buf, size_t *len)
{
	struct fake_host *fh = host_of(ctx);
	const struct lk_file *f;
	const char *content;

	fh->n_tree_reads++;
	*buf = NULL;
	*len = 0;
	if (fh->in_plan)
		violation(fh, "strategy called read_file(%u)", index);
	if (!fh->tree || index >= fh->tree->n_files) {
		host_set_error(ctx, "read_file: no file with index %u", index);
		return LK_FAILED;
	}
	f = &fh->tree->files[index];
	if (f->type != LK_FILE_REGULAR) {
		host_set_error(ctx, "read_file: %s is not a regular file", f->path);
		return LK_FAILED;
	}
	if (f->size > max_bytes) {
		host_set_error(ctx, "%s is larger than the %zu bytes allowed here", f->path,
			       max_bytes);
		return LK_FAILED;
	}
	content = fh->contents ? fh->contents[index] : NULL;
	*buf = lk_xcalloc((size_t)f->size + 1, 1);
	if (content)
		memcpy(*buf, content, (size_t)f->size);
	*len = (size_t)f->size;
	return LK_OK;
}

static void host_free_buffer(struct lk_ctx *ctx, char *buf)
{
	free(buf);
}

static int host_unit_add(struct lk_ctx *ctx, uint32_t kind, const char *name,
			 const char *version, const char *origin)
{
	struct fake_host *fh = host_of(ctx);
	struct lk_unit *u;
	size_t old_cap = fh->cap_units;

	if (fh->in_plan) {
		violation(fh, "strategy called unit_add");
		return LK_FAILED;
	}
	if (kind >= LK_UNIT_KIND_COUNT || !name || !*name) {
		violation(fh, "unit_add with kind %u, name '%s'", kind, name ? name : "(null)");
		host_set_error(ctx, "unit_add: invalid kind %u or empty name", kind);
		return LK_FAILED;
	}
	lk_grow((void **)&fh->units, &fh->cap_units, fh->n_units + 1, sizeof(*fh->units));
	if (fh->cap_units != old_cap) {
		fh->unit_files_cap = lk_xrealloc(fh->unit_files_cap,
						 fh->cap_units * sizeof(*fh->unit_files_cap));
	}
	u = &fh->units[fh->n_units];
	memset(u, 0, sizeof(*u));
	u->kind = kind;
	u->name = lk_xstrdup(name);
	u->version = lk_xstrdup(version ? version : "");
	u->origin = lk_xstrdup(origin ? origin : "");
	fh->unit_files_cap[fh->n_units] = 0;
	return (int)fh->n_units++;
}

static int host_unit_claim(struct lk_ctx *ctx, int unit, uint32_t file)
{
	struct fake_host *fh = host_of(ctx);
	struct lk_unit *u;

	if (fh->in_plan) {
		violation(fh, "strategy called unit_claim");
		return LK_FAILED;
	}
	if (unit < 0 || (size_t)unit >= fh->n_units || !fh->tree || file >= fh->tree->n_files) {
		violation(fh, "unit_claim(%d, %u): no such unit or file", unit, file);
		host_set_error(ctx, "unit_claim: no unit %d or no file %u", unit, file);
		return LK_FAILED;
	}
	if (fh->unit_of_file[file] >= 0) {
		violation(fh, "file '%s' claimed twice", fh->tree->files[file].path);
		host_set_error(ctx, "file '%s' claimed twice", fh->tree->files[file].path);
		return LK_FAILED;
	}
	u = &fh->units[unit];
	lk_grow((void **)&u->files, &fh->unit_files_cap[unit], u->n_files + 1,
		sizeof(*u->files));
	((uint32_t *)u->files)[u->n_files++] = file;
	u->bytes += fh->tree->files[file].size;
	fh->unit_of_file[file] = unit;
	return LK_OK;
}

static int host_unit_of(struct lk_ctx *ctx, uint32_t file)
{
	struct fake_host *fh = host_of(ctx);

	if (!fh->tree || file >= fh->tree->n_files || !fh->unit_of_file)
		return -1;
	return fh->unit_of_file[file];
}

static int host_layer_add(struct lk_ctx *ctx, const char *name, const char *reason)
{
	struct fake_host *fh = host_of(ctx);
	struct fake_layer *l;

	if (!fh->in_plan) {
		violation(fh, "discovery called layer_add");
		return LK_FAILED;
	}
	if (!name || !*name) {
		violation(fh, "layer_add without a name");
		host_set_error(ctx, "layer_add: a layer needs a name");
		return LK_FAILED;
	}
	fh->plan.layers = lk_xrealloc(fh->plan.layers,
				      (fh->plan.n_layers + 1) * sizeof(*fh->plan.layers));
	l = &fh->plan.layers[fh->plan.n_layers];
	memset(l, 0, sizeof(*l));
	l->name = lk_xstrdup(name);
	l->reason = reason ? lk_xstrdup(reason) : NULL;
	return (int)fh->plan.n_layers++;
}

static int host_layer_add_unit(struct lk_ctx *ctx, int layer, uint32_t unit, const char *reason)
{
	struct fake_host *fh = host_of(ctx);
	struct fake_layer *l;

	if (!fh->in_plan || layer < 0 || (size_t)layer >= fh->plan.n_layers) {
		violation(fh, "layer_add_unit(%d, %u): no such layer", layer, unit);
		host_set_error(ctx, "layer_add_unit: no layer %d", layer);
		return LK_FAILED;
	}
	l = &fh->plan.layers[layer];
	l->units = lk_xrealloc(l->units, (l->n_units + 1) * sizeof(*l->units));
	l->unit_reasons = lk_xrealloc(l->unit_reasons,
				      (l->n_units + 1) * sizeof(*l->unit_reasons));
	l->units[l->n_units] = unit;
	l->unit_reasons[l->n_units] = reason ? lk_xstrdup(reason) : NULL;
	l->n_units++;
	return LK_OK;
}

static int host_layer_add_file(struct lk_ctx *ctx, int layer, uint32_t file)
{
	struct fake_host *fh = host_of(ctx);
	struct fake_layer *l;

	if (!fh->in_plan || layer < 0 || (size_t)layer >= fh->plan.n_layers) {
		violation(fh, "layer_add_file(%d, %u): no such layer", layer, file);
		host_set_error(ctx, "layer_add_file: no layer %d", layer);
		return LK_FAILED;
	}
	l = &fh->plan.layers[layer];
	l->files = lk_xrealloc(l->files, (l->n_files + 1) * sizeof(*l->files));
	l->files[l->n_files++] = file;
	return LK_OK;
}

static const struct lk_host fake_services = {
	.abi_major = LK_ABI_MAJOR,
	.abi_minor = LK_ABI_MINOR,
	.struct_size = sizeof(struct lk_host),
	.log = host_log,
	.set_error = host_set_error,
	.opt_string = host_opt_string,
	.opt_int = host_opt_int,
	.opt_bool = host_opt_bool,
	.opt_size = host_opt_size,
	.opt_list_count = host_opt_list_count,
	.opt_list_item = host_opt_list_item,
	.find_file = host_find_file,
	.read_file = host_read_file,
	.free_buffer = host_free_buffer,
	.unit_add = host_unit_add,
	.unit_claim = host_unit_claim,
	.unit_of = host_unit_of,
	.layer_add = host_layer_add,
	.layer_add_unit = host_layer_add_unit,
	.layer_add_file = host_layer_add_file,
};

/* ---- the host ----------------------------------------------------------- */

void fake_host_init(struct fake_host *fh)
{
	memset(fh, 0, sizeof(*fh));
	fh->services = fake_services;
}

static void free_units(struct fake_host *fh)
{
	for (size_t i = 0; i < fh->n_units; i++) {
		free((char *)fh->units[i].name);
		free((char *)fh->units[i].version);
		free((char *)fh->units[i].origin);
		free((uint32_t *)fh->units[i].files);
	}
	free(fh->units);
	free(fh->unit_files_cap);
	free(fh->unit_of_file);
	fh->units = NULL;
	fh->unit_files_cap = NULL;
	fh->unit_of_file = NULL;
	fh->n_units = fh->cap_units = 0;
}

static void end_call(struct fake_host *fh)
{
	for (size_t i = 0; i < fh->n_scratch; i++)
		free(fh->scratch[i]);
	free(fh->scratch);
	fh->scratch = NULL;
	fh->n_scratch = 0;
	fh->in_plan = 0;
}

void fake_host_reset(struct fake_host *fh)
{
	end_call(fh);
	free_units(fh);
	fake_plan_release(&fh->plan);
	for (size_t i = 0; i < fh->n_logs; i++)
		free(fh->logs[i]);
	fh->n_logs = fh->n_warnings = 0;
	fh->error[0] = '\0';
	fh->has_error = 0;
	fh->violation[0] = '\0';
	fh->n_violations = 0;
	fh->n_tree_reads = 0;
	fh->plugin = NULL;
	fh->tree = NULL;
	fh->contents = NULL;
}

void fake_host_release(struct fake_host *fh)
{
	fake_host_reset(fh);
	for (size_t i = 0; i < fh->n_options; i++) {
		free(fh->option_keys[i]);
		free(fh->option_values[i]);
	}
	fh->n_options = 0;
}

void fake_host_set_option(struct fake_host *fh, const char *key, const char *value)
{
	for (size_t i = 0; i < fh->n_options; i++) {
		if (strcmp(fh->option_keys[i], key))
			continue;
		free(fh->option_values[i]);
		if (value) {
			fh->option_values[i] = lk_xstrdup(value);
			return;
		}
		free(fh->option_keys[i]);
		fh->n_options--;
		fh->option_keys[i] = fh->option_keys[fh->n_options];
		fh->option_values[i] = fh->option_values[fh->n_options];
		return;
	}
	if (!value || fh->n_options == FAKE_MAX_OPTIONS)
		return;
	fh->option_keys[fh->n_options] = lk_xstrdup(key);
	fh->option_values[fh->n_options++] = lk_xstrdup(value);
}

/* Parses text as spec says; 0 or -1 with why.  The grammar is the real
 * host's: lk_parse_* of core/common.c. */
static int option_valid(const struct lk_option_spec *s, const char *text, char *why, size_t len)
{
	int bounded = !(s->min == 0 && s->max == 0);
	int64_t i;
	uint64_t z;
	int b;

	switch (s->type) {
	case LK_OPT_STRING:
	case LK_OPT_LIST:
		return 0;
	case LK_OPT_BOOL:
		if (lk_parse_bool(text, &b) == 0)
			return 0;
		snprintf(why, len, "expected true or false");
		return -1;
	case LK_OPT_INT:
		if (lk_parse_int64(text, &i) == 0 && (!bounded || (i >= s->min && i <= s->max)))
			return 0;
		snprintf(why, len, "expected an integer from %lld to %lld", (long long)s->min,
			 (long long)s->max);
		return -1;
	case LK_OPT_SIZE:
		if (lk_parse_size(text, &z) == 0 &&
		    (!bounded || (z >= (uint64_t)s->min && z <= (uint64_t)s->max)))
			return 0;
		snprintf(why, len, "expected a size from %lld to %lld", (long long)s->min,
			 (long long)s->max);
		return -1;
	}
	snprintf(why, len, "unknown option type %u", s->type);
	return -1;
}

int fake_host_check_options(struct fake_host *fh, const struct fake_plugin *p)
{
	const struct lk_option_spec *s;
	char why[256];

	for (size_t i = 0; i < fh->n_options; i++) {
		for (s = p->options; s && s->key; s++)
			if (!strcmp(s->key, fh->option_keys[i]))
				break;
		if (!s || !s->key) {
			snprintf(fh->error, sizeof(fh->error), "unknown option '%s' for '%s'",
				 fh->option_keys[i], p->name);
			return -1;
		}
		if (option_valid(s, fh->option_values[i], why, sizeof(why)) != 0) {
			snprintf(fh->error, sizeof(fh->error), "bad value '%s' for option '%s': %s",
				 fh->option_values[i], s->key, why);
			return -1;
		}
	}
	for (s = p->options; s && s->key; s++) {
		if (s->default_value && option_valid(s, s->default_value, why, sizeof(why)) != 0) {
			snprintf(fh->error, sizeof(fh->error), "default '%s' of option '%s': %s",
				 s->default_value, s->key, why);
			return -1;
		}
	}
	return 0;
}

int fake_run_strategy(struct fake_host *fh, const struct fake_plugin *p,
		      const struct lk_unit_set *set)
{
	const struct lk_strategy *s = p->strategy;
	void *state = NULL;
	int rc;

	fake_host_reset(fh);
	if (!s) {
		snprintf(fh->error, sizeof(fh->error), "%s is not a strategy", p->name);
		return LK_FATAL;
	}
	if (fake_host_check_options(fh, p) != 0)
		return LK_FAILED;
	fh->plugin = p;
	fh->tree = set->tree;
	fh->in_plan = 1;
	if (s->init) {
		rc = s->init(&fh->services, ctx_of(fh), &state);
		if (rc != LK_OK && rc != LK_WARN)
			goto out_end;
	}
	rc = s->plan(&fh->services, ctx_of(fh), state, set);
	if (s->release)
		s->release(state);
out_end:
	end_call(fh);
	if ((rc == LK_FAILED || rc == LK_FATAL) && !fh->has_error)
		violation(fh, "plan failed with code %d but set no error", rc);
	return rc;
}

int fake_run_discovery(struct fake_host *fh, const struct fake_plugin *p,
		       const struct lk_tree *tree, const char *const *contents)
{
	const struct lk_discovery *d = p->discovery;
	void *state = NULL;
	int rc;

	fake_host_reset(fh);
	if (!d) {
		snprintf(fh->error, sizeof(fh->error), "%s is not a discovery", p->name);
		return LK_FATAL;
	}
	if (fake_host_check_options(fh, p) != 0)
		return LK_FAILED;
	fh->plugin = p;
	fh->tree = tree;
	fh->contents = contents;
	fh->unit_of_file = lk_xmalloc((tree->n_files ? tree->n_files : 1) *
				      sizeof(*fh->unit_of_file));
	for (size_t i = 0; i < tree->n_files; i++)
		fh->unit_of_file[i] = -1;
	if (d->init) {
		rc = d->init(&fh->services, ctx_of(fh), &state);
		if (rc != LK_OK && rc != LK_WARN)
			goto out_end;
	}
	rc = d->discover(&fh->services, ctx_of(fh), state, tree);
	if (d->release)
		d->release(state);
out_end:
	end_call(fh);
	if ((rc == LK_FAILED || rc == LK_FATAL) && !fh->has_error)
		violation(fh, "discover failed with code %d but set no error", rc);
	return rc;
}

void fake_host_take_plan(struct fake_host *fh, struct fake_plan *out)
{
	*out = fh->plan;
	memset(&fh->plan, 0, sizeof(fh->plan));
}

const struct lk_unit *fake_unit_of_path(const struct fake_host *fh, const char *path)
{
	for (size_t i = 0; fh->tree && i < fh->tree->n_files; i++)
		if (!strcmp(fh->tree->files[i].path, path))
			return fh->unit_of_file[i] >= 0 ? &fh->units[fh->unit_of_file[i]] : NULL;
	return NULL;
}

const struct lk_unit *fake_unit_named(const struct fake_host *fh, const char *name)
{
	for (size_t i = 0; i < fh->n_units; i++)
		if (!strcmp(fh->units[i].name, name))
			return &fh->units[i];
	return NULL;
}

int fake_host_logged(const struct fake_host *fh, int max_level, const char *needle)
{
	for (size_t i = 0; i < fh->n_logs; i++)
		if (fh->log_levels[i] <= max_level && strstr(fh->logs[i], needle))
			return 1;
	return 0;
}
