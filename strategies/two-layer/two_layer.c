/*
 * two-layer - the default strategy: what the app depends on in one layer,
 * the app itself in the layer above it.
 *
 * Layers, lowest first: "dependencies" (interpreter, package, support and
 * other units, in discovery order), then "app" (the app units).  With
 * split_interpreter = true the interpreter gets a layer of its own below
 * the dependencies, so a package update does not re-push it.  A layer with
 * nothing in it is left out (an app without dependencies gets one layer).
 */
#include <layerkit/plugin.h>

#include <stdio.h>

static const struct lk_option_spec two_layer_options[] = {
	{ "split_interpreter", LK_OPT_BOOL, "false",
	  "give the interpreter its own layer, below the dependencies", 0, 0 },
	{ NULL, 0, NULL, NULL, 0, 0 },
};

/* The layers this strategy can make, lowest first. */
enum two_layer_slot {
	SLOT_INTERPRETER,
	SLOT_DEPENDENCIES,
	SLOT_APP,
	SLOT_COUNT
};

static const char *const slot_names[SLOT_COUNT] = {
	"interpreter", "dependencies", "app",
};

static const char *const slot_reasons[SLOT_COUNT] = {
	"the interpreter: changes least often",
	"interpreter, packages and support units: change when dependencies do",
	"the application: changes on every commit",
};

static enum two_layer_slot slot_of(uint32_t kind, int split_interpreter)
{
	if (kind == LK_UNIT_APP)
		return SLOT_APP;
	if (kind == LK_UNIT_INTERPRETER && split_interpreter)
		return SLOT_INTERPRETER;
	return SLOT_DEPENDENCIES;
}

static int two_layer_plan(const struct lk_host *host, struct lk_ctx *ctx, void *state,
			  const struct lk_unit_set *units)
{
	int split = host->opt_bool(ctx, "split_interpreter");
	size_t count[SLOT_COUNT] = { 0 };
	int layer[SLOT_COUNT] = { -1, -1, -1 };
	unsigned needed = 0;
	int rc = LK_OK;

	if (!units->n_units) {
		host->set_error(ctx, "no units to place: discovery found nothing in %s",
				units->tree && units->tree->root ? units->tree->root : "the root");
		return LK_FAILED;
	}
	for (size_t i = 0; i < units->n_units; i++)
		count[slot_of(units->units[i].kind, split)]++;
	for (int s = 0; s < SLOT_COUNT; s++)
		needed += count[s] != 0;
	if (needed > units->max_layers && count[SLOT_INTERPRETER] && count[SLOT_DEPENDENCIES]) {
		/* Fewer layers than asked for beats a plan the host rejects. */
		host->log(ctx, LK_LOG_WARN, "max_layers = %u: split_interpreter ignored",
			  units->max_layers);
		split = 0;
		count[SLOT_DEPENDENCIES] += count[SLOT_INTERPRETER];
		count[SLOT_INTERPRETER] = 0;
		needed--;
		rc = LK_WARN;
	}
	if (needed > units->max_layers) {
		host->set_error(ctx, "needs %u layers (dependencies and app) but max_layers is %u; "
				"raise max_layers to at least %u", needed, units->max_layers,
				needed);
		return LK_FAILED;
	}

	for (int s = 0; s < SLOT_COUNT; s++) {
		if (!count[s])
			continue;
		layer[s] = host->layer_add(ctx, slot_names[s], slot_reasons[s]);
		if (layer[s] < 0)
			return LK_FAILED;
	}
	for (size_t i = 0; i < units->n_units; i++) {
		const struct lk_unit *u = &units->units[i];
		enum two_layer_slot s = slot_of(u->kind, split);
		char reason[64];

		if (s == SLOT_DEPENDENCIES)
			snprintf(reason, sizeof(reason), "dependency (%s)", lk_unit_kind_name(u->kind));
		else
			snprintf(reason, sizeof(reason), "%s", lk_unit_kind_name(u->kind));
		if (host->layer_add_unit(ctx, layer[s], (uint32_t)i, reason) != LK_OK)
			return LK_FAILED;
	}
	return rc;
}

static const struct lk_strategy two_layer_strategy = {
	.abi_major = LK_ABI_MAJOR,
	.abi_minor = LK_ABI_MINOR,
	.struct_size = sizeof(struct lk_strategy),
	.name = "two-layer",
	.description = "dependencies in one layer, the app in another (optionally the "
		       "interpreter in a third)",
	.version = "1.0.0",
	.options = two_layer_options,
	.plan = two_layer_plan,
};

LK_EXPORT const struct lk_strategy *layerkit_strategy_v1(void)
{
	return &two_layer_strategy;
}
