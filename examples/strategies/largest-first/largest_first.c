/*
 * largest-first - an in-house layerkit strategy, built out of tree.
 *
 * The `count` largest units each get a layer of their own ("alone-NAME",
 * largest first); every other unit shares the last layer, "rest".  Big
 * units are the expensive ones to re-push, so they should not share a
 * layer with anything that changes.
 *
 * Like every strategy it is a pure function of the units and options: it
 * reads no file, keeps no state, and builds the plan only through the host
 * table.  Build: see README.md.
 */
#include <layerkit/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct lk_option_spec largest_first_options[] = {
	{ "count", LK_OPT_INT, "3", "how many of the largest units get a layer each",
	  0, LK_MAX_LAYERS_CAP - 1 },
	{ NULL, 0, NULL, NULL, 0, 0 },
};

/* qsort compares the units themselves: largest first, then by name. */
static int by_size_desc(const void *a, const void *b)
{
	const struct lk_unit *x = *(const struct lk_unit *const *)a;
	const struct lk_unit *y = *(const struct lk_unit *const *)b;

	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int largest_first_plan(const struct lk_host *host, struct lk_ctx *ctx, void *state,
			      const struct lk_unit_set *set)
{
	size_t count = (size_t)host->opt_int(ctx, "count");
	const struct lk_unit **order;
	int rest = -1, rc = LK_FAILED;
	char name[512];

	(void)state;	/* no init(), so no state */
	if (!set->n_units) {
		host->set_error(ctx, "no units to place");
		return LK_FAILED;
	}
	/* Within the budget, keeping a layer for the rest when there is one. */
	if (count > set->n_units)
		count = set->n_units;
	if (set->max_layers && count > set->max_layers)
		count = set->max_layers;
	if (set->max_layers && count == set->max_layers && count < set->n_units)
		count--;
	order = malloc(set->n_units * sizeof(*order));
	if (!order) {
		host->set_error(ctx, "out of memory");
		return LK_FATAL;
	}
	for (size_t i = 0; i < set->n_units; i++)
		order[i] = &set->units[i];
	qsort(order, set->n_units, sizeof(*order), by_size_desc);

	for (size_t i = 0; i < set->n_units; i++) {
		uint32_t unit = (uint32_t)(order[i] - set->units);
		int layer;

		if (i < count) {
			/* The rank keeps two units of one name apart. */
			if (i && !strcmp(order[i - 1]->name, order[i]->name))
				snprintf(name, sizeof(name), "alone-%s-%zu", order[i]->name, i + 1);
			else
				snprintf(name, sizeof(name), "alone-%s", order[i]->name);
			layer = host->layer_add(ctx, name, "one of the largest units");
		} else {
			if (rest < 0)
				rest = host->layer_add(ctx, "rest", "every smaller unit");
			layer = rest;
		}
		if (layer < 0)
			goto out_free;
		if (host->layer_add_unit(ctx, layer, unit, i < count ? "large" : "small") != LK_OK)
			goto out_free;
	}
	rc = LK_OK;
out_free:
	free(order);
	return rc;
}

static const struct lk_strategy largest_first_strategy = {
	.abi_major = LK_ABI_MAJOR,
	.abi_minor = LK_ABI_MINOR,
	.struct_size = sizeof(struct lk_strategy),
	.name = "largest-first",
	.description = "the N largest units each alone, the rest together (an in-house example)",
	.version = "1.0.0",
	.options = largest_first_options,
	.plan = largest_first_plan,
};

/* The one exported symbol; everything else is static (and the pkg-config
 * flags add -fvisibility=hidden). */
LK_EXPORT const struct lk_strategy *layerkit_strategy_v1(void)
{
	return &largest_first_strategy;
}
