/* config.h - layering.ini, read with inih, with file:line in every error. */
#ifndef LK_CONFIG_H
#define LK_CONFIG_H

#include "common.h"

/* One "key = value" as written, with where it was written. */
struct lk_conf_value {
	char *key;
	char *value;
	int line;			/* 0 = given on the command line */
};

/* A [strategy.NAME] or [discovery.NAME] section: that plugin's options. */
struct lk_plugin_section {
	char *kind;			/* "strategy" or "discovery" */
	char *name;
	int line;
	struct lk_conf_value *values;
	size_t n_values;
};

enum lk_compression {
	LK_COMPRESS_NONE = 0,
	LK_COMPRESS_GZIP = 1,
	LK_COMPRESS_ZSTD = 2,
};

struct lk_string_list {
	char **items;
	size_t n;
};

/* One [app.NAME] section, with the global defaults already applied. */
struct lk_app {
	char *name;
	int line;			/* 0 = made from command-line flags */
	char *root;			/* absolute or relative to the config file's dir, resolved */
	char *discovery;		/* default "generic-dir" */
	char *strategy;			/* default "two-layer" */
	char *output;			/* default <global output>/<name> ("out/oci" for a CLI-only app) */
	char *tag;			/* default "latest" */
	char *prefix;			/* where the tree lands, normalised: "app", "" = image root; default "app" */
	char *workdir;			/* NULL = unset; default "/" + prefix */
	char *user;			/* numeric "uid[:gid]"; NULL = unset */
	int has_entrypoint, has_cmd;
	struct lk_string_list entrypoint, cmd;	/* JSON array or whitespace-separated words */
	struct lk_string_list env;		/* "KEY=VALUE", from env.KEY keys, in file order */
	struct lk_string_list label_keys, label_values; /* from label.KEY keys */
	struct lk_string_list exclude;		/* global exclude + the app's */
	uint32_t max_layers;
	char *shared_store;		/* image path of the shared store, normalised
					 * ("opt/layerkit/store"); NULL = off (core/share.h) */
	int workdir_set;		/* workdir was written (else a base image's is inherited) */
	char *base;			/* base image: layout DIR[:TAG] or registry reference; NULL = none */
	char *platform;			/* "os/arch[/variant]" to take from the base; NULL = the image's */
	char *image_name;		/* docker-archive RepoTags name; NULL = the app's name */
	int format;			/* enum lk_output_format; -1 = the global's */
	char *archive;			/* docker-archive tar path; default <output>.tar */
	/* "strategy.KEY = V" / "discovery.KEY = V" in the app section: overrides
	 * of the plugin sections for this app. */
	struct lk_conf_value *strategy_opts;
	size_t n_strategy_opts;
	struct lk_conf_value *discovery_opts;
	size_t n_discovery_opts;
};

/* What `build` writes: the OCI layout only, or also a docker-archive tar
 * (core/archive_out.h). */
enum lk_output_format {
	LK_FORMAT_OCI = 0,
	LK_FORMAT_DOCKER_ARCHIVE = 1,
};

/* The [layerkit] section. */
struct lk_global {
	struct lk_string_list plugin_path;	/* ':'-separated in the file */
	char *output;				/* default "out" */
	enum lk_compression compression;	/* default gzip */
	int compression_level;			/* -1 = the compressor's default */
	int64_t mtime;				/* default SOURCE_DATE_EPOCH or 0 */
	unsigned jobs;				/* 0 = number of CPUs */
	char *cache_dir;			/* NULL = $XDG_CACHE_HOME/layerkit */
	int verify;				/* enum lk_verify: "stat" (default) or "content" */
	char *architecture, *os;		/* NULL = the host's */
	int bad_links;				/* enum lk_bad_link_policy */
	int special_files;			/* enum lk_special_policy */
	int keep_setuid;
	struct lk_string_list exclude;		/* default ".git/" ... */
	uint32_t max_layers;			/* default 100, at most 127 */
	char *shared_store;			/* default of the apps' shared_store; NULL = off */
	int format;				/* enum lk_output_format; default oci */
	int insecure;				/* plain HTTP to loopback registries (--insecure), for bases */
};

struct lk_config {
	char *path;			/* NULL when defaults only */
	char *dir;			/* directory relative paths are resolved against */
	struct lk_global global;
	struct lk_app *apps;
	size_t n_apps;
	struct lk_plugin_section *plugins;
	size_t n_plugins;
};

/* Fills defaults (SOURCE_DATE_EPOCH honoured); no file read. */
void lk_config_init(struct lk_config *cfg);
/*
 * Reads path into cfg (after lk_config_init).  Every error is
 * "PATH:LINE: what is wrong; what to do" with exit code LK_EXIT_USAGE.
 */
int lk_config_load(struct lk_config *cfg, const char *path, struct lk_error *err);
/* Adds an app made from command-line flags (root set, the rest defaults). */
struct lk_app *lk_config_add_app(struct lk_config *cfg, const char *name, const char *root);
/* The app named name, or NULL. */
struct lk_app *lk_config_find_app(struct lk_config *cfg, const char *name);
/* The [kind.name] section, or NULL. */
const struct lk_plugin_section *lk_config_plugin_section(const struct lk_config *cfg,
							 const char *kind, const char *name);
void lk_config_release(struct lk_config *cfg);

void lk_string_list_push(struct lk_string_list *l, const char *s);
void lk_string_list_release(struct lk_string_list *l);

#endif
