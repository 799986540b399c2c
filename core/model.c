/* model.c - the unit table discovery fills, the layer plan a strategy
 * fills, and the check that a plan covers the tree exactly once. */
#include "model.h"

#include <stdlib.h>
#include <string.h>

void lk_unit_table_init(struct lk_unit_table *t, size_t n_files)
{
	memset(t, 0, sizeof(*t));
	t->n_files = n_files;
	t->unit_of_file = lk_xmalloc((n_files ? n_files : 1) * sizeof(*t->unit_of_file));
	for (size_t i = 0; i < n_files; i++)
		t->unit_of_file[i] = -1;
}

void lk_unit_table_release(struct lk_unit_table *t)
{
	for (size_t i = 0; i < t->n_units; i++) {
		struct lk_unit *u = &t->units[i];

		/* The public view is const; the strings and lists are ours. */
		free((char *)u->name);
		free((char *)u->version);
		free((char *)u->origin);
		free((uint32_t *)u->files);
	}
	free(t->units);
	free(t->files_cap);
	free(t->unit_of_file);
	memset(t, 0, sizeof(*t));
}

int lk_unit_table_add(struct lk_unit_table *t, uint32_t kind, const char *name,
		      const char *version, const char *origin)
{
	size_t cap = t->cap_units;
	struct lk_unit *u;

	if (!name || !name[0] || kind >= LK_UNIT_KIND_COUNT)
		return LK_FAILED;
	if (t->n_units >= INT32_MAX)
		return LK_FAILED;
	lk_grow((void **)&t->units, &cap, t->n_units + 1, sizeof(*t->units));
	if (cap != t->cap_units) {
		t->files_cap = lk_xrealloc(t->files_cap, cap * sizeof(*t->files_cap));
		t->cap_units = cap;
	}
	u = &t->units[t->n_units];
	memset(u, 0, sizeof(*u));
	u->name = lk_xstrdup(name);
	u->version = lk_xstrdup(version ? version : "");
	u->origin = lk_xstrdup(origin ? origin : "");
	u->kind = kind;
	t->files_cap[t->n_units] = 0;
	return (int)t->n_units++;
}

int lk_unit_table_claim(struct lk_unit_table *t, int unit, uint32_t file, uint64_t size)
{
	struct lk_unit *u;
	uint32_t *files;
	size_t pos;

	if (unit < 0 || (size_t)unit >= t->n_units || file >= t->n_files)
		return LK_FAILED;
	if (t->unit_of_file[file] >= 0)
		return LK_FAILED;
	u = &t->units[unit];
	files = (uint32_t *)u->files;
	lk_grow((void **)&files, &t->files_cap[unit], u->n_files + 1, sizeof(*files));
	/* Kept ascending (= tree order); discovery usually claims in order,
	 * so the append is the common case. */
	pos = u->n_files;
	while (pos > 0 && files[pos - 1] > file)
		pos--;
	memmove(files + pos + 1, files + pos, (u->n_files - pos) * sizeof(*files));
	files[pos] = file;
	u->files = files;
	u->n_files++;
	u->bytes += size;
	t->unit_of_file[file] = unit;
	return LK_OK;
}

void lk_plan_init(struct lk_plan *plan, const char *strategy)
{
	memset(plan, 0, sizeof(*plan));
	plan->strategy = lk_xstrdup(strategy ? strategy : "?");
}

static void plan_layer_release(struct lk_plan_layer *l)
{
	free(l->name);
	free(l->reason);
	for (size_t i = 0; i < l->n_units; i++)
		free(l->unit_reasons[i]);
	free(l->units);
	free(l->unit_reasons);
	free(l->extra_files);
	free(l->files);
}

void lk_plan_release(struct lk_plan *plan)
{
	for (size_t i = 0; i < plan->n_layers; i++)
		plan_layer_release(&plan->layers[i]);
	free(plan->layers);
	free(plan->strategy);
	memset(plan, 0, sizeof(*plan));
}

int lk_plan_add_layer(struct lk_plan *plan, const char *name, const char *reason)
{
	struct lk_plan_layer *l;

	if (!name)
		return LK_FAILED;
	/* Far above any budget: the check reports the count, this only keeps
	 * a runaway strategy from exhausting memory. */
	if (plan->n_layers >= 65536)
		return LK_FAILED;
	lk_grow((void **)&plan->layers, &plan->cap_layers, plan->n_layers + 1,
		sizeof(*plan->layers));
	l = &plan->layers[plan->n_layers];
	memset(l, 0, sizeof(*l));
	l->name = lk_xstrdup(name);
	l->reason = lk_xstrdup(reason ? reason : "");
	return (int)plan->n_layers++;
}

int lk_plan_add_unit(struct lk_plan *plan, int layer, uint32_t unit, const char *reason)
{
	struct lk_plan_layer *l;
	size_t cap;

	if (layer < 0 || (size_t)layer >= plan->n_layers)
		return LK_FAILED;
	l = &plan->layers[layer];
	cap = l->cap_units;
	lk_grow((void **)&l->units, &cap, l->n_units + 1, sizeof(*l->units));
	if (cap != l->cap_units) {
		l->unit_reasons = lk_xrealloc(l->unit_reasons, cap * sizeof(*l->unit_reasons));
		l->cap_units = cap;
	}
	l->units[l->n_units] = unit;
	l->unit_reasons[l->n_units] = reason ? lk_xstrdup(reason) : NULL;
	l->n_units++;
	return LK_OK;
}

int lk_plan_add_file(struct lk_plan *plan, int layer, uint32_t file)
{
	struct lk_plan_layer *l;

	if (layer < 0 || (size_t)layer >= plan->n_layers)
		return LK_FAILED;
	l = &plan->layers[layer];
	lk_grow((void **)&l->extra_files, &l->cap_extra_files, l->n_extra_files + 1,
		sizeof(*l->extra_files));
	l->extra_files[l->n_extra_files++] = file;
	return LK_OK;
}

#define PLAN_ERROR(err, plan, fmt, ...) \
	lk_error_set(err, LK_EXIT_BUILD, "strategy '%s' returned an invalid plan: " fmt, \
		     (plan)->strategy, __VA_ARGS__)

/* Puts file in layer; fails when another layer (or this one) has it. */
static int place_file(struct lk_plan *plan, const struct lk_unit_table *units,
		      const struct lk_tree *tree, int32_t *layer_of_file,
		      uint32_t file, size_t layer, struct lk_error *err)
{
	int32_t prev = layer_of_file[file];

	if (prev < 0) {
		layer_of_file[file] = (int32_t)layer;
		return LK_OK;
	}
	if ((size_t)prev == layer)
		return PLAN_ERROR(err, plan, "file '%s' is twice in layer '%s'; "
				  "this is a bug in the strategy, report it to its author",
				  tree->files[file].path, plan->layers[layer].name);
	return PLAN_ERROR(err, plan, "file '%s'%s%s%s is in two layers ('%s' and '%s'); "
			  "this is a bug in the strategy, report it to its author",
			  tree->files[file].path,
			  units && units->unit_of_file[file] >= 0 ? " (unit '" : "",
			  units && units->unit_of_file[file] >= 0 ?
			  units->units[units->unit_of_file[file]].name : "",
			  units && units->unit_of_file[file] >= 0 ? "')" : "",
			  plan->layers[prev].name, plan->layers[layer].name);
}

/* Every file of the tree, in tree order, into the layer that holds it. */
static void fill_layers(struct lk_plan *plan, const struct lk_tree *tree,
			const int32_t *layer_of_file)
{
	for (size_t i = 0; i < plan->n_layers; i++) {
		free(plan->layers[i].files);
		plan->layers[i].files = NULL;
		plan->layers[i].n_files = 0;
		plan->layers[i].bytes = 0;
	}
	for (size_t f = 0; f < tree->n_files; f++)
		plan->layers[layer_of_file[f]].n_files++;
	for (size_t i = 0; i < plan->n_layers; i++) {
		struct lk_plan_layer *l = &plan->layers[i];

		l->files = lk_xmalloc((l->n_files ? l->n_files : 1) * sizeof(*l->files));
		l->n_files = 0;
	}
	for (size_t f = 0; f < tree->n_files; f++) {
		struct lk_plan_layer *l = &plan->layers[layer_of_file[f]];

		l->files[l->n_files++] = (uint32_t)f;
		l->bytes += tree->files[f].size;
	}
}

int lk_plan_check(struct lk_plan *plan, const struct lk_unit_table *units,
		  const struct lk_tree *tree, uint32_t max_layers,
		  struct lk_error *err)
{
	uint32_t limit = max_layers ? max_layers : LK_MAX_LAYERS_DEFAULT;
	int32_t *layer_of_unit = NULL, *layer_of_file = NULL;
	size_t n_units = units ? units->n_units : 0;
	int ret = LK_FAILED;

	if (limit > LK_MAX_LAYERS_CAP)
		limit = LK_MAX_LAYERS_CAP;
	if (!plan->n_layers)
		return PLAN_ERROR(err, plan, "%s", "no layers; a plan needs at least one "
				  "layer (is the tree empty?)");
	if (plan->n_layers > limit)
		return PLAN_ERROR(err, plan, "%zu layers, more than max_layers = %u; lower "
				  "the strategy's layer count or raise max_layers (at most %d)",
				  plan->n_layers, limit, LK_MAX_LAYERS_CAP);
	for (size_t i = 0; i < plan->n_layers; i++) {
		if (!plan->layers[i].name[0])
			return PLAN_ERROR(err, plan, "layer %zu has an empty name; give "
					  "every layer a name", i + 1);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(plan->layers[i].name, plan->layers[j].name))
				return PLAN_ERROR(err, plan, "two layers are named '%s' "
						  "(layers %zu and %zu); layer names must "
						  "be unique", plan->layers[i].name, j + 1, i + 1);
	}

	layer_of_unit = lk_xmalloc((n_units ? n_units : 1) * sizeof(*layer_of_unit));
	for (size_t u = 0; u < n_units; u++)
		layer_of_unit[u] = -1;
	layer_of_file = lk_xmalloc((tree->n_files ? tree->n_files : 1) * sizeof(*layer_of_file));
	for (size_t f = 0; f < tree->n_files; f++)
		layer_of_file[f] = -1;

	for (size_t i = 0; i < plan->n_layers; i++) {
		const struct lk_plan_layer *l = &plan->layers[i];

		for (size_t k = 0; k < l->n_units; k++) {
			uint32_t u = l->units[k];
			const struct lk_unit *unit;

			if (u >= n_units) {
				PLAN_ERROR(err, plan, "layer '%s' names unit %u, but there "
					   "are only %zu units", l->name, u, n_units);
				goto out_free;
			}
			unit = &units->units[u];
			if (layer_of_unit[u] == (int32_t)i) {
				PLAN_ERROR(err, plan, "unit '%s' is twice in layer '%s'; "
					   "add each unit once", unit->name, l->name);
				goto out_free;
			}
			if (layer_of_unit[u] >= 0) {
				PLAN_ERROR(err, plan, "unit '%s' is in two layers ('%s' and "
					   "'%s'); put each unit in one layer", unit->name,
					   plan->layers[layer_of_unit[u]].name, l->name);
				goto out_free;
			}
			layer_of_unit[u] = (int32_t)i;
			for (size_t n = 0; n < unit->n_files; n++) {
				if (unit->files[n] >= tree->n_files) {
					PLAN_ERROR(err, plan, "unit '%s' holds file %u, but the "
						   "tree has only %zu files", unit->name,
						   unit->files[n], tree->n_files);
					goto out_free;
				}
				if (place_file(plan, units, tree, layer_of_file,
					       unit->files[n], i, err) != LK_OK)
					goto out_free;
			}
		}
		for (size_t k = 0; k < l->n_extra_files; k++) {
			uint32_t f = l->extra_files[k];

			if (f >= tree->n_files) {
				PLAN_ERROR(err, plan, "layer '%s' names file %u, but the tree "
					   "has only %zu files", l->name, f, tree->n_files);
				goto out_free;
			}
			if (place_file(plan, units, tree, layer_of_file, f, i, err) != LK_OK)
				goto out_free;
		}
	}

	for (size_t f = 0; f < tree->n_files; f++) {
		size_t missing = 0;
		int32_t u;

		if (layer_of_file[f] >= 0)
			continue;
		for (size_t g = f; g < tree->n_files; g++)
			missing += layer_of_file[g] < 0;
		u = units && f < units->n_files ? units->unit_of_file[f] : -1;
		PLAN_ERROR(err, plan, "file '%s'%s%s%s is in no layer (%zu file%s missing); "
			   "every file of every unit must be in exactly one layer",
			   tree->files[f].path, u >= 0 ? " (unit '" : "",
			   u >= 0 ? units->units[u].name : "", u >= 0 ? "')" : "",
			   missing, missing == 1 ? "" : "s");
		goto out_free;
	}

	fill_layers(plan, tree, layer_of_file);
	for (size_t i = 0; i < plan->n_layers; i++) {
		if (!plan->layers[i].n_files) {
			PLAN_ERROR(err, plan, "layer '%s' is empty%s; leave out layers "
				   "that would hold no files", plan->layers[i].name,
				   tree->n_files ? "" : " (the scanned tree has no files)");
			goto out_free;
		}
	}
	ret = LK_OK;
out_free:
	free(layer_of_file);
	free(layer_of_unit);
	return ret;
}
