/*
 * layerkit/plugin.h - the one public header layerkit plugins compile against.
 *
 * A plugin is a shared object that exports exactly ONE symbol: the entry
 * function of its kind, whose name carries the ABI major version:
 *
 *     LK_EXPORT const struct lk_discovery *layerkit_discovery_v1(void);
 *     LK_EXPORT const struct lk_strategy  *layerkit_strategy_v1(void);
 *
 * The entry returns a static, constant descriptor.  The host checks
 * abi_major == LK_ABI_MAJOR and struct_size >= the size it needs before it
 * calls anything else, then calls init() (optional), the kind's operation,
 * and release() (optional).  A plugin never links against the host: every
 * service it may use is in the struct lk_host table passed to each call.
 *
 * Data flow of one build:
 *   core scans the root      -> struct lk_tree   (sorted files, read-only)
 *   discovery->discover()    -> units, built through host->unit_add/unit_claim
 *   strategy->plan()         -> layers, built through host->layer_add/layer_add_unit
 *   core checks the plan, then writes tar layers and the OCI image itself.
 *
 * Ownership, in one sentence per API, is stated where each API is declared.
 * The general rule: memory is freed by the side that allocated it.  Strings
 * a plugin passes to the host are copied by the host; pointers the host
 * passes to a plugin stay valid until that plugin call returns (the tree and
 * units stay valid for the whole discover()/plan() call).
 *
 * Return codes are graded as libarchive's: LK_OK, LK_WARN (done, but the
 * host should show the messages logged), LK_FAILED (this operation failed,
 * message set with host->set_error), LK_FATAL (the plugin is unusable).
 */
#ifndef LAYERKIT_PLUGIN_H
#define LAYERKIT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A change of ABI major breaks every plugin; a minor adds fields at the end
 * of structs only (checked through struct_size). */
#define LK_ABI_MAJOR 1
#define LK_ABI_MINOR 0

#define LK_DISCOVERY_ENTRY_SYMBOL "layerkit_discovery_v1"
#define LK_STRATEGY_ENTRY_SYMBOL  "layerkit_strategy_v1"

/* Plugins are built with -fvisibility=hidden; only the entry is exported. */
#define LK_EXPORT __attribute__((visibility("default")))

#if defined(__GNUC__)
#define LK_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define LK_PRINTF(fmt, args)
#endif

/* Graded return codes (libarchive style). */
#define LK_OK       0
#define LK_WARN   (-20)
#define LK_FAILED (-25)
#define LK_FATAL  (-30)

/* Hard limits the host enforces on every plan. */
#define LK_MAX_LAYERS_DEFAULT 100
#define LK_MAX_LAYERS_CAP     127

enum lk_log_level {
	LK_LOG_ERROR = 0,
	LK_LOG_WARN  = 1,
	LK_LOG_INFO  = 2,
	LK_LOG_DEBUG = 3,
};

/* What a unit is; strategies order and group by it. */
enum lk_unit_kind {
	LK_UNIT_INTERPRETER = 0,
	LK_UNIT_PACKAGE     = 1,
	LK_UNIT_SUPPORT     = 2,
	LK_UNIT_APP         = 3,
	LK_UNIT_OTHER       = 4,
	LK_UNIT_KIND_COUNT
};

enum lk_file_type {
	LK_FILE_REGULAR = 1,	/* content is read from the tree (links followed) */
	LK_FILE_SYMLINK = 2,	/* a relative link kept as a link; see link_target */
	LK_FILE_DIR     = 3,	/* an EMPTY directory; parents are implied */
};

/*
 * One entry of the scanned tree.  Parent directories are not listed: the
 * writer emits them.  Symlinks that are followed appear as what they point
 * at (size and mode of the target).  Owned by the host.
 */
struct lk_file {
	const char *path;	 /* relative to the root, '/'-separated, no "./", no ".." */
	const char *link_target; /* LK_FILE_SYMLINK only, else NULL */
	uint64_t size;		 /* bytes of content; 0 for links and dirs */
	uint32_t mode;		 /* permission bits as found (07777), before normalisation */
	uint32_t type;		 /* enum lk_file_type */
};

/*
 * The scanned tree, sorted by path component by component (as if '/' sorted
 * before every other byte), so a directory's entries are contiguous and
 * follow it.  Owned by the host.
 */
struct lk_tree {
	uint32_t struct_size;
	const char *root;	/* the directory that was scanned (for messages) */
	size_t n_files;
	const struct lk_file *files;
};

/* A unit as strategies see it.  Owned by the host. */
struct lk_unit {
	const char *name;	/* e.g. "fastapi", "python3.11", "app" */
	const char *version;	/* "" when unknown, never NULL */
	uint32_t kind;		/* enum lk_unit_kind */
	const char *origin;	/* why discovery made it (rule, dist-info path) */
	uint64_t bytes;		/* sum of its files' sizes */
	size_t n_files;
	const uint32_t *files;	/* indices into tree->files, ascending */
};

/* The input of a strategy.  Units are in discovery order.  Owned by the host. */
struct lk_unit_set {
	uint32_t struct_size;
	const struct lk_tree *tree;
	size_t n_units;
	const struct lk_unit *units;
	uint32_t max_layers;	/* the app's layer budget (<= LK_MAX_LAYERS_CAP) */
};

/* Option types a plugin declares; the host validates config values against
 * them (with file:line in its errors) before the plugin is called. */
enum lk_option_type {
	LK_OPT_STRING = 0,
	LK_OPT_INT    = 1,	/* decimal integer within [min, max] */
	LK_OPT_BOOL   = 2,	/* true/false/yes/no/on/off/1/0 */
	LK_OPT_SIZE   = 3,	/* bytes, with optional K/M/G/KiB/MiB/GiB suffix, within [min, max] */
	LK_OPT_LIST   = 4,	/* comma-separated items, each trimmed */
};

/* A plugin's declared option; arrays end with an entry whose key is NULL. */
struct lk_option_spec {
	const char *key;
	uint32_t type;		 /* enum lk_option_type */
	const char *default_value; /* as it would be written in the INI file; NULL = unset */
	const char *help;	 /* one line, shown by `layerkit plugins -v` */
	int64_t min, max;	 /* for INT and SIZE; min == max == 0 means unbounded */
};

/* Opaque per-call context: the host keeps the error message and the
 * objects being built in it. */
struct lk_ctx;

/*
 * Services the host offers.  Every plugin operation receives this table;
 * a fake host in a test can implement it without the rest of layerkit.
 */
struct lk_host {
	uint32_t abi_major;
	uint32_t abi_minor;
	uint32_t struct_size;

	/* Logging and errors.  The message is copied; set_error replaces the
	 * previous message and the host prefixes it with the plugin's name. */
	void (*log)(struct lk_ctx *ctx, int level, const char *fmt, ...) LK_PRINTF(3, 4);
	void (*set_error)(struct lk_ctx *ctx, const char *fmt, ...) LK_PRINTF(2, 3);

	/* Options, already validated against the plugin's specs.  Unset options
	 * get their default_value.  Returned strings are host-owned and valid
	 * until the plugin call returns; a key the plugin did not declare
	 * yields NULL / 0. */
	const char *(*opt_string)(struct lk_ctx *ctx, const char *key);
	int64_t (*opt_int)(struct lk_ctx *ctx, const char *key);
	int (*opt_bool)(struct lk_ctx *ctx, const char *key);
	uint64_t (*opt_size)(struct lk_ctx *ctx, const char *key);
	size_t (*opt_list_count)(struct lk_ctx *ctx, const char *key);
	const char *(*opt_list_item)(struct lk_ctx *ctx, const char *key, size_t i);

	/* Tree access for discovery.  find_file returns the index of an exact
	 * path or -1.  read_file reads a regular file of the tree (at most
	 * max_bytes, else LK_FAILED with a message) into a host-allocated
	 * buffer, NUL-terminated, that the plugin must give back with
	 * free_buffer. */
	long (*find_file)(struct lk_ctx *ctx, const char *path);
	int (*read_file)(struct lk_ctx *ctx, uint32_t file_index, size_t max_bytes,
			 char **buf, size_t *len);
	void (*free_buffer)(struct lk_ctx *ctx, char *buf);

	/* Building units (discovery only).  unit_add copies its strings and
	 * returns the new unit's id (>= 0) or a negative LK_ code.  unit_claim
	 * gives a file to a unit; a file claimed twice is LK_FAILED.  After
	 * discover() returns, every file must belong to exactly one unit. */
	int (*unit_add)(struct lk_ctx *ctx, uint32_t kind, const char *name,
			const char *version, const char *origin);
	int (*unit_claim)(struct lk_ctx *ctx, int unit, uint32_t file_index);
	/* The unit that holds a file so far, or -1. */
	int (*unit_of)(struct lk_ctx *ctx, uint32_t file_index);

	/* Building the plan (strategies only).  layer_add copies name and
	 * reason and returns the layer id (>= 0, in image order: lowest
	 * first) or a negative LK_ code.  layer_add_unit puts all files of a
	 * unit in a layer, with the reason shown by `plan --explain`;
	 * layer_add_file puts one file (for strategies that split units). */
	int (*layer_add)(struct lk_ctx *ctx, const char *name, const char *reason);
	int (*layer_add_unit)(struct lk_ctx *ctx, int layer, uint32_t unit_index,
			      const char *reason);
	int (*layer_add_file)(struct lk_ctx *ctx, int layer, uint32_t file_index);
};

/* The smallest host table a v1 plugin may be handed. */
#define LK_HOST_MIN_SIZE (offsetof(struct lk_host, layer_add_file) + sizeof(void *))

/*
 * Discovery plugin: turns the scanned tree into units.
 */
struct lk_discovery {
	uint32_t abi_major;	/* LK_ABI_MAJOR */
	uint32_t abi_minor;	/* LK_ABI_MINOR the plugin was built with */
	uint32_t struct_size;	/* sizeof(struct lk_discovery) */
	const char *name;	/* [a-z0-9-]+, equal to the file name's part */
	const char *description;
	const char *version;	/* the plugin's own version */
	const struct lk_option_spec *options;

	/* Optional.  Allocate per-use state in *state (the plugin frees it in
	 * release).  Return LK_OK or LK_FAILED with set_error. */
	int (*init)(const struct lk_host *host, struct lk_ctx *ctx, void **state);
	/* Optional.  Frees what init allocated. */
	void (*release)(void *state);

	/*
	 * Optional.  Given the root the user named, say which directory to
	 * scan and, optionally, which of its top-level entries to include
	 * (e.g. a Bazel launcher "bin/app" -> scan "bin", entries "app" and
	 * "app.runfiles").  Write a host-owned copy with the set_* callbacks;
	 * leaving both untouched scans the root as it is.
	 */
	int (*locate)(const struct lk_host *host, struct lk_ctx *ctx, void *state,
		      const char *root,
		      void (*set_scan_root)(struct lk_ctx *ctx, const char *dir),
		      void (*add_top_entry)(struct lk_ctx *ctx, const char *name));

	/* Required.  Assign every file of the tree to a unit. */
	int (*discover)(const struct lk_host *host, struct lk_ctx *ctx, void *state,
			const struct lk_tree *tree);
};

/*
 * Strategy plugin: a pure function from units to an ordered layer plan.
 * It must not read files or keep state between builds: the same units and
 * options must give the same plan.
 */
struct lk_strategy {
	uint32_t abi_major;
	uint32_t abi_minor;
	uint32_t struct_size;	/* sizeof(struct lk_strategy) */
	const char *name;
	const char *description;
	const char *version;
	const struct lk_option_spec *options;

	int (*init)(const struct lk_host *host, struct lk_ctx *ctx, void **state);
	void (*release)(void *state);

	/* Required.  Build the plan with layer_add / layer_add_unit. */
	int (*plan)(const struct lk_host *host, struct lk_ctx *ctx, void *state,
		    const struct lk_unit_set *units);
};

typedef const struct lk_discovery *(*lk_discovery_entry_fn)(void);
typedef const struct lk_strategy *(*lk_strategy_entry_fn)(void);

/* Human-readable name of a unit kind ("interpreter", "package", ...). */
static inline const char *lk_unit_kind_name(uint32_t kind)
{
	static const char *const names[] = {
		"interpreter", "package", "support", "app", "other",
	};
	return kind < LK_UNIT_KIND_COUNT ? names[kind] : "unknown";
}

#ifdef __cplusplus
}
#endif
#endif /* LAYERKIT_PLUGIN_H */
