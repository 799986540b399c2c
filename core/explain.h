/* explain.h - `layerkit plan --explain PATH...`: where a path of an app went, and why. */
#ifndef LK_EXPLAIN_H
#define LK_EXPLAIN_H

#include <jansson.h>
#include <stdio.h>
#include "build.h"
#include "share.h"

enum lk_explain_kind {
	LK_EXPLAIN_FILE = 0,		/* one entry of the tree */
	LK_EXPLAIN_DIR = 1,		/* a directory: its entries, by unit and layer */
	LK_EXPLAIN_EXCLUDED = 2,	/* left out by an exclude pattern */
	LK_EXPLAIN_SKIPPED = 3,		/* skipped by the scan (a special file, a bad link) */
};

/* The entries of a directory that one unit put in one layer. */
struct lk_explain_group {
	uint32_t unit;
	size_t layer;
	size_t files;
	uint64_t bytes;
};

/* What one path is.  Strings are owned here; release with
 * lk_explain_item_release. */
struct lk_explain_item {
	char *query;			/* as the user wrote it */
	enum lk_explain_kind kind;
	char *path;			/* the tree path it names ("" = the root) */
	/* LK_EXPLAIN_FILE */
	uint32_t file;			/* index in the tree */
	uint32_t unit;
	size_t layer;
	const char *unit_reason;	/* the strategy's words (the plan's), or NULL */
	int single_file;		/* the strategy placed this file alone (layer_add_file) */
	char *image_path;		/* where it is in the image, without the leading '/' */
	const struct lk_share_link *link; /* shared store: the link the app reaches it by */
	/* LK_EXPLAIN_DIR */
	struct lk_explain_group *groups;
	size_t n_groups;
	size_t dir_files;
	uint64_t dir_bytes;
	/* LK_EXPLAIN_EXCLUDED / SKIPPED */
	char *dropped;			/* the excluded or skipped path it is (or is below) */
	const char *pattern;		/* the exclude pattern (the app's), or NULL */
};

/*
 * Finds what query names in a planned app (run->planned == 2): a path
 * relative to the scanned root, a path in the image ("/app/..."), an
 * absolute path below the scanned root, or the unique tree path that
 * ends with "/" + query (e.g. a path inside the runfiles directory).
 * share may be NULL (no shared store).  LK_OK with item filled, or
 * LK_FAILED (LK_EXIT_USAGE) with err saying that nothing is there, or
 * which paths an ambiguous query matches.
 */
int lk_explain_path(const struct lk_app_run *run, const struct lk_share *share,
		    const char *query, struct lk_explain_item *item, struct lk_error *err);
void lk_explain_item_release(struct lk_explain_item *item);

/* The item as text (a few lines) on out. */
void lk_explain_print(FILE *out, const struct lk_app_run *run, const struct lk_share *share,
		      const struct lk_explain_item *item);
/* The item as a JSON object (a new reference). */
json_t *lk_explain_json(const struct lk_app_run *run, const struct lk_share *share,
			const struct lk_explain_item *item);

#endif
