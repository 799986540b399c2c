/* build.h - one app from config to image: plugins, scan, units, plan, layers, OCI output. */
#ifndef LK_BUILD_H
#define LK_BUILD_H

#include "base.h"
#include "cache.h"
#include "common.h"
#include "config.h"
#include "loader.h"
#include "model.h"
#include "scan.h"
#include "writer.h"

#include <stdio.h>

/* Everything known about one app once it is planned.  Release with
 * lk_app_run_release. */
struct lk_app_run {
	const struct lk_config *config;
	const struct lk_app *app;
	struct lk_plugin discovery;
	struct lk_plugin strategy;
	struct lk_options discovery_opts;
	struct lk_options strategy_opts;
	struct lk_scan scan;
	struct lk_unit_table units;
	struct lk_plan plan;
	int planned;			/* scan, units and plan are valid */
	int64_t scan_started_ns;	/* wall clock before the scan, for racy stamps */
	int has_base;			/* base is resolved (app->base, at LK_STAGE_PLAN) */
	struct lk_base base;
};

/* Loads the app's plugins and resolves their options; with stop_after ==
 * LK_STAGE_DISCOVER also scans and discovers, with LK_STAGE_PLAN also plans. */
enum lk_stage {
	LK_STAGE_PLUGINS = 0,
	LK_STAGE_DISCOVER = 1,
	LK_STAGE_PLAN = 2,
};

int lk_app_run_prepare(struct lk_app_run *run, const struct lk_config *config,
		       const struct lk_app *app, const struct lk_plugin_dirs *dirs,
		       enum lk_stage stop_after, struct lk_error *err);
void lk_app_run_release(struct lk_app_run *run);

/* What a build produced. */
struct lk_build_result {
	char manifest_digest[LK_DIGEST_LEN];
	uint64_t manifest_size;
	size_t n_layers;
	uint64_t image_bytes;		/* sum of the layer blobs */
	uint64_t tar_bytes;		/* sum of the layer tars */
	size_t layers_built;		/* written now */
	size_t layers_reused;		/* taken from the layer cache */
	uint64_t tar_bytes_built;	/* tar bytes of the layers written now */
	size_t base_layers;		/* of n_layers, from the base image */
	size_t base_pulled_blobs;	/* downloaded from its registry (0: all cached) */
	uint64_t base_pulled_bytes;
	double seconds;
};

/* Build settings beyond the config. */
struct lk_build_opts {
	struct lk_cache *cache;		/* NULL = no layer cache */
	enum lk_verify verify;
	FILE *progress;			/* where to draw progress (a terminal), NULL = none */
};

/* Writes the planned app as an OCI layout at app->output (atomically). */
int lk_app_run_build(struct lk_app_run *run, const struct lk_build_opts *bopts,
		     struct lk_build_result *result, struct lk_error *err);

/* The writer settings the config gives for an app. */
void lk_layer_opts_from_config(struct lk_layer_opts *opts, const struct lk_config *config,
			       const struct lk_app *app);

/* "12.3 MiB" etc. into buf. */
const char *lk_human_bytes(uint64_t n, char *buf, size_t len);

#endif
