/* model.h - units and layer plans as the core keeps them, and the plan check. */
#ifndef LK_MODEL_H
#define LK_MODEL_H

#include "common.h"

/* Units built by a discovery plugin through the host services. */
struct lk_unit_table {
	struct lk_unit *units;		/* public view; strings and files owned here */
	size_t n_units, cap_units;
	size_t *files_cap;		/* capacity of each units[i].files */
	int32_t *unit_of_file;		/* per tree file: unit index or -1 */
	size_t n_files;
};

void lk_unit_table_init(struct lk_unit_table *t, size_t n_files);
void lk_unit_table_release(struct lk_unit_table *t);
/* Returns the new unit's index; copies the strings. */
int lk_unit_table_add(struct lk_unit_table *t, uint32_t kind, const char *name,
		      const char *version, const char *origin);
/* Claims file for unit; LK_FAILED when the file already has a unit. */
int lk_unit_table_claim(struct lk_unit_table *t, int unit, uint32_t file, uint64_t size);

/* One layer of a plan. */
struct lk_plan_layer {
	char *name;
	char *reason;
	uint32_t *units;		/* unit indices, in the order added */
	char **unit_reasons;		/* parallel to units; may hold NULL */
	size_t n_units, cap_units;
	uint32_t *extra_files;		/* single files added with layer_add_file */
	size_t n_extra_files, cap_extra_files;
	/* Filled by lk_plan_check: every file of the layer, in tree order. */
	uint32_t *files;
	size_t n_files;
	uint64_t bytes;
};

struct lk_plan {
	char *strategy;			/* name of the strategy that made it */
	struct lk_plan_layer *layers;
	size_t n_layers, cap_layers;
};

void lk_plan_init(struct lk_plan *plan, const char *strategy);
void lk_plan_release(struct lk_plan *plan);
int lk_plan_add_layer(struct lk_plan *plan, const char *name, const char *reason);
int lk_plan_add_unit(struct lk_plan *plan, int layer, uint32_t unit, const char *reason);
int lk_plan_add_file(struct lk_plan *plan, int layer, uint32_t file);

/*
 * Checks a plan against the units and the tree, and fills each layer's
 * files (tree order) and bytes.  Rejects, naming the strategy: no layer,
 * an unknown unit or file, a unit or file in two layers, a file in no
 * layer, an empty layer, a duplicate layer name, more than max_layers.
 */
int lk_plan_check(struct lk_plan *plan, const struct lk_unit_table *units,
		  const struct lk_tree *tree, uint32_t max_layers,
		  struct lk_error *err);

#endif
