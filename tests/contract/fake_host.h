/*
 * fake_host.h - an in-memory struct lk_host for plugin contract tests.
 *
 * It loads a plugin .so the way layerkit does (dlopen, the one entry symbol,
 * the ABI checks), runs discover() or plan() against trees and unit sets
 * built in memory, and records what the plugin did: units and claims, the
 * layer plan, the error it set, its log lines, and every breach of the
 * contract it saw (a strategy reading files, an undeclared option key, an
 * option read with the wrong type, a bad layer or unit id).  Nothing of the
 * real core is needed except the value parsers of core/common.c, so option
 * values are read exactly as the real host reads them.
 */
#ifndef FAKE_HOST_H
#define FAKE_HOST_H

#include <stddef.h>
#include <stdint.h>
#include "layerkit/plugin.h"

/* ---- trees ------------------------------------------------------------ */

/* A tree built in memory.  Strings are owned by it; release with
 * fake_tree_release. */
struct fake_tree {
	struct lk_tree tree;		/* public view, valid after fake_tree_finish */
	struct lk_file *files;
	char **contents;		/* parallel to files; NULL = no content given */
	size_t n_files, cap_files;
};

void fake_tree_init(struct fake_tree *t, const char *root);
/* Adds one entry.  With content, size is strlen(content) and read_file
 * returns it; without, size is taken as given and read_file returns zeros. */
void fake_tree_add(struct fake_tree *t, const char *path, uint32_t type, uint64_t size,
		   const char *content);
/* Sorts the entries as the core does (component by component). */
void fake_tree_finish(struct fake_tree *t);
void fake_tree_release(struct fake_tree *t);

/* ---- unit sets ---------------------------------------------------------- */

/* What a synthetic unit is; the unit set turns it into files and a unit. */
struct fake_unit_desc {
	uint32_t kind;
	const char *name;
	const char *version;
	uint64_t bytes;
};

/* A unit set built from descriptions: each unit gets two files under
 * "<kind>/<name>/" that share its bytes.  Owns everything it points to. */
struct fake_unit_set {
	struct lk_unit_set set;		/* public view handed to plan() */
	struct fake_tree tree;
	struct lk_unit *units;
	uint32_t *file_store;
};

void fake_unit_set_init(struct fake_unit_set *s, const struct fake_unit_desc *descs,
			size_t n, uint32_t max_layers);
void fake_unit_set_release(struct fake_unit_set *s);

/* ---- plans -------------------------------------------------------------- */

struct fake_layer {
	char *name;
	char *reason;
	uint32_t *units;		/* unit indices, in the order added */
	char **unit_reasons;		/* parallel to units */
	size_t n_units;
	uint32_t *files;		/* single files added with layer_add_file */
	size_t n_files;
};

/* A plan as a strategy built it.  Owned by whoever holds it; release with
 * fake_plan_release. */
struct fake_plan {
	struct fake_layer *layers;
	size_t n_layers;
};

void fake_plan_release(struct fake_plan *plan);
/* 1 when both plans have the same layers, names, reasons and members in
 * the same order. */
int fake_plan_equal(const struct fake_plan *a, const struct fake_plan *b);
/* Index of the layer holding unit u, or -1. */
long fake_plan_layer_of(const struct fake_plan *plan, uint32_t unit);
/* Index of the layer named name, or -1. */
long fake_plan_find(const struct fake_plan *plan, const char *name);

/*
 * Checks what the host checks after plan(): every unit in exactly one layer
 * (and no stray file), no empty layer, unique non-empty names, at most
 * max_layers layers, at least one layer when there are units.  Returns 0,
 * or -1 with the reason in msg.
 */
int fake_plan_verify(const struct fake_plan *plan, const struct lk_unit_set *set,
		     char *msg, size_t msg_len);

/*
 * How many layers changed between two plans of related unit sets, as a
 * registry sees it: a layer is identified by its content (the names,
 * versions and sizes of its units), so the count is the larger of "layers
 * of b whose content a does not have" (to push) and "layers of a whose
 * content b does not have" (gone).
 */
size_t fake_plan_changed_layers(const struct fake_plan *a, const struct lk_unit_set *sa,
				const struct fake_plan *b, const struct lk_unit_set *sb);

/* ---- plugins ------------------------------------------------------------ */

enum fake_plugin_kind {
	FAKE_DISCOVERY = 0,
	FAKE_STRATEGY  = 1,
};

/* A loaded plugin; release with fake_plugin_close (dlclose). */
struct fake_plugin {
	void *handle;
	enum fake_plugin_kind kind;
	const struct lk_discovery *discovery;
	const struct lk_strategy *strategy;
	/* Common descriptor fields, whatever the kind. */
	uint32_t abi_major, abi_minor, struct_size;
	const char *name, *description, *version;
	const struct lk_option_spec *options;
};

/*
 * dlopens path (RTLD_NOW | RTLD_LOCAL), finds the entry symbol of either
 * kind and checks abi_major and struct_size as the host does.  Returns 0,
 * or -1 with the reason in err (dlerror() included).
 */
int fake_plugin_open(struct fake_plugin *p, const char *path, char *err, size_t err_len);
void fake_plugin_close(struct fake_plugin *p);

/* ---- the host ----------------------------------------------------------- */

#define FAKE_MAX_OPTIONS 32
#define FAKE_MAX_LOGS    64

/*
 * The host side of one plugin call and its results.  The fake host passes
 * a pointer to this struct as the opaque struct lk_ctx.  Strings in it are
 * owned by it; release with fake_host_release.
 */
struct fake_host {
	struct lk_host services;	/* the table handed to the plugin */

	/* Option values "as written" (fake_host_set_option), read through the
	 * specs of the plugin being run. */
	char *option_keys[FAKE_MAX_OPTIONS];
	char *option_values[FAKE_MAX_OPTIONS];
	size_t n_options;

	/* State of the current call. */
	const struct fake_plugin *plugin;
	const struct lk_tree *tree;
	const char *const *contents;	/* of tree's files, or NULL */
	int in_plan;			/* 1 while a strategy runs */
	char **scratch;			/* strings handed out until the call ends */
	size_t n_scratch;

	/* Discovery results. */
	struct lk_unit *units;
	size_t n_units, cap_units;
	size_t *unit_files_cap;
	int32_t *unit_of_file;

	/* Strategy results. */
	struct fake_plan plan;

	/* What the plugin reported, and what it did wrong. */
	char error[1024];
	int has_error;
	char *logs[FAKE_MAX_LOGS];
	int log_levels[FAKE_MAX_LOGS];
	size_t n_logs;
	size_t n_warnings;
	char violation[1024];		/* the first breach of the contract seen */
	size_t n_violations;
	size_t n_tree_reads;		/* find_file/read_file calls */
};

void fake_host_init(struct fake_host *fh);
/* Forgets the results of the last call (units, plan, error, logs,
 * violations) but keeps the options. */
void fake_host_reset(struct fake_host *fh);
void fake_host_release(struct fake_host *fh);

/* Sets an option as a user would write it in [strategy.NAME].  Replaces
 * an earlier value of the same key; value NULL removes it. */
void fake_host_set_option(struct fake_host *fh, const char *key, const char *value);

/*
 * Validates the options set against the plugin's specs as the real host
 * does (unknown key, unparseable or out-of-range value, bad default):
 * 0, or -1 with the reason in fh->error.
 */
int fake_host_check_options(struct fake_host *fh, const struct fake_plugin *p);

/*
 * Runs a strategy (init, plan, release) on set; the plan is left in
 * fh->plan.  Returns the plugin's code, or LK_FAILED when the options are
 * invalid.  Results of an earlier call are reset first.
 */
int fake_run_strategy(struct fake_host *fh, const struct fake_plugin *p,
		      const struct lk_unit_set *set);

/*
 * Runs a discovery (init, discover, release) on tree, whose file contents
 * (for read_file) are contents[i] or NULL; the units are left in fh.
 */
int fake_run_discovery(struct fake_host *fh, const struct fake_plugin *p,
		       const struct lk_tree *tree, const char *const *contents);

/* Moves the plan of the last strategy run into *out (the caller releases
 * it with fake_plan_release); fh->plan is left empty. */
void fake_host_take_plan(struct fake_host *fh, struct fake_plan *out);

/* The unit discovery made that holds the file at path, or NULL. */
const struct lk_unit *fake_unit_of_path(const struct fake_host *fh, const char *path);
/* The unit discovery made with that name, or NULL. */
const struct lk_unit *fake_unit_named(const struct fake_host *fh, const char *name);

/* 1 when some log line of at least that severity (ERROR < WARN < ...)
 * contains needle. */
int fake_host_logged(const struct fake_host *fh, int max_level, const char *needle);

#endif
