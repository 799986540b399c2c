/* scan.h - walks an application's root into a sorted struct lk_tree. */
#ifndef LK_SCAN_H
#define LK_SCAN_H

#include "common.h"

enum lk_bad_link_policy {
	LK_BAD_LINK_ERROR = 0,	/* dangling link or loop: error naming the path */
	LK_BAD_LINK_SKIP  = 1,	/* skip it with a warning */
};

enum lk_special_policy {
	LK_SPECIAL_SKIP  = 0,	/* FIFOs, sockets, devices: skipped with a warning */
	LK_SPECIAL_ERROR = 1,
};

struct lk_scan_opts {
	enum lk_bad_link_policy bad_links;
	enum lk_special_policy special_files;
	/* fnmatch(3) patterns on the relative path.  "name/" matches a
	 * directory (and all below it) anywhere; a pattern without '/' matches
	 * the last component anywhere; one with '/' matches the whole path. */
	const char *const *excludes;
	size_t n_excludes;
	/* When n_top_entries > 0, only these top-level entries are scanned. */
	const char *const *top_entries;
	size_t n_top_entries;
};

/* What the core keeps of each file beyond the public view (cache stamps,
 * hard-link detection).  Parallel to tree.files. */
struct lk_file_stat {
	uint64_t dev;
	uint64_t ino;
	int64_t mtime_ns;
	int64_t ctime_ns;
	uint32_t nlink;
};

struct lk_scan {
	struct lk_tree tree;		/* public view; tree.files == files */
	struct lk_file *files;		/* sorted with lk_path_cmp */
	struct lk_file_stat *stats;	/* parallel to files */
	size_t n_files;
	char *root;			/* absolute, no trailing '/' */
	int root_fd;			/* O_DIRECTORY of root, or -1 */
	char **excluded;		/* relative paths excluded by a pattern */
	size_t n_excluded;
	char **skipped;			/* relative paths skipped with a warning */
	size_t n_skipped;
	uint64_t total_bytes;
	void *arena;			/* string storage, private */
};

/*
 * Scans root.  Relative symlinks whose target stays inside the root are
 * kept as links; every other link is followed (its target's content is
 * stored under the link's path; a directory is descended).  Dangling links
 * and loops follow opts->bad_links.  On failure the scan is released and
 * err names the path and what to do.  Release with lk_scan_release.
 */
int lk_scan_tree(const char *root, const struct lk_scan_opts *opts,
		 struct lk_scan *out, struct lk_error *err);
void lk_scan_release(struct lk_scan *scan);

/* The pattern of opts->excludes that excludes path (relative to the root),
 * or NULL: with dir_patterns the "name/" patterns (path is a directory),
 * else the others.  The scan's own rule, for `plan --explain`. */
const char *lk_scan_exclude_pattern(const struct lk_scan_opts *opts, const char *path,
				    int dir_patterns);

/* Index of an exact path, or -1 (binary search). */
long lk_scan_find(const struct lk_scan *scan, const char *path);
/* The entries [*lo, *hi) that are dir or below it ("" = every entry). */
void lk_scan_find_below(const struct lk_scan *scan, const char *dir, size_t *lo, size_t *hi);

/* Opens a regular file of the tree for reading (links followed).  Returns
 * an fd the caller closes, or -1 with errno set: EINVAL for a bad index or
 * an entry that is (or has become) neither a regular file nor a directory,
 * EISDIR for a directory; a FIFO put in its place never blocks the open.
 * Thread-safe. */
int lk_scan_open(const struct lk_scan *scan, uint32_t index);

#endif
