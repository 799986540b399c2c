/*
 * per-package - one layer per unit, ordered for cache reuse.
 *
 * Layers, lowest first: the interpreter ("interpreter-NAME"), packages by
 * name ("pkg-NAME"), support units ("support-NAME"), other units
 * ("other-NAME"), then the app ("app").  A one-package change re-pushes
 * exactly that package's layer.
 *
 * When there are more units than layers (max_layers, capped by the app's
 * budget), the smallest packages are merged into merge_layers shared
 * layers ("packages-1".."packages-N", after the single packages).  The merge
 * is chosen to stay put from build to build (docs/strategies.md):
 *  - packages are ranked by (size tier, hash of the name), where a tier is
 *    a factor of 4 in size; the lowest-ranked are merged.  Inside a tier
 *    the rank ignores size, so a +-20% change moves a package only when it
 *    crosses a tier edge, and a version change never moves one;
 *  - a merged package goes to the shared layer its name hashes to, so one
 *    package joining or leaving changes that shared layer only.
 * Worst case for one package's change: it and one neighbour in rank swap
 * places (4 layers); adding or removing one package: 3 layers.
 */
#include <layerkit/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct lk_option_spec per_package_options[] = {
	{ "max_layers", LK_OPT_INT, "0",
	  "layer budget; 0 = the app's max_layers (never more than it)", 0, LK_MAX_LAYERS_CAP },
	{ "merge_layers", LK_OPT_INT, "8",
	  "shared layers the smallest packages are hashed into when there are too many",
	  1, LK_MAX_LAYERS_CAP },
	{ NULL, 0, NULL, NULL, 0, 0 },
};

/* Groups of units in image order; each gets one layer per unit unless it
 * is collapsed into a single layer to fit the budget. */
enum group {
	GROUP_INTERPRETER,
	GROUP_PACKAGE,
	GROUP_SUPPORT,
	GROUP_OTHER,
	GROUP_APP,
	GROUP_COUNT
};

static const char *const group_prefix[GROUP_COUNT] = {
	"interpreter", "pkg", "support", "other", "app",
};

struct member {
	const struct lk_unit *u;
	uint32_t unit;
	uint64_t hash;		/* of the name: stable across builds and hosts */
	unsigned tier;		/* floor(log4(bytes)) */
	int bin;		/* shared layer, or -1 for a layer of its own */
};

struct per_package {
	const struct lk_host *host;
	struct lk_ctx *ctx;
	struct member *members[GROUP_COUNT];
	size_t n[GROUP_COUNT];
	int collapsed[GROUP_COUNT];
	char **names;		/* layer names used so far, to keep them unique */
	size_t n_names;
};

/* FNV-1a 64 of the name, then MurmurHash3's fmix64 so that every byte
 * reaches every bit (FNV-1a's low bits alone make a poor "modulo N"). */
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

static unsigned size_tier(uint64_t bytes)
{
	unsigned bits = 0;

	while (bytes >>= 1)
		bits++;
	return bits / 2;
}

static enum group group_of(uint32_t kind)
{
	switch (kind) {
	case LK_UNIT_INTERPRETER: return GROUP_INTERPRETER;
	case LK_UNIT_PACKAGE:     return GROUP_PACKAGE;
	case LK_UNIT_SUPPORT:     return GROUP_SUPPORT;
	case LK_UNIT_APP:         return GROUP_APP;
	default:                  return GROUP_OTHER;
	}
}

static int by_name(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	int c = strcmp(x->u->name, y->u->name);

	if (!c)
		c = strcmp(x->u->version, y->u->version);
	return c ? c : (x->unit > y->unit) - (x->unit < y->unit);
}

static int by_merge_rank(const void *a, const void *b)
{
	const struct member *x = a, *y = b;

	if (x->tier != y->tier)
		return x->tier < y->tier ? -1 : 1;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return by_name(a, b);
}

/* Adds a layer whose name is unique in the plan ("-2", "-3"... on a clash,
 * e.g. two packages of one name). */
static int add_layer(struct per_package *pp, const char *name, const char *reason)
{
	char unique[512];
	int layer;

	snprintf(unique, sizeof(unique), "%s", name);
	for (int k = 2;; k++) {
		size_t i = 0;

		while (i < pp->n_names && strcmp(pp->names[i], unique))
			i++;
		if (i == pp->n_names)
			break;
		snprintf(unique, sizeof(unique), "%s-%d", name, k);
	}
	layer = pp->host->layer_add(pp->ctx, unique, reason);
	if (layer < 0)
		return layer;
	pp->names[pp->n_names] = strdup(unique);
	if (!pp->names[pp->n_names]) {
		pp->host->set_error(pp->ctx, "out of memory");
		return LK_FATAL;
	}
	pp->n_names++;
	return layer;
}

/* Layers the groups other than packages need as they are collapsed now. */
static size_t fixed_layers(const struct per_package *pp)
{
	size_t n = 0;

	for (int g = 0; g < GROUP_COUNT; g++)
		if (g != GROUP_PACKAGE && pp->n[g])
			n += pp->collapsed[g] ? 1 : pp->n[g];
	return n;
}

/* Picks the packages to merge and their shared layers; returns how many
 * shared layers there are (0 when every package fits alone). */
static int choose_merge(struct per_package *pp, size_t budget, size_t merge_layers)
{
	size_t n = pp->n[GROUP_PACKAGE], room = budget - fixed_layers(pp);
	struct member *m = pp->members[GROUP_PACKAGE];
	size_t shared, merged;

	for (size_t i = 0; i < n; i++)
		m[i].bin = -1;
	if (n <= room)
		return 0;
	shared = merge_layers < room ? merge_layers : room;
	merged = n - (room - shared);
	qsort(m, n, sizeof(*m), by_merge_rank);
	for (size_t i = 0; i < merged; i++)
		m[i].bin = (int)(m[i].hash % shared);
	pp->host->log(pp->ctx, LK_LOG_INFO,
		      "%zu packages, %zu layers left for them: the %zu smallest share %zu layers",
		      n, room, merged, shared);
	return (int)shared;
}

static int emit_group(struct per_package *pp, enum group g)
{
	char name[512], reason[256];
	int layer = -1;

	for (size_t i = 0; i < pp->n[g]; i++) {
		const struct member *m = &pp->members[g][i];
		const struct lk_unit *u = m->u;

		if (m->bin >= 0)
			continue;
		if (!pp->collapsed[g] || layer < 0) {
			if (pp->collapsed[g] || (g == GROUP_APP && pp->n[g] == 1))
				snprintf(name, sizeof(name), "%s", group_prefix[g]);
			else
				snprintf(name, sizeof(name), "%s-%s", group_prefix[g], u->name);
			snprintf(reason, sizeof(reason), pp->collapsed[g] ?
				 "all %s units in one layer to fit max_layers" :
				 "one layer per %s unit", lk_unit_kind_name(u->kind));
			layer = add_layer(pp, name, reason);
			if (layer < 0)
				return layer;
		}
		snprintf(reason, sizeof(reason), "%s", pp->collapsed[g] ?
			 "collapsed: over max_layers" : "own layer");
		if (pp->host->layer_add_unit(pp->ctx, layer, m->unit, reason) != LK_OK)
			return LK_FAILED;
	}
	return LK_OK;
}

static int emit_shared(struct per_package *pp, int shared)
{
	const struct member *m = pp->members[GROUP_PACKAGE];
	char name[64], reason[256];

	for (int b = 0; b < shared; b++) {
		int layer = -1;

		for (size_t i = 0; i < pp->n[GROUP_PACKAGE]; i++) {
			if (m[i].bin != b)
				continue;
			if (layer < 0) {
				snprintf(name, sizeof(name), "packages-%d", b + 1);
				snprintf(reason, sizeof(reason),
					 "smallest packages, over max_layers: shared layer %d of %d "
					 "(by name hash)", b + 1, shared);
				layer = add_layer(pp, name, reason);
				if (layer < 0)
					return layer;
			}
			snprintf(reason, sizeof(reason),
				 "merged: over max_layers (size tier %u, hash bin %d of %d)",
				 m[i].tier, b + 1, shared);
			if (pp->host->layer_add_unit(pp->ctx, layer, m[i].unit, reason) != LK_OK)
				return LK_FAILED;
		}
	}
	return LK_OK;
}

static int per_package_plan(const struct lk_host *host, struct lk_ctx *ctx, void *state,
			    const struct lk_unit_set *set)
{
	struct per_package pp = { .host = host, .ctx = ctx };
	int64_t opt_budget = host->opt_int(ctx, "max_layers");
	size_t budget = set->max_layers ? set->max_layers : LK_MAX_LAYERS_DEFAULT;
	size_t merge_layers = (size_t)host->opt_int(ctx, "merge_layers");
	int shared, rc = LK_FAILED;

	if (!set->n_units) {
		host->set_error(ctx, "no units to place: discovery found nothing");
		return LK_FAILED;
	}
	if (opt_budget > 0 && (size_t)opt_budget < budget)
		budget = (size_t)opt_budget;
	if (merge_layers < 1)
		merge_layers = 1;
	for (int g = 0; g < GROUP_COUNT; g++) {
		pp.members[g] = calloc(set->n_units, sizeof(struct member));
		if (!pp.members[g]) {
			host->set_error(ctx, "out of memory");
			goto out_free;
		}
	}
	pp.names = calloc(set->n_units + 1, sizeof(*pp.names));
	if (!pp.names) {
		host->set_error(ctx, "out of memory");
		goto out_free;
	}
	for (size_t i = 0; i < set->n_units; i++) {
		const struct lk_unit *u = &set->units[i];
		enum group g = group_of(u->kind);
		struct member *m = &pp.members[g][pp.n[g]++];

		m->u = u;
		m->unit = (uint32_t)i;
		m->hash = name_hash(u->name);
		m->tier = size_tier(u->bytes);
		m->bin = -1;
	}

	/* Collapse whole groups, least valuable first, until at least one
	 * layer is left for the packages. */
	static const enum group collapse_order[] = {
		GROUP_OTHER, GROUP_SUPPORT, GROUP_APP, GROUP_INTERPRETER,
	};
	for (size_t k = 0; k < 4 && fixed_layers(&pp) + (pp.n[GROUP_PACKAGE] ? 1 : 0) > budget; k++)
		if (pp.n[collapse_order[k]] > 1)
			pp.collapsed[collapse_order[k]] = 1;
	if (fixed_layers(&pp) + (pp.n[GROUP_PACKAGE] ? 1 : 0) > budget) {
		host->set_error(ctx, "max_layers = %zu is too small: the interpreter, support, "
				"other and app units alone need %zu layers; raise max_layers",
				budget, fixed_layers(&pp) + 1);
		goto out_free;
	}

	shared = choose_merge(&pp, budget, merge_layers);
	for (int g = 0; g < GROUP_COUNT; g++)
		qsort(pp.members[g], pp.n[g], sizeof(struct member), by_name);
	for (int g = 0; g < GROUP_COUNT; g++) {
		rc = emit_group(&pp, (enum group)g);
		if (rc == LK_OK && g == GROUP_PACKAGE)
			rc = emit_shared(&pp, shared);
		if (rc != LK_OK)
			goto out_free;
	}
	rc = LK_OK;

out_free:
	for (size_t i = 0; i < pp.n_names; i++)
		free(pp.names[i]);
	free(pp.names);
	for (int g = 0; g < GROUP_COUNT; g++)
		free(pp.members[g]);
	return rc;
}

static const struct lk_strategy per_package_strategy = {
	.abi_major = LK_ABI_MAJOR,
	.abi_minor = LK_ABI_MINOR,
	.struct_size = sizeof(struct lk_strategy),
	.name = "per-package",
	.description = "one layer per unit (interpreter, each package, app); the smallest "
		       "packages share layers when over max_layers",
	.version = "1.0.0",
	.options = per_package_options,
	.plan = per_package_plan,
};

LK_EXPORT const struct lk_strategy *layerkit_strategy_v1(void)
{
	return &per_package_strategy;
}
