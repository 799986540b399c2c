/* cache.h - the content-addressed layer cache shared by all apps and strategies. */
#ifndef LK_CACHE_H
#define LK_CACHE_H

#include "common.h"
#include "layout.h"
#include "scan.h"
#include "writer.h"

/*
 * DIR/blobs/sha256/<hex>  layer blobs (hard links shared with output layouts)
 * DIR/layers/<fp-hex>     one record per layer fingerprint: its blob's digests
 * A layer whose fingerprint has a record is never re-read or re-compressed.
 */
struct lk_cache {
	char *dir;
	int blobs_fd;
	int layers_fd;
};

/* How much to trust stat() stamps. */
enum lk_verify {
	LK_VERIFY_STAT = 0,	/* size, mtime, ctime, inode; racy files make a layer uncacheable */
	LK_VERIFY_CONTENT = 1,	/* hash every file's content */
};

/* The default directory: $XDG_CACHE_HOME/layerkit or ~/.cache/layerkit
 * (malloc'ed; the caller frees). */
char *lk_cache_default_dir(void);

/* Opens (creating) the cache at dir.  Release with lk_cache_release. */
int lk_cache_open(struct lk_cache *cache, const char *dir, struct lk_error *err);
void lk_cache_release(struct lk_cache *cache);

/*
 * The fingerprint of a layer: every writer setting that affects its bytes
 * and, per file in order, path, type, size, mode, link target and either
 * the stat stamps or (LK_VERIFY_CONTENT) the content's sha256.  *cacheable
 * is 0 when a file changed at or after racy_after_ns (its stamp cannot be
 * trusted, as git's racy-index rule says) or could not be read.
 */
void lk_layer_fingerprint(const struct lk_scan *scan, const uint32_t *files, size_t n_files,
			  const struct lk_layer_opts *opts, enum lk_verify verify,
			  int64_t racy_after_ns, char fp_hex[LK_SHA256_HEX_LEN + 1],
			  int *cacheable);

/*
 * Looks fp up; on a hit links the blob into layout (hard link, copy across
 * file systems; its digest is verified when it is newly linked) and fills
 * blob.  Returns 1 on a hit, 0 on a miss (a corrupt entry is removed and
 * counts as a miss), never an error: the cache is only an accelerator.
 */
int lk_cache_fetch(struct lk_cache *cache, const char *fp_hex, struct lk_layout *layout,
		   struct lk_blob_info *blob);

/* Records a layer just written into layout under fp (links its blob into
 * the cache).  Failures are logged and ignored. */
void lk_cache_store(struct lk_cache *cache, const char *fp_hex, struct lk_layout *layout,
		    const struct lk_blob_info *blob);

/* `layerkit cache`: totals, and pruning by age and total size (oldest use first). */
struct lk_cache_stats {
	uint64_t blob_bytes;
	size_t n_blobs;
	size_t n_records;
	size_t removed_blobs;
	uint64_t removed_bytes;
};
int lk_cache_stat(struct lk_cache *cache, struct lk_cache_stats *stats, struct lk_error *err);
int lk_cache_prune(struct lk_cache *cache, uint64_t max_bytes, int64_t older_than_s,
		   struct lk_cache_stats *stats, struct lk_error *err);

#endif
