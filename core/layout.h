/* layout.h - an OCI image layout directory, written atomically. */
#ifndef LK_LAYOUT_H
#define LK_LAYOUT_H

#include <pthread.h>
#include <openssl/evp.h>
#include "common.h"

/* "sha256:" + 64 hex + NUL */
#define LK_DIGEST_LEN (7 + LK_SHA256_HEX_LEN + 1)

/*
 * An output layout being written.  Blobs go to blobs/sha256/.tmp-* and are
 * renamed to their digest; index.json is written last, by rename, so a
 * reader sees the previous image or the new one, never a mix.  Safe to use
 * from several threads (blob sinks are independent; the list of new blobs
 * is behind a mutex).
 */
struct lk_layout {
	char *dir;
	int dir_fd;
	int blobs_fd;			/* blobs/sha256 */
	int lock_fd;			/* flock on DIR/.layerkit.lock while open */
	int created_dir;		/* the directory did not exist before */
	int created_levels;		/* how many of dir's components (from the end) this build made */
	int created_oci_layout;		/* this build wrote DIR/oci-layout */
	int created_blobs_dir;		/* ... made DIR/blobs */
	int created_sha256_dir;		/* ... made DIR/blobs/sha256 */
	pthread_mutex_t mutex;
	char **new_blobs;		/* hex names this build created */
	size_t n_new_blobs, cap_new_blobs;
};

/* The lock file inside the layout (OCI tools ignore files they do not know). */
#define LK_LAYOUT_LOCK_NAME ".layerkit.lock"

/* Creates dir (and parents) as needed, blobs/sha256 and oci-layout, and
 * takes the layout's lock (a second build waits for it).  A directory that
 * holds other files but no oci-layout is refused (it is not a layout).
 * On failure nothing is left to release; else release with
 * lk_layout_release. */
int lk_layout_open(struct lk_layout *layout, const char *dir, struct lk_error *err);

/* A blob being streamed to a temporary file, hashed as it is written. */
struct lk_blob_sink {
	struct lk_layout *layout;
	int fd;
	char tmp_name[64];
	EVP_MD_CTX *sha;
	uint64_t size;
};

int lk_blob_sink_open(struct lk_layout *layout, struct lk_blob_sink *sink, struct lk_error *err);
int lk_blob_sink_write(struct lk_blob_sink *sink, const void *data, size_t len, struct lk_error *err);
/* Finishes the hash, renames the file to blobs/sha256/<hex> and writes
 * "sha256:<hex>" into digest; size gets the byte count. */
int lk_blob_sink_commit(struct lk_blob_sink *sink, char digest[LK_DIGEST_LEN],
			uint64_t *size, struct lk_error *err);
/* Removes the temporary file; safe after a failed write. */
void lk_blob_sink_abort(struct lk_blob_sink *sink);

/*
 * For a caller that already hashes the very bytes it stores (an
 * uncompressed layer, whose digest is its diff_id): a sink that does not
 * hash (sha stays NULL), committed with lk_blob_sink_commit_as under the
 * caller's digest ("sha256:<hex>").  Abort it with lk_blob_sink_abort.
 */
int lk_blob_sink_open_unhashed(struct lk_layout *layout, struct lk_blob_sink *sink,
			       struct lk_error *err);
int lk_blob_sink_commit_as(struct lk_blob_sink *sink, const char *digest, uint64_t *size,
			   struct lk_error *err);

/*
 * Adds the file at src_path as the blob digest ("sha256:<hex>", computed
 * by the caller, e.g. a cache) of size bytes: hard-linked when src_path is
 * on the same file system, else copied, and the copy's digest checked.
 * A file of another size is refused (LK_FAILED).  The layout does not
 * take ownership of src_path.
 */
int lk_layout_link_blob(struct lk_layout *layout, const char *src_path,
			const char *digest, uint64_t size, struct lk_error *err);

/* Records that this build added blobs/sha256/<hex> by other means (a link
 * from the layer cache), so lk_layout_abort removes it when unreferenced. */
void lk_layout_note_blob(struct lk_layout *layout, const char *hex);

/* Writes a small blob (JSON documents) in one call. */
int lk_layout_put_blob(struct lk_layout *layout, const void *data, size_t len,
		       char digest[LK_DIGEST_LEN], struct lk_error *err);

/* Writes index.json by rename, then removes every blob the new index does
 * not reference (directly or through its manifests and configs) and stale
 * temporary files (killed builds).  When a referenced manifest cannot be
 * read, no blob is removed (a warning says so).  Call it once every
 * writer of this build has finished. */
int lk_layout_commit(struct lk_layout *layout, const char *index_json, size_t len,
		     struct lk_error *err);

/* After a failure: removes the blobs this build created that the current
 * index.json does not reference, temporary files, and, when there is no
 * previous image, the skeleton it made (the directory and parents too, if
 * this build created them).  Call it once every writer has stopped. */
void lk_layout_abort(struct lk_layout *layout);

/* Closes the layout and drops the lock (after commit or abort). */
void lk_layout_release(struct lk_layout *layout);

#endif
