/* share.h - the shared store: interpreter and package units at app-independent paths. */
#ifndef LK_SHARE_H
#define LK_SHARE_H

#include "common.h"
#include "model.h"
#include "scan.h"
#include "tar.h"

/*
 * With `shared_store = /opt/layerkit/store`, an interpreter or package unit
 * that has a version is written at
 *
 *     <store>/<kind>-<name>-<version>/<its path below the unit's root>
 *
 * (the unit's root: the longest common directory of its files), and the
 * layer that holds the app gets a relative symlink at each place the unit
 * was taken from (its root, or the largest directories and files below
 * the root that hold nothing else), so the app finds every path it had.
 * A unit's layer then no longer depends on the app's prefix or runfiles
 * names: two apps that put the same unit in a layer of its own get the
 * same layer, byte for byte.
 *
 * A unit stays in place (with the reason kept in why_not) when it has no
 * version, another unit has the same kind, name and version, or one of its
 * relative symlinks points outside what is moved.
 */

/* What happened to one unit. */
struct lk_share_unit {
	char *dir;		/* image path of its store directory, NULL = stays in place */
	char *root;		/* its root in the tree, "" = the tree's root (moved units) */
	char *why_not;		/* interpreter or package units that stay: why */
};

/* One symlink left where a moved unit's files were. */
struct lk_share_link {
	char *name;		/* image path of the link ("app/x.runfiles/repo") */
	char *target;		/* relative, into the store */
	uint32_t unit;
};

/* The store layout of one planned app.  Every string is owned here. */
struct lk_share {
	char *store;			/* normalised image path, e.g. "opt/layerkit/store" */
	char *prefix;			/* the app's prefix, normalised, "" = image root */
	struct lk_share_unit *units;	/* parallel to the unit table */
	size_t n_units, n_moved;
	struct lk_share_link *links;	/* sorted by name */
	size_t n_links;
	size_t link_layer;		/* the plan layer the links go to */
	/* Per plan layer: its entries, sorted by name, or NULL when the
	 * layer holds no moved unit and no link (it is written as before). */
	struct lk_tar_entry **entries;
	size_t *n_entries;
	size_t n_layers;
	char **names;			/* entry names of moved files, per tree file (NULL: not moved) */
	size_t n_files;
};

/*
 * Lays out the store for a planned app: store is the image path (leading
 * '/' optional), prefix the app's.  The links go to the last layer that
 * holds an app unit (else the last layer).  Fails (LK_EXIT_USAGE) when the
 * store is empty or '/', has a '..' component, or a file of the tree
 * would land in or on it.  Release with lk_share_release, also after a
 * failure.
 */
int lk_share_init(struct lk_share *share, const char *store, const char *prefix,
		  const struct lk_scan *scan, const struct lk_unit_table *units,
		  const struct lk_plan *plan, struct lk_error *err);
void lk_share_release(struct lk_share *share);

/* The image path of a tree file: its store path when its unit moved, else
 * prefix/path.  malloc'ed; the caller frees it. */
char *lk_share_image_path(const struct lk_share *share, const struct lk_scan *scan,
			  uint32_t file);

#endif
