/* tar.h - a reproducible layer tar of scanned files, streamed through a callback (libarchive). */
#ifndef LK_TAR_H
#define LK_TAR_H

#include "common.h"
#include "scan.h"

/* Size of the chunks the tar stream is handed out in (libarchive's block),
 * and of the buffer files are read with. */
#define LK_TAR_BLOCK_SIZE (1024 * 1024)

/*
 * Receives the tar stream, in order, in chunks of up to LK_TAR_BLOCK_SIZE.
 * Returns LK_OK, or LK_FAILED with err set (the tar is then abandoned).
 */
typedef int (*lk_tar_sink_fn)(void *opaque, const void *data, size_t len,
			      struct lk_error *err);

struct lk_tar_opts {
	int64_t mtime;		/* the one mtime of every entry */
	const char *prefix;	/* normalised ("app", "a/b"), "" = image root */
	int keep_setuid;	/* else setuid/setgid/sticky are dropped */
};

/*
 * The permission bits an entry of this type (enum lk_file_type) is stored
 * with: 0755 for directories and files with any x bit, 0644 for other
 * files, 0777 for symlinks; setuid/setgid/sticky only with keep_setuid.
 */
uint32_t lk_tar_mode(uint32_t type, uint32_t mode, int keep_setuid);

/*
 * Checks that path is a relative tree path (no leading '/', no empty, "."
 * or ".." component) and returns prefix + "/" + path (just path when the
 * prefix is ""), malloc'ed; the caller frees it.  NULL when path is bad.
 */
char *lk_tar_entry_name(const char *prefix, const char *path);

/*
 * Checks that a symlink at path (relative to the tree root) with this
 * target stays inside the tree: the target is relative and its ".."
 * never climbs above the root.  Returns 0 when it does, -1 otherwise.
 */
int lk_tar_link_inside(const char *path, const char *target);

/*
 * Writes the tar of files (indices into scan, in tree order) to sink:
 * every parent directory (the prefix's too) once, before its children;
 * normalised metadata (uid/gid 0, empty uname/gname, opts->mtime,
 * lk_tar_mode); a file that shares dev+ino with an earlier file of the
 * list is stored as a hard link to it.  Regular files are read through
 * lk_scan_open(); one whose size differs from the scan fails with an
 * error naming it.  Returns LK_OK or LK_FAILED with err set.  Allocates
 * nothing that outlives the call.
 */
int lk_tar_write(const struct lk_scan *scan, const uint32_t *files, size_t n_files,
		 const struct lk_tar_opts *opts, lk_tar_sink_fn sink, void *opaque,
		 struct lk_error *err);

/* An added symlink in lk_tar_write_entries (no file of the scan behind it). */
#define LK_TAR_LINK UINT32_MAX

/* One entry of a layer whose files do not all land at prefix/path (the
 * shared store, core/share.h).  Strings are the caller's. */
struct lk_tar_entry {
	const char *name;	 /* the entry name in the image: clean, relative, NOT prefixed */
	uint32_t file;		 /* index into the scan, or LK_TAR_LINK */
	const char *link_target; /* LK_TAR_LINK only: relative, inside the image root */
};

/*
 * As lk_tar_write, but each file is stored under the name its entry gives
 * (opts->prefix is not used) and LK_TAR_LINK entries add symlinks.
 * Entries must be sorted by name (lk_path_cmp) with no name twice; hard
 * links are found among the entries as among files.
 */
int lk_tar_write_entries(const struct lk_scan *scan, const struct lk_tar_entry *entries,
			 size_t n_entries, const struct lk_tar_opts *opts,
			 lk_tar_sink_fn sink, void *opaque, struct lk_error *err);

#endif
