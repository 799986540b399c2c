/* explain.c - `layerkit plan --explain PATH...`: where a path of an app went, and why. */
#include "explain.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* At most this many paths are named when a query is ambiguous. */
#define AMBIGUOUS_SHOWN 5

/* Whether path is dir or below it ("" holds everything). */
static int path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (!n)
		return 1;
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

/* path relative to dir, which holds it. */
static const char *path_below(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (!n)
		return path;
	return path[n] ? path + n + 1 : path + n;
}

/* The plan layer holding a file (every file of a checked plan has one). */
static size_t layer_of_file(const struct lk_plan *plan, uint32_t file)
{
	for (size_t i = 0; i < plan->n_layers; i++) {
		const struct lk_plan_layer *l = &plan->layers[i];
		size_t a = 0, b = l->n_files;

		/* A checked layer's files are in tree order: ascending indices. */
		while (a < b) {
			size_t mid = a + (b - a) / 2;

			if (l->files[mid] == file)
				return i;
			if (l->files[mid] < file)
				a = mid + 1;
			else
				b = mid;
		}
	}
	return 0;
}

static void file_fill(const struct lk_app_run *run, const struct lk_share *share,
		      uint32_t file, struct lk_explain_item *item)
{
	const struct lk_plan_layer *l;

	item->kind = LK_EXPLAIN_FILE;
	item->file = file;
	item->unit = (uint32_t)run->units.unit_of_file[file];
	item->layer = layer_of_file(&run->plan, file);
	l = &run->plan.layers[item->layer];
	for (size_t j = 0; j < l->n_units; j++)
		if (l->units[j] == item->unit)
			item->unit_reason = l->unit_reasons[j];
	for (size_t j = 0; j < l->n_extra_files; j++)
		item->single_file |= l->extra_files[j] == file;
	if (share) {
		char *at = lk_xasprintf("%s%s%s", share->prefix, share->prefix[0] ? "/" : "",
					run->scan.files[file].path);

		item->image_path = lk_share_image_path(share, &run->scan, file);
		for (size_t i = 0; i < share->n_links; i++)
			if (share->links[i].unit == item->unit && path_under(at, share->links[i].name))
				item->link = &share->links[i];
		free(at);
	} else {
		const char *prefix = run->app->prefix ? run->app->prefix : "";

		item->image_path = lk_xasprintf("%s%s%s", prefix, prefix[0] ? "/" : "",
						run->scan.files[file].path);
	}
}

/* Adds the entries `files` (n of them) to the directory item, by unit and layer. */
static void dir_fill(const struct lk_app_run *run, const uint32_t *files, size_t n,
		     struct lk_explain_item *item)
{
	size_t cap = 0;

	item->kind = LK_EXPLAIN_DIR;
	for (size_t i = 0; i < n; i++) {
		uint32_t f = files[i], u = (uint32_t)run->units.unit_of_file[f];
		size_t layer = layer_of_file(&run->plan, f), g;

		for (g = 0; g < item->n_groups; g++)
			if (item->groups[g].unit == u && item->groups[g].layer == layer)
				break;
		if (g == item->n_groups) {
			lk_grow((void **)&item->groups, &cap, g + 1, sizeof(*item->groups));
			memset(&item->groups[g], 0, sizeof(item->groups[g]));
			item->groups[g].unit = u;
			item->groups[g].layer = layer;
			item->n_groups++;
		}
		item->groups[g].files++;
		item->groups[g].bytes += run->scan.files[f].size;
		item->dir_files++;
		item->dir_bytes += run->scan.files[f].size;
	}
}

/* Tries one tree path; 1 when it names something. */
static int try_tree_path(const struct lk_app_run *run, const struct lk_share *share,
			 const char *path, struct lk_explain_item *item)
{
	const struct lk_scan *scan = &run->scan;
	long f = lk_scan_find(scan, path);
	size_t lo, hi;

	if (f >= 0) {
		item->path = lk_xstrdup(path);
		file_fill(run, share, (uint32_t)f, item);
		return 1;
	}
	lk_scan_find_below(scan, path, &lo, &hi);
	if (hi > lo) {
		uint32_t *files = lk_xmalloc((hi - lo) * sizeof(*files));

		for (size_t i = lo; i < hi; i++)
			files[i - lo] = (uint32_t)i;
		item->path = lk_xstrdup(path);
		dir_fill(run, files, hi - lo, item);
		free(files);
		return 1;
	}
	for (size_t i = 0; i < scan->n_excluded; i++) {
		struct lk_scan_opts o = {
			.excludes = (const char *const *)run->app->exclude.items,
			.n_excludes = run->app->exclude.n,
		};

		if (!path_under(path, scan->excluded[i]))
			continue;
		item->kind = LK_EXPLAIN_EXCLUDED;
		item->path = lk_xstrdup(path);
		item->dropped = lk_xstrdup(scan->excluded[i]);
		item->pattern = lk_scan_exclude_pattern(&o, scan->excluded[i], 0);
		if (!item->pattern)
			item->pattern = lk_scan_exclude_pattern(&o, scan->excluded[i], 1);
		return 1;
	}
	for (size_t i = 0; i < scan->n_skipped; i++) {
		if (!path_under(path, scan->skipped[i]))
			continue;
		item->kind = LK_EXPLAIN_SKIPPED;
		item->path = lk_xstrdup(path);
		item->dropped = lk_xstrdup(scan->skipped[i]);
		return 1;
	}
	return 0;
}

/* An image path inside the shared store: the moved files there. */
static int try_store_path(const struct lk_app_run *run, const struct lk_share *share,
			  const char *path, struct lk_explain_item *item)
{
	uint32_t *files = NULL;
	size_t n = 0;

	if (!share || !path_under(path, share->store))
		return 0;
	for (size_t f = 0; f < share->n_files; f++) {
		if (!share->names[f] || !path_under(share->names[f], path))
			continue;
		if (!strcmp(share->names[f], path)) {
			free(files);
			item->path = lk_xstrdup(run->scan.files[f].path);
			file_fill(run, share, (uint32_t)f, item);
			return 1;
		}
		files = lk_xrealloc(files, (n + 1) * sizeof(*files));
		files[n++] = (uint32_t)f;
	}
	if (n) {
		/* Named by the tree path it came from: below one unit's root. */
		const struct lk_share_unit *su = &share->units[run->units.unit_of_file[files[0]]];

		item->path = path_under(path, su->dir) ?
			     lk_xasprintf("%s%s%s", su->root, su->root[0] && path_below(path, su->dir)[0] ?
					  "/" : "", path_below(path, su->dir)) :
			     lk_xstrdup(path);
		dir_fill(run, files, n, item);
	}
	free(files);
	return n > 0;
}

/*
 * The unique tree path that ends with "/" + query, as a file or as a
 * directory above files.  0 when none; -1 with err when several.
 */
static int try_suffix(const struct lk_app_run *run, const struct lk_share *share,
		      const char *query, struct lk_explain_item *item, struct lk_error *err)
{
	const struct lk_scan *scan = &run->scan;
	size_t qlen = strlen(query), n_matches = 0;
	char *matches[AMBIGUOUS_SHOWN + 1];
	char shown[1024] = "";
	size_t used = 0;
	int rc;

	if (!qlen)
		return 0;
	for (size_t i = 0; i < scan->n_files && n_matches <= AMBIGUOUS_SHOWN; i++) {
		const char *p = scan->files[i].path;

		/* Every place "/" + query ends a component of p. */
		for (const char *s = strstr(p, query); s; s = strstr(s + 1, query)) {
			size_t at = (size_t)(s - p);
			char *m;
			int dup = 0;

			if (at == 0 || p[at - 1] != '/' || (s[qlen] != '\0' && s[qlen] != '/'))
				continue;
			m = lk_xasprintf("%.*s", (int)(at + qlen), p);
			for (size_t j = 0; j < n_matches; j++)
				dup |= !strcmp(matches[j], m);
			if (dup || n_matches > AMBIGUOUS_SHOWN) {
				free(m);
				continue;
			}
			matches[n_matches++] = m;
		}
	}
	if (n_matches == 1) {
		rc = try_tree_path(run, share, matches[0], item);
		free(matches[0]);
		return rc;
	}
	for (size_t j = 0; j < n_matches && j < AMBIGUOUS_SHOWN; j++)
		used += (size_t)snprintf(shown + used, sizeof(shown) > used ? sizeof(shown) - used : 0,
					 "%s%s", j ? ", " : "", matches[j]);
	rc = 0;
	if (n_matches > 1) {
		lk_error_set(err, LK_EXIT_USAGE,
			     "'%s' is ambiguous in app '%s': it ends %s%s; give more of the path",
			     query, run->app->name, shown, n_matches > AMBIGUOUS_SHOWN ? ", ..." : "");
		rc = -1;
	}
	for (size_t j = 0; j < n_matches; j++)
		free(matches[j]);
	return rc;
}

/* "a//b/./c/" -> "a/b/c"; NULL when a component is "..". */
static char *normalise(const char *p)
{
	return lk_path_normalise(p);
}

/* A path of the file system, absolute, without '.' or '..' (lexically). */
static char *absolute(const char *path)
{
	char cwd[PATH_MAX];
	char *joined, *out;

	if (path[0] == '/')
		return normalise(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	joined = lk_xasprintf("%s/%s", cwd, path);
	out = normalise(joined);
	free(joined);
	return out;
}

int lk_explain_path(const struct lk_app_run *run, const struct lk_share *share,
		    const char *query, struct lk_explain_item *item, struct lk_error *err)
{
	const char *prefix = run->app->prefix ? run->app->prefix : "";
	char *q = normalise(query), *abs = absolute(query), *root = normalise(run->scan.root);
	int found = 0, rc;

	memset(item, 0, sizeof(*item));
	item->query = lk_xstrdup(query);
	if (q && query[0] == '/')
		found = try_store_path(run, share, q, item) ||
			(path_under(q, prefix) && try_tree_path(run, share, path_below(q, prefix), item));
	if (!found && q && query[0] != '/')
		found = try_tree_path(run, share, q, item) ||
			try_store_path(run, share, q, item) ||
			(*prefix && path_under(q, prefix) &&
			 try_tree_path(run, share, path_below(q, prefix), item));
	/* A path of the file system below the scanned root. */
	if (!found && abs && root && path_under(abs, root))
		found = try_tree_path(run, share, path_below(abs, root), item);
	if (!found && q && query[0] != '/') {
		rc = try_suffix(run, share, q, item, err);
		if (rc < 0)
			goto out_free;
		found = rc;
	}
	rc = LK_OK;
	if (!found)
		rc = lk_error_set(err, LK_EXIT_USAGE,
				  "'%s' is not in app '%s' (scanned %s, %zu files); give a path relative to that directory, or as it is in the image (/%s%s...)",
				  query, run->app->name, run->scan.root, run->scan.n_files, prefix,
				  *prefix ? "/" : "");
out_free:
	free(q);
	free(abs);
	free(root);
	if (rc != LK_OK)
		lk_explain_item_release(item);
	return rc == LK_OK ? LK_OK : LK_FAILED;
}

void lk_explain_item_release(struct lk_explain_item *item)
{
	free(item->query);
	free(item->path);
	free(item->image_path);
	free(item->groups);
	free(item->dropped);
	memset(item, 0, sizeof(*item));
}

static const char *type_name(uint32_t type)
{
	switch (type) {
	case LK_FILE_SYMLINK:
		return "symlink";
	case LK_FILE_DIR:
		return "empty directory";
	default:
		return "regular file";
	}
}

/* "package fastapi 0.110.0" */
static void unit_words(const struct lk_unit *u, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s%s%s", lk_unit_kind_name(u->kind), u->name,
		 u->version[0] ? " " : "", u->version);
}

/* What the shared store did with the item's unit, as a line, or "". */
static void store_words(const struct lk_share *share, const struct lk_explain_item *item,
			char *buf, size_t len)
{
	const struct lk_share_unit *su;

	buf[0] = '\0';
	if (!share)
		return;
	su = &share->units[item->unit];
	if (su->dir && item->link)
		snprintf(buf, len, "moved to /%s; the app reaches it through /%s -> %s", su->dir,
			 item->link->name, item->link->target);
	else if (su->why_not)
		snprintf(buf, len, "stays in place: %s", su->why_not);
}

void lk_explain_print(FILE *out, const struct lk_app_run *run, const struct lk_share *share,
		      const struct lk_explain_item *item)
{
	const struct lk_plan *plan = &run->plan;
	char hb[32], hb2[32], words[512], store[1536];

	if (strcmp(item->query, item->path))
		fprintf(out, "%s (%s)\n", item->query, item->path[0] ? item->path : "the root");
	else
		fprintf(out, "%s\n", item->path);
	switch (item->kind) {
	case LK_EXPLAIN_FILE: {
		const struct lk_file *f = &run->scan.files[item->file];
		const struct lk_unit *u = &run->units.units[item->unit];
		const struct lk_plan_layer *l = &plan->layers[item->layer];

		unit_words(u, words, sizeof(words));
		fprintf(out, "  file    %s, %s, at /%s in the image\n", type_name(f->type),
			lk_human_bytes(f->size, hb, sizeof(hb)), item->image_path);
		fprintf(out, "  unit    %s (%zu files, %s)\n", words, u->n_files,
			lk_human_bytes(u->bytes, hb, sizeof(hb)));
		fprintf(out, "  origin  %s\n", u->origin);
		fprintf(out, "  layer   %zu/%zu %s (%zu files, %s)%s%s\n", item->layer + 1,
			plan->n_layers, l->name, l->n_files, lk_human_bytes(l->bytes, hb2, sizeof(hb2)),
			l->reason && *l->reason ? ": " : "", l->reason ? l->reason : "");
		if (item->single_file)
			fprintf(out, "  reason  the strategy placed this file by itself, apart from its unit\n");
		else
			fprintf(out, "  reason  %s\n", item->unit_reason && *item->unit_reason ?
				item->unit_reason : "(the strategy gave none)");
		store_words(share, item, store, sizeof(store));
		if (store[0])
			fprintf(out, "  store   %s\n", store);
		break;
	}
	case LK_EXPLAIN_DIR:
		fprintf(out, "  directory  %zu file%s, %s, from %zu unit/layer pair%s\n", item->dir_files,
			item->dir_files == 1 ? "" : "s",
			lk_human_bytes(item->dir_bytes, hb, sizeof(hb)), item->n_groups,
			item->n_groups == 1 ? "" : "s");
		for (size_t g = 0; g < item->n_groups; g++) {
			const struct lk_explain_group *gr = &item->groups[g];
			const struct lk_plan_layer *l = &plan->layers[gr->layer];
			const char *reason = NULL;

			for (size_t j = 0; j < l->n_units; j++)
				if (l->units[j] == gr->unit)
					reason = l->unit_reasons[j];
			unit_words(&run->units.units[gr->unit], words, sizeof(words));
			fprintf(out, "  %s: %zu file%s, %s in layer %zu/%zu %s%s%s\n", words, gr->files,
				gr->files == 1 ? "" : "s",
				lk_human_bytes(gr->bytes, hb, sizeof(hb)), gr->layer + 1, plan->n_layers,
				l->name, reason && *reason ? ": " : "", reason ? reason : "");
		}
		break;
	case LK_EXPLAIN_EXCLUDED:
		if (item->pattern)
			fprintf(out, "  excluded  '%s' matches the exclude pattern '%s'; it is not in the image\n",
				item->dropped, item->pattern);
		else
			fprintf(out, "  excluded  '%s' was excluded; it is not in the image\n", item->dropped);
		break;
	case LK_EXPLAIN_SKIPPED:
		fprintf(out, "  skipped  the scan skipped '%s' (a special file or a bad link: see the warning `layerkit plan` prints); it is not in the image\n",
			item->dropped);
		break;
	}
}

static json_t *unit_object(const struct lk_unit *u)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "name", u->name,
			 "version", u->version, "kind", lk_unit_kind_name(u->kind),
			 "origin", u->origin, "files", (json_int_t)u->n_files,
			 "bytes", (json_int_t)u->bytes);
}

static json_t *layer_object(const struct lk_plan *plan, size_t layer)
{
	const struct lk_plan_layer *l = &plan->layers[layer];

	return json_pack("{s:I, s:I, s:s, s:s, s:I, s:I}", "index", (json_int_t)layer + 1,
			 "of", (json_int_t)plan->n_layers, "name", l->name,
			 "reason", l->reason ? l->reason : "", "files", (json_int_t)l->n_files,
			 "bytes", (json_int_t)l->bytes);
}

json_t *lk_explain_json(const struct lk_app_run *run, const struct lk_share *share,
			const struct lk_explain_item *item)
{
	static const char *const kinds[] = { "file", "directory", "excluded", "skipped" };
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "app", run->app->name, "query", item->query,
			      "path", item->path, "kind", kinds[item->kind]);

	switch (item->kind) {
	case LK_EXPLAIN_FILE: {
		const struct lk_file *f = &run->scan.files[item->file];
		const struct lk_share_unit *su = share ? &share->units[item->unit] : NULL;

		json_object_set_new(o, "type", json_string(type_name(f->type)));
		json_object_set_new(o, "bytes", json_integer((json_int_t)f->size));
		json_object_set_new(o, "image_path", json_sprintf("/%s", item->image_path));
		json_object_set_new(o, "unit", unit_object(&run->units.units[item->unit]));
		json_object_set_new(o, "layer", layer_object(&run->plan, item->layer));
		json_object_set_new(o, "reason", item->single_file ?
				    json_string("the strategy placed this file by itself") :
				    json_string(item->unit_reason ? item->unit_reason : ""));
		if (su && su->dir && item->link)
			json_object_set_new(o, "shared_store", json_pack("{s:s, s:s, s:s}",
				"dir", su->dir, "link", item->link->name,
				"target", item->link->target));
		else if (su && su->why_not)
			json_object_set_new(o, "shared_store", json_pack("{s:s}", "stays",
									 su->why_not));
		break;
	}
	case LK_EXPLAIN_DIR: {
		json_t *groups = json_array();

		for (size_t g = 0; g < item->n_groups; g++) {
			const struct lk_explain_group *gr = &item->groups[g];
			const struct lk_plan_layer *l = &run->plan.layers[gr->layer];
			const char *reason = NULL;

			for (size_t j = 0; j < l->n_units; j++)
				if (l->units[j] == gr->unit)
					reason = l->unit_reasons[j];
			json_array_append_new(groups, json_pack("{s:o, s:o, s:s, s:I, s:I}",
				"unit", unit_object(&run->units.units[gr->unit]),
				"layer", layer_object(&run->plan, gr->layer),
				"reason", reason ? reason : "",
				"files", (json_int_t)gr->files, "bytes", (json_int_t)gr->bytes));
		}
		json_object_set_new(o, "files", json_integer((json_int_t)item->dir_files));
		json_object_set_new(o, "bytes", json_integer((json_int_t)item->dir_bytes));
		json_object_set_new(o, "groups", groups);
		break;
	}
	case LK_EXPLAIN_EXCLUDED:
		json_object_set_new(o, "excluded", json_string(item->dropped));
		json_object_set_new(o, "pattern", item->pattern ? json_string(item->pattern) :
				    json_null());
		break;
	case LK_EXPLAIN_SKIPPED:
		json_object_set_new(o, "skipped", json_string(item->dropped));
		break;
	}
	return o;
}
