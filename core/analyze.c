/* analyze.c - `layerkit analyze`: every installed strategy's plan of one app, measured without building. */
#include "analyze.h"

#include <stdlib.h>
#include <string.h>

#define TAR_BLOCK 512u
/* ustar's fields: name 100, prefix 155, linkname 100; size below 8 GiB. */
#define USTAR_NAME 100u
#define USTAR_PREFIX 155u
#define USTAR_SIZE_LIMIT (1ull << 33)

static uint64_t blocks(uint64_t bytes)
{
	return (bytes + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
}

static int has_non_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/* Whether s is valid UTF-8 (else libarchive marks the header BINARY). */
static int valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 :
			(*p & 0xf8) == 0xf0 ? 3 : -1;

		if (n < 0)
			return 0;
		p++;
		for (int i = 0; i < n; i++, p++)
			if ((*p & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

/* Bytes of one PAX record "LEN key=value\n", LEN counting its own digits. */
static uint64_t pax_record(const char *key, uint64_t value_len)
{
	uint64_t body = strlen(key) + value_len + 3, len = body, digits;

	for (;;) {
		uint64_t want = body;

		digits = 1;
		for (uint64_t v = len; v >= 10; v /= 10)
			digits++;
		want += digits;
		if (want == len)
			return len;
		len = want;
	}
}

/* Whether a name fits ustar: all ASCII, and up to 100 bytes or split at a
 * '/' into a prefix of up to 155 and a non-empty name of up to 100 (the
 * test libarchive's pax writer makes). */
static int ustar_name_fits(const char *name)
{
	size_t len = strlen(name);
	const char *suffix;

	if (has_non_ascii(name))
		return 0;
	if (len <= USTAR_NAME)
		return 1;
	suffix = strchr(name + len - USTAR_NAME - 1, '/');
	if (suffix == name)
		suffix = strchr(suffix + 1, '/');
	return suffix && suffix[1] && (size_t)(suffix - name) <= USTAR_PREFIX;
}

/* One entry: its header, a PAX header when needed, and its content. */
static uint64_t entry_bytes(const char *name, const char *link, uint64_t size)
{
	uint64_t records = 0;

	if (!ustar_name_fits(name)) {
		records += pax_record("path", strlen(name));
		if (!valid_utf8(name))
			records += pax_record("hdrcharset", strlen("BINARY"));
	}
	if (link && (strlen(link) > USTAR_NAME || has_non_ascii(link)))
		records += pax_record("linkpath", strlen(link));
	if (size >= USTAR_SIZE_LIMIT) {
		char digits[32];

		records += pax_record("size", (uint64_t)snprintf(digits, sizeof(digits), "%llu",
								 (unsigned long long)size));
	}
	return TAR_BLOCK + (records ? TAR_BLOCK + blocks(records) : 0) + blocks(size);
}

/* A directory entry: libarchive stores its name with a trailing '/'. */
static uint64_t dir_entry_bytes(const char *name, size_t len)
{
	char *slashed = lk_xasprintf("%.*s/", (int)len, name);
	uint64_t n = entry_bytes(slashed, NULL, 0);

	free(slashed);
	return n;
}

/*
 * The parent directories tar.c emits before name (see its parents_emit):
 * those not shared with the current directory, which becomes name's.
 */
static uint64_t parents_bytes(char **current, const char *name)
{
	const char *slash = strrchr(name, '/');
	size_t len = slash ? (size_t)(slash - name) : 0, cur = strlen(*current), common = 0;
	uint64_t n = 0;

	while (common < len && common < cur && name[common] == (*current)[common])
		common++;
	if (!((common == len || name[common] == '/') && (common == cur || (*current)[common] == '/')))
		while (common > 0 && name[common - 1] != '/')
			common--;
	for (size_t j = common + 1; j <= len; j++)
		if (j == len || name[j] == '/')
			n += dir_entry_bytes(name, j);
	free(*current);
	*current = lk_xasprintf("%.*s", (int)len, name);
	return n;
}

struct inode_first {
	uint64_t dev, ino;
	uint32_t file;
};

static int cmp_inode(const void *pa, const void *pb)
{
	const struct inode_first *a = pa, *b = pb;

	if (a->dev != b->dev)
		return a->dev < b->dev ? -1 : 1;
	if (a->ino != b->ino)
		return a->ino < b->ino ? -1 : 1;
	return a->file < b->file ? -1 : a->file > b->file;
}

/* The earliest file of the layer with this inode (tar.c stores it, the
 * others link to it), or NULL. */
static const struct inode_first *inode_first_find(const struct inode_first *v, size_t n,
						  uint64_t dev, uint64_t ino)
{
	size_t a = 0, b = n;

	while (a < b) {
		size_t mid = a + (b - a) / 2;

		if (v[mid].dev < dev || (v[mid].dev == dev && v[mid].ino < ino))
			a = mid + 1;
		else
			b = mid;
	}
	return a < n && v[a].dev == dev && v[a].ino == ino ? &v[a] : NULL;
}

uint64_t lk_analyze_layer_tar_bytes(const struct lk_scan *scan, const uint32_t *files,
				    size_t n_files, const char *prefix)
{
	struct inode_first *inodes = lk_xcalloc(n_files + 1, sizeof(*inodes));
	char *current = lk_xstrdup("");
	uint64_t total = 2 * TAR_BLOCK;	/* the end-of-archive blocks */
	size_t n_inodes = 0;

	/* Regular files sharing an inode: all but the first are hard links. */
	for (size_t i = 0; scan->stats && i < n_files; i++) {
		const struct lk_file_stat *st = &scan->stats[files[i]];

		if (scan->files[files[i]].type == LK_FILE_REGULAR && st->ino) {
			inodes[n_inodes].dev = st->dev;
			inodes[n_inodes].ino = st->ino;
			inodes[n_inodes++].file = files[i];
		}
	}
	qsort(inodes, n_inodes, sizeof(*inodes), cmp_inode);
	for (size_t i = 0; i < n_files; i++) {
		const struct lk_file *f = &scan->files[files[i]];
		char *name = *prefix ? lk_xasprintf("%s/%s", prefix, f->path) : lk_xstrdup(f->path);

		total += parents_bytes(&current, name);
		if (f->type == LK_FILE_DIR) {
			total += dir_entry_bytes(name, strlen(name));
			free(current);
			current = lk_xstrdup(name);
		} else if (f->type == LK_FILE_SYMLINK) {
			total += entry_bytes(name, f->link_target, 0);
		} else {
			const struct lk_file_stat *st = scan->stats ? &scan->stats[files[i]] : NULL;
			const struct inode_first *first = NULL;
			char *target = NULL;

			if (st && st->ino)
				first = inode_first_find(inodes, n_inodes, st->dev, st->ino);
			if (first && first->file != files[i]) {
				const char *tp = scan->files[first->file].path;

				target = *prefix ? lk_xasprintf("%s/%s", prefix, tp) : lk_xstrdup(tp);
				total += entry_bytes(name, target, 0);
			} else {
				total += entry_bytes(name, NULL, f->size);
			}
			free(target);
		}
		free(name);
	}
	free(current);
	free(inodes);
	return total;
}

uint64_t lk_analyze_median(const uint64_t *sorted, size_t n)
{
	if (!n)
		return 0;
	if (n % 2)
		return sorted[n / 2];
	/* Sorted, so the difference is never negative (and the sum never overflows). */
	return sorted[n / 2 - 1] + (sorted[n / 2] - sorted[n / 2 - 1]) / 2;
}

static int cmp_u64(const void *pa, const void *pb)
{
	uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;

	return a < b ? -1 : a > b;
}

/* Adds layer to the distinct list (at most n_layers entries). */
static void layer_set_add(size_t *set, size_t *n, size_t layer)
{
	for (size_t i = 0; i < *n; i++)
		if (set[i] == layer)
			return;
	set[(*n)++] = layer;
}

void lk_analyze_plan_measure(struct lk_analyze_plan *m, const struct lk_scan *scan,
			     const struct lk_unit_table *units, const struct lk_plan *plan,
			     const char *prefix)
{
	size_t *layer_of = lk_xcalloc(scan->n_files + 1, sizeof(*layer_of));
	uint64_t *layer_bytes = lk_xcalloc(plan->n_layers + 1, sizeof(*layer_bytes));
	uint64_t *bumps = lk_xcalloc(units->n_units + 1, sizeof(*bumps));
	size_t *set = lk_xcalloc(plan->n_layers + 1, sizeof(*set));
	size_t n_set, n_app = 0;
	size_t *app_set = lk_xcalloc(plan->n_layers + 1, sizeof(*app_set));
	uint64_t max_unit_bytes = 0;

	m->n_layers = plan->n_layers;
	m->tar_bytes = 0;
	for (size_t i = 0; i < plan->n_layers; i++) {
		const struct lk_plan_layer *l = &plan->layers[i];

		for (size_t j = 0; j < l->n_files; j++)
			layer_of[l->files[j]] = i;
		layer_bytes[i] = lk_analyze_layer_tar_bytes(scan, l->files, l->n_files, prefix);
		m->tar_bytes += layer_bytes[i];
	}
	m->n_packages = 0;
	m->bump_max = 0;
	m->bump_layers_max = 0;
	free(m->bump_max_package);
	m->bump_max_package = NULL;
	for (size_t u = 0; u < units->n_units; u++) {
		const struct lk_unit *unit = &units->units[u];
		uint64_t bytes = 0;

		n_set = 0;
		for (size_t j = 0; j < unit->n_files; j++)
			layer_set_add(unit->kind == LK_UNIT_APP ? app_set : set,
				      unit->kind == LK_UNIT_APP ? &n_app : &n_set,
				      layer_of[unit->files[j]]);
		if (unit->kind != LK_UNIT_PACKAGE)
			continue;
		for (size_t k = 0; k < n_set; k++)
			bytes += layer_bytes[set[k]];
		bumps[m->n_packages++] = bytes;
		/* Of packages that cost the same, name the biggest. */
		if (bytes > m->bump_max || !m->bump_max_package ||
		    (bytes == m->bump_max && unit->bytes > max_unit_bytes)) {
			m->bump_max = bytes;
			max_unit_bytes = unit->bytes;
			free(m->bump_max_package);
			m->bump_max_package = lk_xstrdup(unit->name);
		}
		if (n_set > m->bump_layers_max)
			m->bump_layers_max = n_set;
	}
	qsort(bumps, m->n_packages, sizeof(*bumps), cmp_u64);
	m->bump_median = lk_analyze_median(bumps, m->n_packages);
	m->app_bytes = 0;
	for (size_t k = 0; k < n_app; k++)
		m->app_bytes += layer_bytes[app_set[k]];
	m->app_layers = n_app;
	free(app_set);
	free(set);
	free(bumps);
	free(layer_bytes);
	free(layer_of);
}

/* The rule: analyze.h's constants, explained in docs/choosing-a-strategy.md. */
void lk_analyze_recommend(struct lk_analysis *a, uint32_t budget)
{
	long best = -1, fewest = -1;
	char hb[32], hb2[32], hb3[32], hb4[32];

	free(a->reason);
	a->reason = NULL;
	for (size_t i = 0; i < a->n_plans; i++) {
		const struct lk_analyze_plan *p = &a->plans[i];

		if (p->error)
			continue;
		if (fewest < 0 || p->n_layers < a->plans[fewest].n_layers ||
		    (p->n_layers == a->plans[fewest].n_layers &&
		     p->tar_bytes < a->plans[fewest].tar_bytes))
			fewest = (long)i;
	}
	a->fewest = fewest;
	a->recommended = -1;
	if (fewest < 0) {
		a->reason = lk_xstrdup("no installed strategy could plan this app");
		return;
	}
	/* Few or small dependencies: finer layers would save little. */
	if (a->plans[fewest].n_packages < LK_ANALYZE_FEW_PACKAGES ||
	    a->plans[fewest].bump_max <= LK_ANALYZE_SMALL_DEPS) {
		const struct lk_analyze_plan *p = &a->plans[fewest];

		a->recommended = fewest;
		a->reason = p->n_packages < LK_ANALYZE_FEW_PACKAGES ?
			lk_xasprintf("%s: %zu package%s, nothing worth splitting; its %zu layer%s keep%s the image simple",
				     p->strategy, p->n_packages, p->n_packages == 1 ? "" : "s",
				     p->n_layers, p->n_layers == 1 ? "" : "s", p->n_layers == 1 ? "s" : "") :
			lk_xasprintf("%s: the dependencies are small (a package bump rebuilds at most %s with its %zu layers), so finer layers would save little",
				     p->strategy, lk_human_bytes(p->bump_max, hb, sizeof(hb)), p->n_layers);
		return;
	}
	/* Dependency churn: the smallest bump, among plans that leave room
	 * under the budget (a plan at the budget had to merge, and leaves
	 * no room for layers added on top). */
	for (int pass = 0; pass < 2 && best < 0; pass++) {
		for (size_t i = 0; i < a->n_plans; i++) {
			const struct lk_analyze_plan *p = &a->plans[i];

			if (p->error || (!pass && p->n_layers >= budget))
				continue;
			if (best < 0 || p->bump_median < a->plans[best].bump_median)
				best = (long)i;
		}
	}
	/* Near-equal bumps: the fewer layers win. */
	for (size_t i = 0; i < a->n_plans; i++) {
		const struct lk_analyze_plan *p = &a->plans[i];

		if (!p->error && p->n_layers < a->plans[best].n_layers &&
		    (p->n_layers < budget || a->plans[best].n_layers >= budget) &&
		    (double)p->bump_median <= (double)a->plans[best].bump_median * LK_ANALYZE_CLOSE)
			best = (long)i;
	}
	a->recommended = best;
	if (best == fewest) {
		a->reason = lk_xasprintf("%s: the fewest layers (%zu), and no other plan makes a package bump cheaper (median %s)",
					 a->plans[best].strategy, a->plans[best].n_layers,
					 lk_human_bytes(a->plans[best].bump_median, hb, sizeof(hb)));
		return;
	}
	{
		long finest = best;
		char over[256] = "";

		/* Say so when a plan with smaller bumps was passed over: it fills
		 * the budget. */
		for (size_t i = 0; i < a->n_plans; i++)
			if (!a->plans[i].error &&
			    a->plans[i].bump_median < a->plans[finest].bump_median)
				finest = (long)i;
		if (finest != best && a->plans[finest].n_layers >= budget)
			snprintf(over, sizeof(over), " (%s's bumps are smaller, but its %zu layers fill the budget of %u)",
				 a->plans[finest].strategy, a->plans[finest].n_layers, budget);
		a->reason = lk_xasprintf("%s if dependencies change often: a package bump rebuilds a median %s (at most %s) in %zu layers%s, against %s with %s%s; if they rarely change, %s's %zu layers are as good for app changes (%s rebuilt)",
					 a->plans[best].strategy,
					 lk_human_bytes(a->plans[best].bump_median, hb, sizeof(hb)),
					 lk_human_bytes(a->plans[best].bump_max, hb2, sizeof(hb2)),
					 a->plans[best].n_layers,
					 a->plans[best].n_layers >= budget ? " (at the layer budget)" : "",
					 lk_human_bytes(a->plans[fewest].bump_median, hb3, sizeof(hb3)),
					 a->plans[fewest].strategy, over, a->plans[fewest].strategy,
					 a->plans[fewest].n_layers,
					 lk_human_bytes(a->plans[fewest].app_bytes, hb4, sizeof(hb4)));
	}
}

struct strategy_names {
	struct lk_string_list names;
};

static void collect_strategy(void *arg, enum lk_plugin_kind kind, const char *name,
			     const char *path, int shadowed)
{
	struct strategy_names *out = arg;

	if (kind == LK_KIND_STRATEGY && !shadowed)
		lk_string_list_push(&out->names, name);
}

static int cmp_plan_name(const void *pa, const void *pb)
{
	return strcmp(((const struct lk_analyze_plan *)pa)->strategy,
		      ((const struct lk_analyze_plan *)pb)->strategy);
}

/* Plans the app with one strategy and measures the plan. */
static void plan_one(struct lk_analyze_plan *m, const struct lk_app_run *run,
		     const struct lk_plugin_dirs *dirs)
{
	const struct lk_app *app = run->app;
	int own = !strcmp(m->strategy, app->strategy);
	struct lk_plugin plugin;
	struct lk_options opts = { 0 };
	struct lk_plan plan;
	struct lk_error err;

	lk_error_clear(&err);
	m->configured = own;
	if (lk_plugin_load(dirs, LK_KIND_STRATEGY, m->strategy, &plugin, &err) != LK_OK) {
		m->error = lk_xstrdup(err.msg);
		return;
	}
	if (lk_options_resolve(&opts, &plugin, run->config, own ? app->strategy_opts : NULL,
			       own ? app->n_strategy_opts : 0, &err) != LK_OK)
		goto out_error;
	if (lk_run_strategy(&plugin, &opts, &run->scan, &run->units, app->max_layers, &plan,
			    &err) != LK_OK)
		goto out_error;
	lk_analyze_plan_measure(m, &run->scan, &run->units, &plan, app->prefix ? app->prefix : "");
	lk_plan_release(&plan);
	goto out_release;
out_error:
	m->error = lk_xstrdup(err.msg);
out_release:
	lk_options_release(&opts);
	lk_plugin_release(&plugin);
}

void lk_analyze_app(struct lk_analysis *a, const struct lk_app_run *run,
		    const struct lk_plugin_dirs *dirs)
{
	struct strategy_names found = { { 0 } };

	memset(a, 0, sizeof(*a));
	a->recommended = a->fewest = -1;
	lk_plugin_visit(dirs, collect_strategy, &found);
	a->plans = lk_xcalloc(found.names.n + 1, sizeof(*a->plans));
	for (size_t i = 0; i < found.names.n; i++) {
		a->plans[a->n_plans].strategy = lk_xstrdup(found.names.items[i]);
		plan_one(&a->plans[a->n_plans++], run, dirs);
	}
	qsort(a->plans, a->n_plans, sizeof(*a->plans), cmp_plan_name);
	lk_string_list_release(&found.names);

	a->package_bytes = lk_xcalloc(run->units.n_units + 1, sizeof(*a->package_bytes));
	for (size_t u = 0; u < run->units.n_units; u++)
		if (run->units.units[u].kind == LK_UNIT_PACKAGE)
			a->package_bytes[a->n_packages++] = run->units.units[u].bytes;
	qsort(a->package_bytes, a->n_packages, sizeof(*a->package_bytes), cmp_u64);
	lk_analyze_recommend(a, run->app->max_layers);
}

void lk_analysis_release(struct lk_analysis *a)
{
	for (size_t i = 0; i < a->n_plans; i++) {
		free(a->plans[i].strategy);
		free(a->plans[i].error);
		free(a->plans[i].bump_max_package);
	}
	free(a->plans);
	free(a->reason);
	free(a->package_bytes);
	memset(a, 0, sizeof(*a));
}

static int cmp_unit_size(const void *pa, const void *pb, void *arg)
{
	const struct lk_unit *units = arg;
	const struct lk_unit *a = &units[*(const uint32_t *)pa], *b = &units[*(const uint32_t *)pb];

	if (a->bytes != b->bytes)
		return a->bytes > b->bytes ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* Unit indices, largest first (ties by name); the caller frees them. */
static uint32_t *units_by_size(const struct lk_unit_table *units)
{
	uint32_t *order = lk_xcalloc(units->n_units + 1, sizeof(*order));

	for (uint32_t i = 0; i < units->n_units; i++)
		order[i] = i;
	qsort_r(order, units->n_units, sizeof(*order), cmp_unit_size, units->units);
	return order;
}

void lk_analysis_print(FILE *out, const struct lk_analysis *a, const struct lk_app_run *run)
{
	uint32_t *order = units_by_size(&run->units);
	char hb[32], hb2[32], hb3[32], hb4[32];

	fprintf(out, "app %s: root %s, discovery %s: %zu units, %zu files, %s\n", run->app->name,
		run->app->root, run->discovery.name, run->units.n_units, run->scan.n_files,
		lk_human_bytes(run->scan.total_bytes, hb, sizeof(hb)));
	fprintf(out, "\nunits by size:\n  %-11s %-32s %-12s %7s %10s\n", "KIND", "NAME", "VERSION",
		"FILES", "BYTES");
	for (size_t i = 0; i < run->units.n_units; i++) {
		const struct lk_unit *u = &run->units.units[order[i]];

		if (i == LK_ANALYZE_UNITS_SHOWN && lk_verbosity < 2) {
			fprintf(out, "  ... %zu smaller units (-v or --json lists them all)\n",
				run->units.n_units - i);
			break;
		}
		fprintf(out, "  %-11s %-32s %-12s %7zu %10s\n", lk_unit_kind_name(u->kind), u->name,
			u->version[0] ? u->version : "-", u->n_files,
			lk_human_bytes(u->bytes, hb, sizeof(hb)));
	}
	if (a->n_packages) {
		const char *smallest = "", *largest = "";

		for (size_t i = 0; i < run->units.n_units; i++) {
			const struct lk_unit *u = &run->units.units[order[i]];

			if (u->kind != LK_UNIT_PACKAGE)
				continue;
			if (!*largest)
				largest = u->name;
			smallest = u->name;
		}
		fprintf(out, "  %zu packages from %s (%s) to %s (%s), median %s\n", a->n_packages,
			lk_human_bytes(a->package_bytes[0], hb, sizeof(hb)), smallest,
			lk_human_bytes(a->package_bytes[a->n_packages - 1], hb2, sizeof(hb2)), largest,
			lk_human_bytes(lk_analyze_median(a->package_bytes, a->n_packages), hb3,
				       sizeof(hb3)));
	}
	fprintf(out, "\nstrategies (image = uncompressed tar bytes of every layer; a change rebuilds the tar bytes of the layers that hold what changed):\n");
	fprintf(out, "  %-22s %6s %11s %11s %11s %-24s %11s\n", "STRATEGY", "LAYERS", "IMAGE",
		"BUMP MED", "BUMP MAX", "(PACKAGE)", "APP CHANGE");
	for (size_t i = 0; i < a->n_plans; i++) {
		const struct lk_analyze_plan *p = &a->plans[i];
		char name[64];

		snprintf(name, sizeof(name), "%s%s", p->strategy, p->configured ? " *" : "");
		if (p->error) {
			fprintf(out, "  %-22s cannot plan this app: %s\n", name, p->error);
			continue;
		}
		fprintf(out, "  %-22s %6zu %11s %11s %11s %-24s %11s\n", name, p->n_layers,
			lk_human_bytes(p->tar_bytes, hb, sizeof(hb)),
			lk_human_bytes(p->bump_median, hb2, sizeof(hb2)),
			lk_human_bytes(p->bump_max, hb3, sizeof(hb3)),
			p->bump_max_package ? p->bump_max_package : "-",
			lk_human_bytes(p->app_bytes, hb4, sizeof(hb4)));
	}
	fprintf(out, "  (* = the app's strategy; budget %u layers%s)\n", run->app->max_layers,
		run->app->base ? "; the base image's layers are not counted here" : "");
	fprintf(out, "\nrecommendation: %s\n", a->reason);
	free(order);
}

json_t *lk_analysis_json(const struct lk_analysis *a, const struct lk_app_run *run)
{
	uint32_t *order = units_by_size(&run->units);
	json_t *units = json_array(), *plans = json_array(), *o;

	for (size_t i = 0; i < run->units.n_units; i++) {
		const struct lk_unit *u = &run->units.units[order[i]];

		json_array_append_new(units, json_pack("{s:s, s:s, s:s, s:I, s:I}",
			"kind", lk_unit_kind_name(u->kind), "name", u->name, "version", u->version,
			"files", (json_int_t)u->n_files, "bytes", (json_int_t)u->bytes));
	}
	for (size_t i = 0; i < a->n_plans; i++) {
		const struct lk_analyze_plan *p = &a->plans[i];

		if (p->error) {
			json_array_append_new(plans, json_pack("{s:s, s:b, s:s}", "strategy",
				p->strategy, "configured", p->configured, "error", p->error));
			continue;
		}
		json_array_append_new(plans, json_pack(
			"{s:s, s:b, s:I, s:I, s:{s:I, s:I, s:I, s:s?, s:I}, s:{s:I, s:I}}",
			"strategy", p->strategy, "configured", p->configured,
			"layers", (json_int_t)p->n_layers, "image_tar_bytes", (json_int_t)p->tar_bytes,
			"package_bump", "packages", (json_int_t)p->n_packages,
			"median_bytes", (json_int_t)p->bump_median,
			"max_bytes", (json_int_t)p->bump_max, "max_package", p->bump_max_package,
			"max_layers", (json_int_t)p->bump_layers_max,
			"app_change", "bytes", (json_int_t)p->app_bytes,
			"layers", (json_int_t)p->app_layers));
	}
	o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:{s:s?, s:s}}",
		      "app", run->app->name, "root", run->app->root,
		      "discovery", run->discovery.name, "max_layers", (json_int_t)run->app->max_layers,
		      "files", (json_int_t)run->scan.n_files, "bytes", (json_int_t)run->scan.total_bytes,
		      "units", units, "strategies", plans, "recommendation",
		      "strategy", a->recommended >= 0 ? a->plans[a->recommended].strategy : NULL,
		      "reason", a->reason ? a->reason : "");
	free(order);
	return o;
}
