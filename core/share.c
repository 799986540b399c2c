/* share.c - the shared store: interpreter and package units at app-independent paths. */
#include "share.h"

#include <stdlib.h>
#include <string.h>

/* a/b, or b when a is "" (malloc'ed). */
static char *path_join(const char *a, const char *b)
{
	if (!*a)
		return lk_xstrdup(b);
	if (!*b)
		return lk_xstrdup(a);
	return lk_xasprintf("%s/%s", a, b);
}

/* Whether path is dir or below it ("" holds everything). */
static int path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (!n)
		return 1;
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

/* path relative to dir, which holds it ("" for dir itself). */
static const char *path_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (!n)
		return path;
	return path[n] ? path + n + 1 : path + n;
}

/* The longest common directory of a unit's files ("" = the tree root). */
static char *unit_root(const struct lk_scan *scan, const struct lk_unit *u)
{
	const char *first = scan->files[u->files[0]].path;
	const char *slash = strrchr(first, '/');
	size_t len = slash ? (size_t)(slash - first) : 0;

	for (size_t i = 1; i < u->n_files && len; i++) {
		const char *p = scan->files[u->files[i]].path;
		size_t k = 0;

		/* Shrink to the common prefix, then back to a directory that
		 * both hold: a whole component of p's directory part. */
		while (k < len && p[k] == first[k])
			k++;
		if (k == len && p[k] == '/')
			continue;
		while (k > 0 && first[--k] != '/')
			;
		len = k;
	}
	return lk_xasprintf("%.*s", (int)len, first);
}

/* How many of the entries [lo, hi) belong to unit. */
static size_t owned_count(const struct lk_unit_table *units, uint32_t unit, size_t lo, size_t hi)
{
	size_t n = 0;

	for (size_t i = lo; i < hi; i++)
		n += units->unit_of_file[i] == (int32_t)unit;
	return n;
}

/* "interpreter-python3.11-3.11.9", with anything but [A-Za-z0-9._+-] as '_'. */
static char *store_dir_name(const struct lk_unit *u)
{
	char *s = lk_xasprintf("%s-%s-%s", lk_unit_kind_name(u->kind), u->name, u->version);

	for (char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '+' || c == '-'))
			*p = '_';
	}
	return s;
}

/*
 * Resolves a kept link's target from its directory, lexically, into out
 * (a tree path, "" = the root).  -1 when it climbs above the root.
 */
static int link_resolve(const char *path, const char *target, char *out, size_t size)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;
	const char *p = target;

	if (n >= size)
		return -1;
	memcpy(out, path, n);
	out[n] = '\0';
	while (*p) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			char *up;

			if (!n)
				return -1;
			up = strrchr(out, '/');
			n = up ? (size_t)(up - out) : 0;
			out[n] = '\0';
		} else if (len && !(len == 1 && p[0] == '.')) {
			if (n + 1 + len >= size)
				return -1;
			if (n)
				out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
			out[n] = '\0';
		}
		p += len;
		while (*p == '/')
			p++;
	}
	return 0;
}

/* NULL when every kept link of the unit still resolves once it moves,
 * else why not (malloc'ed). */
static char *links_stay_inside(const struct lk_scan *scan, const struct lk_unit_table *units,
			       uint32_t unit, const char *root)
{
	const struct lk_unit *u = &units->units[unit];
	char resolved[8192];

	for (size_t i = 0; i < u->n_files; i++) {
		const struct lk_file *f = &scan->files[u->files[i]];
		size_t lo, hi;

		if (f->type != LK_FILE_SYMLINK)
			continue;
		/* In the store only the unit's own files exist below its root. */
		if (link_resolve(f->path, f->link_target, resolved, sizeof(resolved)) == 0 &&
		    path_under(resolved, root)) {
			lk_scan_find_below(scan, resolved, &lo, &hi);
			if (hi > lo && owned_count(units, unit, lo, hi) == hi - lo)
				continue;
		}
		return lk_xasprintf("its link %s -> %s points outside the unit", f->path,
				    f->link_target);
	}
	return NULL;
}

static void link_add(struct lk_share *share, size_t *cap, uint32_t unit, const char *at)
{
	struct lk_share_unit *su = &share->units[unit];
	struct lk_share_link *l;
	const char *below = path_below(at, su->root);
	size_t depth = 0;
	char *up;

	lk_grow((void **)&share->links, cap, share->n_links + 1, sizeof(*share->links));
	l = &share->links[share->n_links++];
	l->unit = unit;
	l->name = path_join(share->prefix, at);
	for (const char *p = l->name; *p; p++)
		depth += *p == '/';
	/* Relative, so the image works wherever its root is mounted. */
	up = lk_xmalloc(depth * 3 + 1);
	for (size_t i = 0; i < depth; i++)
		memcpy(up + i * 3, "../", 3);
	up[depth * 3] = '\0';
	l->target = *below ? lk_xasprintf("%s%s/%s", up, su->dir, below) :
			     lk_xasprintf("%s%s", up, su->dir);
	free(up);
}

/*
 * Adds a link for each largest directory or file below dir (entries
 * [lo, hi)) that holds only the unit's files.
 */
static void links_below(struct lk_share *share, size_t *cap, const struct lk_scan *scan,
			const struct lk_unit_table *units, uint32_t unit, const char *dir,
			size_t lo, size_t hi)
{
	size_t i = lo;

	while (i < hi) {
		const char *path = scan->files[i].path;
		const char *rest = path_below(path, dir);
		size_t len = (size_t)(rest - path) + strcspn(rest, "/");
		char *child = lk_xasprintf("%.*s", (int)len, path);
		size_t j = i + 1, mine;

		while (j < hi && path_under(scan->files[j].path, child))
			j++;
		mine = owned_count(units, unit, i, j);
		if (mine == j - i)
			link_add(share, cap, unit, child);
		else if (mine)
			links_below(share, cap, scan, units, unit, child, i, j);
		free(child);
		i = j;
	}
}

static int cmp_link(const void *a, const void *b)
{
	return lk_path_cmp(((const struct lk_share_link *)a)->name,
			   ((const struct lk_share_link *)b)->name);
}

static int cmp_entry(const void *a, const void *b)
{
	return lk_path_cmp(((const struct lk_tar_entry *)a)->name,
			   ((const struct lk_tar_entry *)b)->name);
}

/* Refuses a store that a file of the tree would land in or on. */
static int store_check(const struct lk_share *share, const struct lk_scan *scan,
		       struct lk_error *err)
{
	for (size_t i = 0; i < scan->n_files; i++) {
		const struct lk_file *f = &scan->files[i];
		char *name = path_join(share->prefix, f->path);
		int bad = path_under(name, share->store) ||
			  (f->type != LK_FILE_DIR && path_under(share->store, name));

		if (bad) {
			lk_error_set(err, LK_EXIT_USAGE,
				     "shared_store = /%s: %s/%s would land at /%s, in the way of the store; choose another shared_store (or prefix)",
				     share->store, scan->root, f->path, name);
			free(name);
			return LK_FAILED;
		}
		free(name);
	}
	return LK_OK;
}

/* Decides which units move, and where. */
static void units_place(struct lk_share *share, const struct lk_scan *scan,
			const struct lk_unit_table *units)
{
	for (uint32_t i = 0; i < units->n_units; i++) {
		const struct lk_unit *u = &units->units[i];
		struct lk_share_unit *su = &share->units[i];
		char *name;

		if ((u->kind != LK_UNIT_INTERPRETER && u->kind != LK_UNIT_PACKAGE) || !u->n_files)
			continue;
		if (!u->version[0]) {
			su->why_not = lk_xstrdup("it has no version; only versioned units are shared");
			continue;
		}
		name = store_dir_name(u);
		for (uint32_t j = 0; j < i && !su->why_not; j++)
			if (share->units[j].dir && !strcmp(strrchr(share->units[j].dir, '/') + 1, name))
				su->why_not = lk_xasprintf("unit %u (%s %s) already has /%s/%s",
							   j + 1, units->units[j].name,
							   units->units[j].version, share->store, name);
		if (!su->why_not) {
			char *root = unit_root(scan, u);

			su->why_not = links_stay_inside(scan, units, i, root);
			if (su->why_not) {
				free(root);
			} else {
				su->root = root;
				su->dir = lk_xasprintf("%s/%s", share->store, name);
				share->n_moved++;
			}
		}
		free(name);
	}
}

/* The last layer holding an app unit, else the last layer. */
static size_t app_layer(const struct lk_unit_table *units, const struct lk_plan *plan)
{
	for (size_t i = plan->n_layers; i-- > 0;)
		for (size_t j = 0; j < plan->layers[i].n_units; j++)
			if (units->units[plan->layers[i].units[j]].kind == LK_UNIT_APP)
				return i;
	return plan->n_layers ? plan->n_layers - 1 : 0;
}

static int layer_entries(struct lk_share *share, const struct lk_scan *scan,
			 const struct lk_unit_table *units, const struct lk_plan *plan,
			 size_t layer, struct lk_error *err)
{
	const struct lk_plan_layer *l = &plan->layers[layer];
	int moved = 0;
	size_t n = 0;
	struct lk_tar_entry *e;

	for (size_t i = 0; i < l->n_files && !moved; i++)
		moved = share->units[units->unit_of_file[l->files[i]]].dir != NULL;
	if (!moved && layer != share->link_layer)
		return LK_OK;
	e = lk_xcalloc(l->n_files + share->n_links + 1, sizeof(*e));
	for (size_t i = 0; i < l->n_files; i++) {
		uint32_t f = l->files[i];

		if (!share->names[f])
			share->names[f] = path_join(share->prefix, scan->files[f].path);
		e[n].name = share->names[f];
		e[n++].file = f;
	}
	for (size_t i = 0; layer == share->link_layer && i < share->n_links; i++) {
		e[n].name = share->links[i].name;
		e[n].file = LK_TAR_LINK;
		e[n++].link_target = share->links[i].target;
	}
	qsort(e, n, sizeof(*e), cmp_entry);
	share->entries[layer] = e;
	share->n_entries[layer] = n;
	for (size_t i = 1; i < n; i++)
		if (!lk_path_cmp(e[i - 1].name, e[i].name))
			return lk_error_set(err, LK_EXIT_BUILD,
					    "internal error: layer '%s' would hold /%s twice with the shared store",
					    l->name, e[i].name);
	return LK_OK;
}

int lk_share_init(struct lk_share *share, const char *store, const char *prefix,
		  const struct lk_scan *scan, const struct lk_unit_table *units,
		  const struct lk_plan *plan, struct lk_error *err)
{
	size_t cap_links = 0;

	memset(share, 0, sizeof(*share));
	share->store = lk_path_normalise(store);
	share->prefix = lk_path_normalise(prefix ? prefix : "");
	if (!share->store || !share->store[0] || !share->prefix)
		return lk_error_set(err, LK_EXIT_USAGE,
				    "shared_store = '%s' is not a directory in the image; use an absolute path without '..', e.g. /opt/layerkit/store",
				    store);
	if (store_check(share, scan, err) != LK_OK)
		return LK_FAILED;
	share->n_units = units->n_units;
	share->units = lk_xcalloc(units->n_units ? units->n_units : 1, sizeof(*share->units));
	share->n_files = scan->n_files;
	share->names = lk_xcalloc(scan->n_files ? scan->n_files : 1, sizeof(*share->names));
	units_place(share, scan, units);

	for (uint32_t i = 0; i < units->n_units; i++) {
		const struct lk_unit *u = &units->units[i];
		struct lk_share_unit *su = &share->units[i];
		size_t lo, hi;

		if (!su->dir)
			continue;
		for (size_t j = 0; j < u->n_files; j++) {
			uint32_t f = u->files[j];

			share->names[f] = path_join(su->dir, path_below(scan->files[f].path, su->root));
		}
		lk_scan_find_below(scan, su->root, &lo, &hi);
		if (su->root[0] && owned_count(units, i, lo, hi) == hi - lo)
			link_add(share, &cap_links, i, su->root);
		else
			links_below(share, &cap_links, scan, units, i, su->root, lo, hi);
	}
	if (share->n_links)
		qsort(share->links, share->n_links, sizeof(*share->links), cmp_link);

	share->n_layers = plan->n_layers;
	share->entries = lk_xcalloc(plan->n_layers ? plan->n_layers : 1, sizeof(*share->entries));
	share->n_entries = lk_xcalloc(plan->n_layers ? plan->n_layers : 1, sizeof(size_t));
	share->link_layer = app_layer(units, plan);
	if (!share->n_moved)
		return LK_OK;
	for (size_t i = 0; i < plan->n_layers; i++)
		if (layer_entries(share, scan, units, plan, i, err) != LK_OK)
			return LK_FAILED;
	return LK_OK;
}

void lk_share_release(struct lk_share *share)
{
	for (size_t i = 0; i < share->n_units; i++) {
		free(share->units[i].dir);
		free(share->units[i].root);
		free(share->units[i].why_not);
	}
	free(share->units);
	for (size_t i = 0; i < share->n_links; i++) {
		free(share->links[i].name);
		free(share->links[i].target);
	}
	free(share->links);
	for (size_t i = 0; i < share->n_layers; i++)
		free(share->entries[i]);
	free(share->entries);
	free(share->n_entries);
	for (size_t i = 0; i < share->n_files; i++)
		free(share->names[i]);
	free(share->names);
	free(share->store);
	free(share->prefix);
	memset(share, 0, sizeof(*share));
}

char *lk_share_image_path(const struct lk_share *share, const struct lk_scan *scan,
			  uint32_t file)
{
	if (file < share->n_files && share->names[file])
		return lk_xstrdup(share->names[file]);
	return path_join(share->prefix, scan->files[file].path);
}
