/* compress.h - layer compressors (none, gzip via libdeflate, zstd), one static ops table each. */
#ifndef LK_COMPRESS_H
#define LK_COMPRESS_H

#include "common.h"
#include "config.h"

/*
 * gzip input block: the stream is cut into blocks of exactly this many
 * bytes (the last one shorter), each compressed on its own as one gzip
 * member, so blocks compress in parallel and the bytes do not depend on
 * the thread count.  Changing it changes every gzip digest.  Measured on
 * a 309 MB Python-like tar at level 6: 29.93% of the input with 256 KiB
 * blocks, 29.78% with 1 MiB, 29.74% with 4 MiB (pigz: 30.1%); speed is
 * the same, and 1 MiB keeps the ring of blocks small.
 */
#define LK_GZIP_BLOCK_SIZE (1024 * 1024)

/*
 * zstd job size, fixed (not left to the library's default, which follows
 * the level's window) so memory stays bounded and the frame's bytes are
 * pinned by the settings alone.  Measured at level 3 with two big layers
 * written at once: peak RSS 43 MB with 2 MiB jobs, 67 MB with 4 MiB, 114
 * MB with 8 MiB (the library's default); the output grows by 0.6% (4 MiB)
 * and 1.8% (2 MiB) over 8 MiB jobs on the generated hello_fastapi tree.
 */
#define LK_ZSTD_JOB_SIZE (2 * 1024 * 1024)

/* Receives the compressed stream, in order.  LK_OK, or LK_FAILED with err set. */
typedef int (*lk_compress_sink_fn)(void *opaque, const void *data, size_t len,
				   struct lk_error *err);

struct lk_compressor;

/* What each compressor implements (libarchive style: one static const table each). */
struct lk_compressor_ops {
	const char *name;		/* "none", "gzip", "zstd" */
	const char *media_suffix;	/* appended to the tar media type: "", "+gzip", "+zstd" */
	int default_level, min_level, max_level;
	/* Sets up c->state; returns LK_OK or LK_FAILED with err set. */
	int (*open)(struct lk_compressor *c, struct lk_error *err);
	int (*write)(struct lk_compressor *c, const void *data, size_t len,
		     struct lk_error *err);
	/* Compresses what is buffered and ends the stream. */
	int (*finish)(struct lk_compressor *c, struct lk_error *err);
	/* Frees c->state (after finish, or to abandon the stream). */
	void (*free)(struct lk_compressor *c);
};

/* One compressed stream.  Not thread-safe itself (one writer); gzip and
 * zstd use worker threads inside. */
struct lk_compressor {
	const struct lk_compressor_ops *ops;
	int level;
	unsigned threads;
	lk_compress_sink_fn sink;
	void *opaque;
	void *state;
	uint64_t bytes_in, bytes_out;
};

/* The ops of a compression, or NULL for an unknown value. */
const struct lk_compressor_ops *lk_compressor_ops_of(enum lk_compression compression);

/*
 * Starts a stream: level -1 means the compressor's default; threads >= 1
 * (gzip: block workers, zstd: ZSTD_c_nbWorkers; the output does not depend
 * on it).  The sink is called from the caller's thread only.  A level out
 * of range is LK_FAILED with err naming the valid range.  Release with
 * lk_compressor_release, whether finished or not.
 */
int lk_compressor_open(struct lk_compressor *c, enum lk_compression compression,
		       int level, unsigned threads, lk_compress_sink_fn sink,
		       void *opaque, struct lk_error *err);
int lk_compressor_write(struct lk_compressor *c, const void *data, size_t len,
			struct lk_error *err);
int lk_compressor_finish(struct lk_compressor *c, struct lk_error *err);
void lk_compressor_release(struct lk_compressor *c);

/*
 * Writes into buf a string naming everything that decides the compressed
 * bytes (compressor, library version, level, block or job size), for cache
 * fingerprints, e.g. "gzip:libdeflate-1.14:level=6:block=1048576".
 */
void lk_compress_settings(enum lk_compression compression, int level,
			  char *buf, size_t size);

#endif
