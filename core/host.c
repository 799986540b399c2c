/* host.c - the services table plugins call, and running a plugin's operation. */
#include "loader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What one plugin call may touch; the host's side of struct lk_ctx. */
struct lk_ctx {
	const struct lk_plugin *plugin;
	const struct lk_options *opts;
	const struct lk_scan *scan;
	struct lk_unit_table *units;	/* discovery: being built; strategy: read */
	struct lk_plan *plan;		/* strategy: being built */
	char error[2048];
	int has_error;
	/* locate() results */
	char *scan_root;
	struct lk_string_list top_entries;
};

static void host_log(struct lk_ctx *ctx, int level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	lk_log(level, "%s %s: %s", lk_plugin_kind_name(ctx->plugin->kind), ctx->plugin->name, msg);
}

static void host_set_error(struct lk_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->error, sizeof(ctx->error), fmt, ap);
	va_end(ap);
	ctx->has_error = 1;
}

static const struct lk_option_value *find_opt(struct lk_ctx *ctx, const char *key, uint32_t type)
{
	for (size_t i = 0; ctx->opts && i < ctx->opts->n; i++) {
		const struct lk_option_value *v = &ctx->opts->values[i];

		if (!strcmp(v->spec->key, key))
			return v->spec->type == type || type == (uint32_t)-1 ? v : NULL;
	}
	return NULL;
}

static const char *host_opt_string(struct lk_ctx *ctx, const char *key)
{
	const struct lk_option_value *v = find_opt(ctx, key, (uint32_t)-1);

	return v ? v->text : NULL;
}

static int64_t host_opt_int(struct lk_ctx *ctx, const char *key)
{
	const struct lk_option_value *v = find_opt(ctx, key, LK_OPT_INT);

	return v && v->text ? v->int_value : 0;
}

static int host_opt_bool(struct lk_ctx *ctx, const char *key)
{
	const struct lk_option_value *v = find_opt(ctx, key, LK_OPT_BOOL);

	return v && v->text ? v->bool_value : 0;
}

static uint64_t host_opt_size(struct lk_ctx *ctx, const char *key)
{
	const struct lk_option_value *v = find_opt(ctx, key, LK_OPT_SIZE);

	return v && v->text ? v->size_value : 0;
}

static size_t host_opt_list_count(struct lk_ctx *ctx, const char *key)
{
	const struct lk_option_value *v = find_opt(ctx, key, LK_OPT_LIST);

	return v && v->text ? v->list.n : 0;
}

static const char *host_opt_list_item(struct lk_ctx *ctx, const char *key, size_t i)
{
	const struct lk_option_value *v = find_opt(ctx, key, LK_OPT_LIST);

	return v && v->text && i < v->list.n ? v->list.items[i] : NULL;
}

static long host_find_file(struct lk_ctx *ctx, const char *path)
{
	return ctx->scan && path ? lk_scan_find(ctx->scan, path) : -1;
}

static int host_read_file(struct lk_ctx *ctx, uint32_t index, size_t max_bytes,
			  char **buf, size_t *len)
{
	const struct lk_file *f;
	struct stat st;
	size_t got = 0;
	char *data;
	int fd;

	*buf = NULL;
	*len = 0;
	if (!ctx->scan || index >= ctx->scan->n_files) {
		host_set_error(ctx, "read_file: no file with index %u", index);
		return LK_FAILED;
	}
	f = &ctx->scan->files[index];
	if (f->type != LK_FILE_REGULAR) {
		host_set_error(ctx, "read_file: %s is not a regular file", f->path);
		return LK_FAILED;
	}
	fd = lk_scan_open(ctx->scan, index);
	if (fd < 0) {
		host_set_error(ctx, "cannot open %s/%s: %s", ctx->scan->root, f->path,
			       strerror(errno));
		return LK_FAILED;
	}
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size > max_bytes) {
		host_set_error(ctx, "%s/%s is larger than the %zu bytes allowed here",
			       ctx->scan->root, f->path, max_bytes);
		close(fd);
		return LK_FAILED;
	}
	data = lk_xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			host_set_error(ctx, "cannot read %s/%s: %s", ctx->scan->root, f->path,
				       n < 0 ? strerror(errno) : "file shrank while reading");
			free(data);
			close(fd);
			return LK_FAILED;
		}
		got += (size_t)n;
	}
	close(fd);
	data[got] = '\0';
	*buf = data;
	*len = got;
	return LK_OK;
}

static void host_free_buffer(struct lk_ctx *ctx, char *buf)
{
	free(buf);
}

static int host_unit_add(struct lk_ctx *ctx, uint32_t kind, const char *name,
			 const char *version, const char *origin)
{
	if (!ctx->units || ctx->plan) {
		host_set_error(ctx, "unit_add is for discovery plugins only");
		return LK_FAILED;
	}
	if (kind >= LK_UNIT_KIND_COUNT || !name || !*name) {
		host_set_error(ctx, "unit_add: invalid kind %u or empty name", kind);
		return LK_FAILED;
	}
	return lk_unit_table_add(ctx->units, kind, name, version ? version : "",
				 origin ? origin : "");
}

static int host_unit_claim(struct lk_ctx *ctx, int unit, uint32_t file)
{
	if (!ctx->units || ctx->plan || !ctx->scan) {
		host_set_error(ctx, "unit_claim is for discovery plugins only");
		return LK_FAILED;
	}
	if (unit < 0 || (size_t)unit >= ctx->units->n_units || file >= ctx->scan->n_files) {
		host_set_error(ctx, "unit_claim: no unit %d or no file %u", unit, file);
		return LK_FAILED;
	}
	if (lk_unit_table_claim(ctx->units, unit, file, ctx->scan->files[file].size) != LK_OK) {
		int32_t owner = ctx->units->unit_of_file[file];

		host_set_error(ctx, "file '%s' claimed by unit '%s' and again by unit '%s'",
			       ctx->scan->files[file].path,
			       owner >= 0 ? ctx->units->units[owner].name : "?",
			       ctx->units->units[unit].name);
		return LK_FAILED;
	}
	return LK_OK;
}

static int host_unit_of(struct lk_ctx *ctx, uint32_t file)
{
	if (!ctx->units || file >= ctx->units->n_files)
		return -1;
	return ctx->units->unit_of_file[file];
}

static int host_layer_add(struct lk_ctx *ctx, const char *name, const char *reason)
{
	if (!ctx->plan) {
		host_set_error(ctx, "layer_add is for strategy plugins only");
		return LK_FAILED;
	}
	if (!name || !*name) {
		host_set_error(ctx, "layer_add: a layer needs a name");
		return LK_FAILED;
	}
	return lk_plan_add_layer(ctx->plan, name, reason);
}

static int host_layer_add_unit(struct lk_ctx *ctx, int layer, uint32_t unit, const char *reason)
{
	if (!ctx->plan) {
		host_set_error(ctx, "layer_add_unit is for strategy plugins only");
		return LK_FAILED;
	}
	if (layer < 0 || (size_t)layer >= ctx->plan->n_layers) {
		host_set_error(ctx, "layer_add_unit: no layer %d", layer);
		return LK_FAILED;
	}
	return lk_plan_add_unit(ctx->plan, layer, unit, reason);
}

static int host_layer_add_file(struct lk_ctx *ctx, int layer, uint32_t file)
{
	if (!ctx->plan) {
		host_set_error(ctx, "layer_add_file is for strategy plugins only");
		return LK_FAILED;
	}
	if (layer < 0 || (size_t)layer >= ctx->plan->n_layers) {
		host_set_error(ctx, "layer_add_file: no layer %d", layer);
		return LK_FAILED;
	}
	return lk_plan_add_file(ctx->plan, layer, file);
}

static const struct lk_host lk_host_services = {
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

/* Turns a plugin's failure into the caller's error, naming the plugin. */
static int plugin_failed(struct lk_ctx *ctx, const char *op, int rc, struct lk_error *err)
{
	const struct lk_plugin *p = ctx->plugin;

	return lk_error_set(err, LK_EXIT_BUILD, "%s '%s' (%s) failed in %s (code %d): %s",
			    lk_plugin_kind_name(p->kind), p->name, p->path, op, rc,
			    ctx->has_error ? ctx->error : "it gave no reason");
}

static void locate_set_scan_root(struct lk_ctx *ctx, const char *dir)
{
	free(ctx->scan_root);
	ctx->scan_root = lk_xstrdup(dir);
}

static void locate_add_top_entry(struct lk_ctx *ctx, const char *name)
{
	lk_string_list_push(&ctx->top_entries, name);
}

static void ctx_release(struct lk_ctx *ctx)
{
	free(ctx->scan_root);
	lk_string_list_release(&ctx->top_entries);
}

int lk_run_discovery(const struct lk_plugin *plugin, const struct lk_options *opts,
		     const char *root, const struct lk_scan_opts *scan_opts,
		     struct lk_scan *scan, struct lk_unit_table *units,
		     struct lk_error *err)
{
	const struct lk_discovery *d = plugin->discovery;
	struct lk_ctx ctx = { .plugin = plugin, .opts = opts };
	struct lk_scan_opts sopts = *scan_opts;
	void *state = NULL;
	int rc;

	memset(scan, 0, sizeof(*scan));
	memset(units, 0, sizeof(*units));
	if (d->init) {
		rc = d->init(&lk_host_services, &ctx, &state);
		if (rc != LK_OK && rc != LK_WARN) {
			plugin_failed(&ctx, "init", rc, err);
			goto out_ctx;
		}
	}
	if (d->locate) {
		rc = d->locate(&lk_host_services, &ctx, state, root, locate_set_scan_root,
			       locate_add_top_entry);
		if (rc != LK_OK && rc != LK_WARN) {
			plugin_failed(&ctx, "locate", rc, err);
			goto out_release_state;
		}
	}
	if (ctx.top_entries.n) {
		sopts.top_entries = (const char *const *)ctx.top_entries.items;
		sopts.n_top_entries = ctx.top_entries.n;
	}
	rc = lk_scan_tree(ctx.scan_root ? ctx.scan_root : root, &sopts, scan, err);
	if (rc != LK_OK)
		goto out_release_state;
	ctx.scan = scan;
	lk_unit_table_init(units, scan->n_files);
	ctx.units = units;
	rc = d->discover(&lk_host_services, &ctx, state, &scan->tree);
	if (rc != LK_OK && rc != LK_WARN) {
		plugin_failed(&ctx, "discover", rc, err);
		goto out_release_units;
	}
	for (size_t i = 0; i < scan->n_files; i++) {
		if (units->unit_of_file[i] < 0) {
			lk_error_set(err, LK_EXIT_BUILD,
				"discovery '%s' (%s) left '%s' in no unit; every file must belong to "
				"one unit (a bug in the plugin)", plugin->name, plugin->path,
				scan->files[i].path);
			rc = LK_FAILED;
			goto out_release_units;
		}
	}
	if (d->release)
		d->release(state);
	ctx_release(&ctx);
	return LK_OK;

out_release_units:
	lk_unit_table_release(units);
	lk_scan_release(scan);
out_release_state:
	if (d->release)
		d->release(state);
out_ctx:
	ctx_release(&ctx);
	return LK_FAILED;
}

int lk_run_strategy(const struct lk_plugin *plugin, const struct lk_options *opts,
		    const struct lk_scan *scan, const struct lk_unit_table *units,
		    uint32_t max_layers, struct lk_plan *plan, struct lk_error *err)
{
	const struct lk_strategy *s = plugin->strategy;
	struct lk_ctx ctx = { .plugin = plugin, .opts = opts, .scan = scan,
			      .units = (struct lk_unit_table *)units, .plan = plan };
	struct lk_unit_set set = {
		.struct_size = sizeof(set),
		.tree = &scan->tree,
		.n_units = units->n_units,
		.units = units->units,
		.max_layers = max_layers,
	};
	void *state = NULL;
	int rc;

	lk_plan_init(plan, plugin->name);
	if (s->init) {
		rc = s->init(&lk_host_services, &ctx, &state);
		if (rc != LK_OK && rc != LK_WARN) {
			plugin_failed(&ctx, "init", rc, err);
			goto out_plan;
		}
	}
	rc = s->plan(&lk_host_services, &ctx, state, &set);
	if (s->release)
		s->release(state);
	if (rc != LK_OK && rc != LK_WARN) {
		plugin_failed(&ctx, "plan", rc, err);
		goto out_plan;
	}
	rc = lk_plan_check(plan, units, &scan->tree, max_layers, err);
	if (rc != LK_OK) {
		lk_error_prefix(err, "%s", plugin->path);
		goto out_plan;
	}
	ctx_release(&ctx);
	return LK_OK;

out_plan:
	lk_plan_release(plan);
	ctx_release(&ctx);
	return LK_FAILED;
}
