/* loader.h - finds, dlopens and checks plugins; runs them through the host services. */
#ifndef LK_LOADER_H
#define LK_LOADER_H

#include "common.h"
#include "config.h"
#include "model.h"
#include "scan.h"

enum lk_plugin_kind {
	LK_KIND_DISCOVERY = 0,
	LK_KIND_STRATEGY  = 1,
};

/* "discovery" or "strategy" */
const char *lk_plugin_kind_name(enum lk_plugin_kind kind);

/* A loaded plugin.  Release with lk_plugin_release (dlclose). */
struct lk_plugin {
	enum lk_plugin_kind kind;
	char *name;
	char *path;
	void *handle;
	const struct lk_discovery *discovery;	/* kind == DISCOVERY */
	const struct lk_strategy *strategy;	/* kind == STRATEGY */
	/* Common descriptor fields, whatever the kind. */
	uint32_t abi_major, abi_minor;
	const char *description, *version;
	const struct lk_option_spec *options;
};

/* Directories searched, in order: --plugin-path / config plugin_path,
 * $LAYERKIT_PLUGIN_PATH, the running binary's directory (the build tree),
 * then the installed <libdir>/layerkit. */
struct lk_plugin_dirs {
	struct lk_string_list dirs;
};

void lk_plugin_dirs_init(struct lk_plugin_dirs *dirs, const struct lk_string_list *first);
void lk_plugin_dirs_release(struct lk_plugin_dirs *dirs);

/* Valid plugin names: [a-z0-9-]+, 1..64 characters. */
int lk_plugin_name_valid(const char *name);

/* The file name of a plugin: "lk-<kind>-<name>.so". */
char *lk_plugin_file_name(enum lk_plugin_kind kind, const char *name);

/* Loads the plugin of that kind and name from the first directory that has
 * it.  Errors name the plugin, its path and the reason (dlerror()). */
int lk_plugin_load(const struct lk_plugin_dirs *dirs, enum lk_plugin_kind kind,
		   const char *name, struct lk_plugin *out, struct lk_error *err);
/* Loads one file (used by the above and by `layerkit plugins`). */
int lk_plugin_load_file(const char *path, enum lk_plugin_kind kind,
			const char *name, struct lk_plugin *out, struct lk_error *err);
void lk_plugin_release(struct lk_plugin *plugin);

/* Calls fn for every plugin file found in dirs (shadowed ones included,
 * flagged by shadowed != 0), in search order, sorted by name per directory. */
typedef void (*lk_plugin_visit_fn)(void *arg, enum lk_plugin_kind kind,
				   const char *name, const char *path, int shadowed);
void lk_plugin_visit(const struct lk_plugin_dirs *dirs, lk_plugin_visit_fn fn, void *arg);

/* A plugin's options, resolved from its [kind.NAME] section, the app's
 * overrides and the spec defaults, and validated. */
struct lk_option_value {
	const struct lk_option_spec *spec;
	const char *text;		/* the value as written (or the default); NULL = unset */
	int64_t int_value;
	uint64_t size_value;
	int bool_value;
	struct lk_string_list list;
};

struct lk_options {
	struct lk_option_value *values;
	size_t n;
};

/* Errors: "FILE:LINE: unknown option 'x' for strategy 'y'; it takes: a, b"
 * and bad values with the expected form.  config may be NULL. */
int lk_options_resolve(struct lk_options *out, const struct lk_plugin *plugin,
		       const struct lk_config *config, const struct lk_conf_value *overrides,
		       size_t n_overrides, struct lk_error *err);
void lk_options_release(struct lk_options *opts);

/* Runs discovery: locate (optional), scan, discover, then checks that
 * every file belongs to one unit.  On success scan and units are filled. */
int lk_run_discovery(const struct lk_plugin *plugin, const struct lk_options *opts,
		     const char *root, const struct lk_scan_opts *scan_opts,
		     struct lk_scan *scan, struct lk_unit_table *units,
		     struct lk_error *err);

/* Runs a strategy and checks its plan (lk_plan_check). */
int lk_run_strategy(const struct lk_plugin *plugin, const struct lk_options *opts,
		    const struct lk_scan *scan, const struct lk_unit_table *units,
		    uint32_t max_layers, struct lk_plan *plan, struct lk_error *err);

#endif
