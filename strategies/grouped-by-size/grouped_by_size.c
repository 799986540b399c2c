/*
 * grouped-by-size - the interpreter alone, the app alone, size outliers
 * alone, and every other unit in a fixed number of shared layers.
 *
 * Layers, lowest first: "interpreter", one "pkg-NAME" per outlier (by
 * name), "packages-1".."packages-N" (the hash bins that hold something),
 * "packages-small" (bins under min_layer_size), "app".
 *
 * Stability is the point (docs/strategies.md): a unit's place depends on
 * its own name and size only, never on the other units.
 *  - A shared layer is a hash bin: a hash of the unit's NAME (not its
 *    version) modulo a bin count fixed by the options, so adding, removing
 *    or changing one package changes the members of its own bin only.
 *  - A unit is an outlier when its own size reaches outlier_size; a rule
 *    like median + k*MAD would move units whenever another unit changes.
 *  - A bin under min_layer_size is folded into "packages-small"; that
 *    depends on the bin's own total, so one change touches at most two
 *    layers.
 * The one exception is a configuration problem: more outliers than layers
 * left; the smallest ones then go back to their bins ("merged: over
 * max_layers") with a warning.
 */
#include <layerkit/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct lk_option_spec grouped_options[] = {
	{ "max_layers", LK_OPT_INT, "8",
	  "layers in all, interpreter and app included (never more than the app's max_layers)",
	  1, LK_MAX_LAYERS_CAP },
	{ "bins", LK_OPT_INT, "0",
	  "shared package layers (hash bins); 0 = two thirds of what max_layers leaves",
	  0, LK_MAX_LAYERS_CAP },
	{ "target_layer_size", LK_OPT_SIZE, "4MiB",
	  "size a shared layer aims at: a unit this big is an outlier (unless outlier_size is "
	  "set); bins far above it are reported", 0, 0 },
	{ "outlier_size", LK_OPT_SIZE, "0",
	  "a unit at least this big gets its own layer; 0 = target_layer_size", 0, 0 },
	{ "min_layer_size", LK_OPT_SIZE, "64KiB",
	  "bins smaller than this are folded into one packages-small layer; 0 = never", 0, 0 },
	{ NULL, 0, NULL, NULL, 0, 0 },
};

/* Where a unit goes. */
enum place {
	PLACE_INTERPRETER,
	PLACE_OUTLIER,
	PLACE_BIN,
	PLACE_APP,
};

struct member {
	const struct lk_unit *u;
	uint32_t unit;
	enum place place;
	int bin;		/* PLACE_BIN, and outliers sent back to a bin */
	int demoted;		/* an outlier that did not fit */
};

struct grouped {
	const struct lk_host *host;
	struct lk_ctx *ctx;
	struct member *members;
	size_t n;
	int bins;
	uint64_t outlier_size, min_layer_size, target;
	uint64_t *bin_bytes;
};

/*
 * The bin key of a name: FNV-1a 64, then MurmurHash3's fmix64 finaliser.
 * FNV-1a alone is a poor bin key: its low bits depend only on the low bits
 * of each byte, so "modulo bins" would crowd some bins and leave others
 * empty.  The version is not hashed: a new version stays in its bin.
 */
static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* "4.5 MiB": sizes in reasons are for people. */
static const char *human(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0 || v >= 100 || (uint64_t)(v * 10 + 0.5) % 10 == 0)
		snprintf(buf, len, "%.0f %s", v, units[u]);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

static int is_bin_small(const struct grouped *g, int bin)
{
	return g->min_layer_size && g->bin_bytes[bin] < g->min_layer_size;
}

/* Outliers by size, largest first, for choosing which ones keep a layer. */
static int by_size_desc(const void *a, const void *b)
{
	const struct member *x = *(const struct member *const *)a;
	const struct member *y = *(const struct member *const *)b;

	if (x->u->bytes != y->u->bytes)
		return x->u->bytes > y->u->bytes ? -1 : 1;
	return strcmp(x->u->name, y->u->name);
}

static int by_name(const void *a, const void *b)
{
	const struct member *x = *(const struct member *const *)a;
	const struct member *y = *(const struct member *const *)b;
	int c = strcmp(x->u->name, y->u->name);

	if (!c)
		c = strcmp(x->u->version, y->u->version);
	return c ? c : (x->unit > y->unit) - (x->unit < y->unit);
}

/* Sends the smallest outliers back to their bins when they do not fit. */
static int demote_outliers(struct grouped *g, size_t room)
{
	struct member **out = calloc(g->n ? g->n : 1, sizeof(*out));
	size_t n = 0;
	char a[32];

	if (!out) {
		g->host->set_error(g->ctx, "out of memory");
		return LK_FATAL;
	}
	for (size_t i = 0; i < g->n; i++)
		if (g->members[i].place == PLACE_OUTLIER)
			out[n++] = &g->members[i];
	if (n > room) {
		qsort(out, n, sizeof(*out), by_size_desc);
		for (size_t i = room; i < n; i++) {
			out[i]->place = PLACE_BIN;
			out[i]->demoted = 1;
		}
		g->host->log(g->ctx, LK_LOG_WARN,
			     "%zu units reach outlier_size %s but only %zu layers are left for "
			     "them: the %zu smallest stay in their shared layers, which makes the "
			     "layout less stable; raise max_layers or outlier_size",
			     n, human(g->outlier_size, a, sizeof(a)), room, n - room);
	}
	free(out);
	return n > room ? LK_WARN : LK_OK;
}

static int add_layer(struct grouped *g, const char *name, const char *reason)
{
	return g->host->layer_add(g->ctx, name, reason);
}

/*
 * Emits the shared layers: with small = 0 one "packages-N" per bin at or
 * above min_layer_size, with small = 1 every bin under it in one
 * "packages-small".  sorted holds the members by name.
 */
static int emit_bins(struct grouped *g, struct member *const *sorted, int small)
{
	char name[64], reason[256], a[32], b[32];
	int layer = -1;

	for (int bin = 0; bin < g->bins; bin++) {
		if (is_bin_small(g, bin) != small)
			continue;
		if (!small)
			layer = -1;
		for (size_t i = 0; i < g->n; i++) {
			const struct member *m = sorted[i];

			if (m->place != PLACE_BIN || m->bin != bin)
				continue;
			if (layer < 0) {
				if (small) {
					snprintf(name, sizeof(name), "packages-small");
					snprintf(reason, sizeof(reason),
						 "hash bins under min_layer_size, folded together");
				} else {
					snprintf(name, sizeof(name), "packages-%d", bin + 1);
					snprintf(reason, sizeof(reason),
						 "units whose name hashes to bin %d of %d", bin + 1,
						 g->bins);
				}
				layer = add_layer(g, name, reason);
				if (layer < 0)
					return LK_FAILED;
			}
			if (m->demoted)
				snprintf(reason, sizeof(reason),
					 "merged: over max_layers (outlier %s, hash bin %d of %d)",
					 human(m->u->bytes, a, sizeof(a)), bin + 1, g->bins);
			else if (small)
				snprintf(reason, sizeof(reason), "hash bin %d of %d, folded: the bin "
					 "holds %s < min_layer_size %s", bin + 1, g->bins,
					 human(g->bin_bytes[bin], a, sizeof(a)),
					 human(g->min_layer_size, b, sizeof(b)));
			else
				snprintf(reason, sizeof(reason), "hash bin %d of %d", bin + 1, g->bins);
			if (g->host->layer_add_unit(g->ctx, layer, m->unit, reason) != LK_OK)
				return LK_FAILED;
		}
		if (!small && g->target && g->bin_bytes[bin] > 4 * g->target)
			g->host->log(g->ctx, LK_LOG_INFO,
				     "packages-%d holds %s, over 4 x target_layer_size %s: more bins "
				     "(bins, max_layers) would make it cheaper to re-push", bin + 1,
				     human(g->bin_bytes[bin], a, sizeof(a)),
				     human(g->target, b, sizeof(b)));
	}
	return LK_OK;
}

static int emit(struct grouped *g)
{
	struct member **sorted = calloc(g->n ? g->n : 1, sizeof(*sorted));
	const struct member *prev = NULL;
	char name[512], reason[256], a[32], b[32];
	int layer, rc = LK_FAILED;

	if (!sorted) {
		g->host->set_error(g->ctx, "out of memory");
		return LK_FATAL;
	}
	for (size_t i = 0; i < g->n; i++)
		sorted[i] = &g->members[i];
	qsort(sorted, g->n, sizeof(*sorted), by_name);

	/* interpreter */
	layer = -1;
	for (size_t i = 0; i < g->n; i++) {
		if (sorted[i]->place != PLACE_INTERPRETER)
			continue;
		if (layer < 0 && (layer = add_layer(g, "interpreter", "the interpreter, alone")) < 0)
			goto out_free;
		if (g->host->layer_add_unit(g->ctx, layer, sorted[i]->unit, "interpreter") != LK_OK)
			goto out_free;
	}
	/* outliers, each alone; sorted by name, so namesakes are adjacent */
	for (size_t i = 0, same = 0; i < g->n; i++) {
		const struct member *m = sorted[i];

		if (m->place != PLACE_OUTLIER)
			continue;
		same = prev && !strcmp(prev->u->name, m->u->name) ? same + 1 : 0;
		prev = m;
		if (same)
			snprintf(name, sizeof(name), "pkg-%s-%zu", m->u->name, same + 1);
		else
			snprintf(name, sizeof(name), "pkg-%s", m->u->name);
		layer = add_layer(g, name, "a size outlier, alone");
		if (layer < 0)
			goto out_free;
		snprintf(reason, sizeof(reason), "outlier: %s >= outlier_size %s",
			 human(m->u->bytes, a, sizeof(a)), human(g->outlier_size, b, sizeof(b)));
		if (g->host->layer_add_unit(g->ctx, layer, m->unit, reason) != LK_OK)
			goto out_free;
	}
	/* bins, then the small ones folded together */
	if (emit_bins(g, sorted, 0) != LK_OK || emit_bins(g, sorted, 1) != LK_OK)
		goto out_free;
	/* the app */
	layer = -1;
	for (size_t i = 0; i < g->n; i++) {
		if (sorted[i]->place != PLACE_APP)
			continue;
		if (layer < 0 && (layer = add_layer(g, "app", "the application, alone")) < 0)
			goto out_free;
		if (g->host->layer_add_unit(g->ctx, layer, sorted[i]->unit, "app") != LK_OK)
			goto out_free;
	}
	rc = LK_OK;

out_free:
	free(sorted);
	return rc;
}

static int grouped_plan(const struct lk_host *host, struct lk_ctx *ctx, void *state,
			const struct lk_unit_set *set)
{
	struct grouped g = { .host = host, .ctx = ctx, .n = set->n_units };
	int64_t budget = host->opt_int(ctx, "max_layers");
	int64_t bins = host->opt_int(ctx, "bins");
	int has_interpreter = 0, has_app = 0, has_shared = 0, rc, warned;
	int64_t room;

	if (!set->n_units) {
		host->set_error(ctx, "no units to place: discovery found nothing");
		return LK_FAILED;
	}
	if (set->max_layers && budget > set->max_layers)
		budget = set->max_layers;
	g.target = host->opt_size(ctx, "target_layer_size");
	g.outlier_size = host->opt_size(ctx, "outlier_size");
	if (!g.outlier_size)
		g.outlier_size = g.target;
	g.min_layer_size = host->opt_size(ctx, "min_layer_size");

	g.members = calloc(set->n_units, sizeof(*g.members));
	if (!g.members) {
		host->set_error(ctx, "out of memory");
		return LK_FATAL;
	}
	for (size_t i = 0; i < set->n_units; i++) {
		g.members[i].u = &set->units[i];
		g.members[i].unit = (uint32_t)i;
		switch (set->units[i].kind) {
		case LK_UNIT_INTERPRETER:
			g.members[i].place = PLACE_INTERPRETER;
			has_interpreter = 1;
			break;
		case LK_UNIT_APP:
			g.members[i].place = PLACE_APP;
			has_app = 1;
			break;
		default:
			g.members[i].place = PLACE_BIN;
			has_shared = 1;
		}
	}

	/* The bin count comes from the options alone, so it never changes
	 * with the units. */
	room = budget - has_interpreter - has_app;
	if (!bins)
		bins = (budget - 2) * 2 / 3;
	if (bins < 1)
		bins = 1;
	if (has_shared && room < 1) {
		host->set_error(ctx, "max_layers = %lld leaves no layer for the packages (the "
				"interpreter and the app take %d); raise max_layers to at least %d",
				(long long)budget, has_interpreter + has_app,
				has_interpreter + has_app + 1);
		rc = LK_FAILED;
		goto out_free;
	}
	if (bins > room) {
		host->log(ctx, LK_LOG_WARN, "bins = %lld does not fit in max_layers = %lld; "
			  "using %lld", (long long)bins, (long long)budget, (long long)room);
		bins = room;
	}
	g.bins = (int)bins;
	g.bin_bytes = calloc((size_t)g.bins, sizeof(*g.bin_bytes));
	if (!g.bin_bytes) {
		host->set_error(ctx, "out of memory");
		rc = LK_FATAL;
		goto out_free;
	}
	for (size_t i = 0; i < g.n; i++) {
		struct member *m = &g.members[i];

		if (m->place != PLACE_BIN)
			continue;
		m->bin = (int)(name_hash(m->u->name) % (uint64_t)g.bins);
		if (g.outlier_size && m->u->bytes >= g.outlier_size)
			m->place = PLACE_OUTLIER;
	}
	rc = demote_outliers(&g, (size_t)(room - bins));
	if (rc < LK_WARN)
		goto out_free;
	warned = rc == LK_WARN;
	for (size_t i = 0; i < g.n; i++)
		if (g.members[i].place == PLACE_BIN)
			g.bin_bytes[g.members[i].bin] += g.members[i].u->bytes;
	rc = emit(&g);
	if (rc == LK_OK && warned)
		rc = LK_WARN;

out_free:
	free(g.bin_bytes);
	free(g.members);
	return rc;
}

static const struct lk_strategy grouped_strategy = {
	.abi_major = LK_ABI_MAJOR,
	.abi_minor = LK_ABI_MINOR,
	.struct_size = sizeof(struct lk_strategy),
	.name = "grouped-by-size",
	.description = "interpreter and app alone, size outliers alone, the other units in "
		       "a fixed number of shared layers by name hash (stable across builds)",
	.version = "1.0.0",
	.options = grouped_options,
	.plan = grouped_plan,
};

LK_EXPORT const struct lk_strategy *layerkit_strategy_v1(void)
{
	return &grouped_strategy;
}
