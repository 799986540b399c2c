/* writer.h - one layer: files -> tar -> sha256 (diff_id) -> compress -> sha256 (digest) -> blob. */
#ifndef LK_WRITER_H
#define LK_WRITER_H

#include "common.h"
#include "config.h"
#include "layout.h"
#include "scan.h"
#include "tar.h"

struct lk_layer_opts {
	enum lk_compression compression;
	int level;			/* -1 = default (gzip 6, zstd 3) */
	int64_t mtime;			/* the one mtime of every entry */
	const char *prefix;		/* normalised, "" = image root */
	int keep_setuid;		/* else setuid/setgid/sticky are dropped */
	unsigned threads;		/* compression threads for this layer (>= 1) */
	/* Optional, per layer: the entries of a layer laid out by the shared
	 * store (core/share.h); NULL = the files at prefix/path.  Part of the
	 * cache fingerprint.  Owned by the caller. */
	const struct lk_tar_entry *entries;
	size_t n_entries;
	/* Optional: called from the writing thread with each chunk's size
	 * of uncompressed tar, for progress reports. */
	void (*on_tar_bytes)(void *arg, uint64_t n);
	void *on_tar_bytes_arg;
};

struct lk_blob_info {
	char digest[LK_DIGEST_LEN];	/* of the blob as stored */
	char diff_id[LK_DIGEST_LEN];	/* of the uncompressed tar */
	uint64_t size;			/* bytes stored */
	uint64_t tar_size;		/* bytes of the tar */
};

/* The OCI media type of a layer with this compression. */
const char *lk_layer_media_type(enum lk_compression compression);

/*
 * Writes one layer holding files (indices into scan, in tree order), with
 * every parent directory (and the prefix's) emitted once, before its
 * children.  Entries are normalised: uid/gid 0, empty uname/gname, mode
 * 0755 for directories and files with any x bit, 0644 for other files,
 * 0777 for symlinks, mtime opts->mtime; hard links within the layer stored
 * once.  A file whose size changed since the scan fails the layer.
 * With opts->entries the layer holds those entries instead (files is then
 * only the layer's file list, for the caller's bookkeeping).
 * Thread-safe: several layers may be written at once into one layout.
 */
int lk_layer_write(struct lk_layout *layout, const struct lk_scan *scan,
		   const uint32_t *files, size_t n_files,
		   const struct lk_layer_opts *opts, struct lk_blob_info *out,
		   struct lk_error *err);

#endif
