/* analyze.h - `layerkit analyze`: every installed strategy's plan of one app, measured without building. */
#ifndef LK_ANALYZE_H
#define LK_ANALYZE_H

#include <jansson.h>
#include <stdio.h>
#include "build.h"

/* A tree at most this big (the dependency layer of the fewest-layer plan)
 * makes finer layers pointless: a bump re-pushes a few seconds' worth. */
#define LK_ANALYZE_SMALL_DEPS (16ull * 1024 * 1024)
/* Fewer packages than this: few packages, nothing to split. */
#define LK_ANALYZE_FEW_PACKAGES 4
/* Bump medians within this factor of the best count as equal (the fewer
 * layers win). */
#define LK_ANALYZE_CLOSE 1.10

/* The text lists this many units, largest first (all with -v). */
#define LK_ANALYZE_UNITS_SHOWN 30

/* One strategy's plan of the app, measured. */
struct lk_analyze_plan {
	char *strategy;
	char *error;			/* it could not plan the app: why; NULL = planned */
	int configured;			/* the app's own strategy */
	size_t n_layers;
	uint64_t tar_bytes;		/* the image: uncompressed tar bytes of every layer */
	/* A one-package bump rebuilds the layers holding that package. */
	size_t n_packages;
	uint64_t bump_median, bump_max;
	size_t bump_layers_max;
	char *bump_max_package;		/* the package of bump_max */
	/* An app change rebuilds the layers holding app units. */
	uint64_t app_bytes;
	size_t app_layers;
};

/* Every installed strategy's plan of one app, and the pick among them. */
struct lk_analysis {
	struct lk_analyze_plan *plans;	/* by strategy name */
	size_t n_plans;
	long recommended;		/* index in plans, -1 when none planned */
	char *reason;			/* why, one sentence */
	long fewest;			/* the plan with the fewest layers (-1: none) */
	/* Sizes of the package units, ascending. */
	uint64_t *package_bytes;
	size_t n_packages;
};

/*
 * The bytes of the uncompressed tar the writer makes of one layer's files
 * at prefix: 512-byte headers, content padded to 512, one header per parent
 * directory, PAX extended headers where ustar cannot hold a name, link or
 * size (libarchive's pax_restricted rules), hard links within the layer,
 * and the two end blocks.  Computed from the scan, without reading files.
 */
uint64_t lk_analyze_layer_tar_bytes(const struct lk_scan *scan, const uint32_t *files,
				    size_t n_files, const char *prefix);

/* Measures a checked plan of the app's units (pure arithmetic; strategy
 * and error are left alone). */
void lk_analyze_plan_measure(struct lk_analyze_plan *m, const struct lk_scan *scan,
			     const struct lk_unit_table *units, const struct lk_plan *plan,
			     const char *prefix);

/* Picks the recommended plan of a and writes its reason (see
 * docs/choosing-a-strategy.md for the rule); budget = the app's max_layers. */
void lk_analyze_recommend(struct lk_analysis *a, uint32_t budget);

/*
 * Plans a prepared app (run->planned >= 1) with every strategy found in
 * dirs (options from the config; the app's strategy.KEY overrides only
 * for its own strategy), measures each and recommends one.  A strategy
 * that cannot plan the app is reported in its row, not as an error.
 * Release with lk_analysis_release.
 */
void lk_analyze_app(struct lk_analysis *a, const struct lk_app_run *run,
		    const struct lk_plugin_dirs *dirs);
void lk_analysis_release(struct lk_analysis *a);

void lk_analysis_print(FILE *out, const struct lk_analysis *a, const struct lk_app_run *run);
/* A new JSON object (the caller owns the reference). */
json_t *lk_analysis_json(const struct lk_analysis *a, const struct lk_app_run *run);

/* The median of n sorted values (the mean of the middle two for even n; 0 for none). */
uint64_t lk_analyze_median(const uint64_t *sorted, size_t n);

#endif
