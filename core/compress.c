/* compress.c - layer compressors (none, gzip via libdeflate, zstd), one static ops table each. */
#include "compress.h"

#include <libdeflate.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* ---- none: the tar as it is ---- */

static int none_open(struct lk_compressor *c, struct lk_error *err)
{
	return LK_OK;
}

static int none_write(struct lk_compressor *c, const void *data, size_t len,
		      struct lk_error *err)
{
	c->bytes_out += len;
	return c->sink(c->opaque, data, len, err);
}

static int none_finish(struct lk_compressor *c, struct lk_error *err)
{
	return LK_OK;
}

static void none_free(struct lk_compressor *c)
{
}

static const struct lk_compressor_ops none_ops = {
	.name = "none",
	.media_suffix = "",
	.default_level = 0,
	.min_level = 0,
	.max_level = 0,
	.open = none_open,
	.write = none_write,
	.finish = none_finish,
	.free = none_free,
};

/* ---- gzip: fixed-size blocks, each its own gzip member (RFC 1952 2.2) ----
 *
 * The caller's thread fills the blocks and writes the members in order;
 * workers compress them.  A ring of slots bounds the memory; slots are
 * submitted, compressed and written in ring order.  Workers start with
 * the first full block: a layer under one block (most app layers) is
 * compressed in the caller's thread, without starting any.
 */

enum slot_state {
	SLOT_FREE = 0,		/* being filled by the caller, or empty */
	SLOT_QUEUED,		/* full, waiting for a worker */
	SLOT_RUNNING,
	SLOT_DONE,		/* compressed, waiting to be written */
};

struct gzip_slot {
	unsigned char *in;	/* LK_GZIP_BLOCK_SIZE bytes */
	size_t in_len;
	unsigned char *out;	/* out_cap bytes */
	size_t out_len;		/* 0 after a failure */
	enum slot_state state;
};

struct gzip_state {
	struct libdeflate_compressor *inline_deflater;	/* the caller's, made when needed */
	struct libdeflate_compressor **deflaters;	/* one per started worker */
	size_t out_cap;
	struct gzip_slot *slots;
	unsigned n_slots;
	unsigned fill;		/* the slot being filled */
	unsigned oldest;	/* the oldest slot submitted and not yet written */
	unsigned n_pending;	/* submitted and not yet written */
	unsigned next_job;	/* the next slot a worker takes */
	unsigned n_queued;
	pthread_mutex_t mutex;
	pthread_cond_t work_cond;	/* a slot was queued, or stop */
	pthread_cond_t done_cond;	/* a slot is done */
	pthread_t *workers;
	unsigned n_workers, n_started;
	int stopping;
};

struct gzip_worker_arg {
	struct gzip_state *gz;
	unsigned index;
};

static void gzip_slot_compress(struct libdeflate_compressor *d, size_t out_cap,
			       struct gzip_slot *slot)
{
	/* libdeflate writes a fixed header: MTIME 0, no name, OS 255. */
	slot->out_len = libdeflate_gzip_compress(d, slot->in, slot->in_len, slot->out, out_cap);
}

static void *gzip_worker(void *p)
{
	struct gzip_state *gz = ((struct gzip_worker_arg *)p)->gz;
	struct libdeflate_compressor *d = gz->deflaters[((struct gzip_worker_arg *)p)->index];

	free(p);
	pthread_mutex_lock(&gz->mutex);
	for (;;) {
		struct gzip_slot *slot;

		while (!gz->n_queued && !gz->stopping)
			pthread_cond_wait(&gz->work_cond, &gz->mutex);
		if (!gz->n_queued)
			break;
		slot = &gz->slots[gz->next_job];
		gz->next_job = (gz->next_job + 1) % gz->n_slots;
		gz->n_queued--;
		slot->state = SLOT_RUNNING;
		pthread_mutex_unlock(&gz->mutex);

		gzip_slot_compress(d, gz->out_cap, slot);

		pthread_mutex_lock(&gz->mutex);
		slot->state = SLOT_DONE;
		pthread_cond_broadcast(&gz->done_cond);
	}
	pthread_mutex_unlock(&gz->mutex);
	return NULL;
}

static int gzip_workers_start(struct lk_compressor *c, struct lk_error *err)
{
	struct gzip_state *gz = c->state;

	for (unsigned i = 0; i < gz->n_workers; i++) {
		struct gzip_worker_arg *arg;
		int e;

		gz->deflaters[i] = libdeflate_alloc_compressor(c->level);
		if (!gz->deflaters[i])
			return lk_error_set(err, LK_EXIT_BUILD,
					    "gzip: cannot start libdeflate at level %d (out of memory)", c->level);
		arg = lk_xmalloc(sizeof(*arg));
		arg->gz = gz;
		arg->index = i;
		e = pthread_create(&gz->workers[i], NULL, gzip_worker, arg);
		if (e) {
			free(arg);
			return lk_error_set(err, LK_EXIT_BUILD, "gzip: cannot start a compression thread: %s",
					    strerror(e));
		}
		gz->n_started++;
	}
	return LK_OK;
}

static void gzip_workers_stop(struct gzip_state *gz)
{
	if (!gz->n_started)
		return;
	pthread_mutex_lock(&gz->mutex);
	gz->stopping = 1;
	gz->n_queued = 0;	/* abandoned blocks are not compressed */
	pthread_cond_broadcast(&gz->work_cond);
	pthread_mutex_unlock(&gz->mutex);
	for (unsigned i = 0; i < gz->n_started; i++)
		pthread_join(gz->workers[i], NULL);
	gz->n_started = 0;
}

static void gzip_free(struct lk_compressor *c)
{
	struct gzip_state *gz = c->state;

	if (!gz)
		return;
	gzip_workers_stop(gz);
	for (unsigned i = 0; i < gz->n_slots; i++) {
		free(gz->slots[i].in);
		free(gz->slots[i].out);
	}
	for (unsigned i = 0; i < gz->n_workers; i++)
		libdeflate_free_compressor(gz->deflaters[i]);
	libdeflate_free_compressor(gz->inline_deflater);
	if (gz->n_workers) {
		pthread_cond_destroy(&gz->done_cond);
		pthread_cond_destroy(&gz->work_cond);
		pthread_mutex_destroy(&gz->mutex);
	}
	free(gz->deflaters);
	free(gz->workers);
	free(gz->slots);
	free(gz);
	c->state = NULL;
}

static int gzip_open(struct lk_compressor *c, struct lk_error *err)
{
	struct gzip_state *gz = lk_xcalloc(1, sizeof(*gz));

	c->state = gz;
	/* One thread compresses inline; more get workers and two slots each
	 * (one compressing, one queued) plus the one being filled.  Untouched
	 * slot memory is never faulted in. */
	gz->n_workers = c->threads > 1 ? c->threads : 0;
	gz->n_slots = gz->n_workers ? 2 * gz->n_workers + 1 : 1;
	gz->out_cap = libdeflate_gzip_compress_bound(NULL, LK_GZIP_BLOCK_SIZE);
	gz->slots = lk_xcalloc(gz->n_slots, sizeof(*gz->slots));
	for (unsigned i = 0; i < gz->n_slots; i++) {
		gz->slots[i].in = lk_xmalloc(LK_GZIP_BLOCK_SIZE);
		gz->slots[i].out = lk_xmalloc(gz->out_cap);
	}
	if (gz->n_workers) {
		pthread_mutex_init(&gz->mutex, NULL);
		pthread_cond_init(&gz->work_cond, NULL);
		pthread_cond_init(&gz->done_cond, NULL);
		gz->deflaters = lk_xcalloc(gz->n_workers, sizeof(*gz->deflaters));
		gz->workers = lk_xcalloc(gz->n_workers, sizeof(*gz->workers));
	}
	return LK_OK;
}

/* Writes the oldest pending member, waiting for its worker if needed. */
static int gzip_write_oldest(struct lk_compressor *c, struct lk_error *err)
{
	struct gzip_state *gz = c->state;
	struct gzip_slot *slot = &gz->slots[gz->oldest];

	if (gz->n_started) {
		pthread_mutex_lock(&gz->mutex);
		while (slot->state != SLOT_DONE)
			pthread_cond_wait(&gz->done_cond, &gz->mutex);
		pthread_mutex_unlock(&gz->mutex);
	}
	if (!slot->out_len)
		return lk_error_set(err, LK_EXIT_BUILD, "gzip: libdeflate failed on a block of %zu bytes",
				    slot->in_len);
	c->bytes_out += slot->out_len;
	if (c->sink(c->opaque, slot->out, slot->out_len, err) != LK_OK)
		return LK_FAILED;
	slot->in_len = 0;
	slot->state = SLOT_FREE;
	gz->oldest = (gz->oldest + 1) % gz->n_slots;
	gz->n_pending--;
	return LK_OK;
}

/*
 * Hands the slot being filled to a worker (or, before any is started,
 * compresses it in this thread) and moves on to the next slot, first
 * writing out the member that held it.  full: more data follows, so the
 * workers are worth starting.
 */
static int gzip_submit(struct lk_compressor *c, int full, struct lk_error *err)
{
	struct gzip_state *gz = c->state;
	struct gzip_slot *slot = &gz->slots[gz->fill];

	if (full && gz->n_workers && !gz->n_started && gzip_workers_start(c, err) != LK_OK)
		return LK_FAILED;
	gz->n_pending++;
	gz->fill = (gz->fill + 1) % gz->n_slots;
	if (!gz->n_started) {
		if (!gz->inline_deflater) {
			gz->inline_deflater = libdeflate_alloc_compressor(c->level);
			if (!gz->inline_deflater)
				return lk_error_set(err, LK_EXIT_BUILD,
						    "gzip: cannot start libdeflate at level %d (out of memory)",
						    c->level);
		}
		gzip_slot_compress(gz->inline_deflater, gz->out_cap, slot);
		slot->state = SLOT_DONE;
		return gzip_write_oldest(c, err);
	}
	pthread_mutex_lock(&gz->mutex);
	slot->state = SLOT_QUEUED;
	gz->n_queued++;
	pthread_cond_signal(&gz->work_cond);
	pthread_mutex_unlock(&gz->mutex);
	if (gz->n_pending == gz->n_slots)
		return gzip_write_oldest(c, err);
	return LK_OK;
}

static int gzip_write(struct lk_compressor *c, const void *data, size_t len,
		      struct lk_error *err)
{
	struct gzip_state *gz = c->state;
	const unsigned char *p = data;

	while (len) {
		struct gzip_slot *slot = &gz->slots[gz->fill];
		size_t n = LK_GZIP_BLOCK_SIZE - slot->in_len;

		if (n > len)
			n = len;
		memcpy(slot->in + slot->in_len, p, n);
		slot->in_len += n;
		p += n;
		len -= n;
		if (slot->in_len == LK_GZIP_BLOCK_SIZE && gzip_submit(c, 1, err) != LK_OK)
			return LK_FAILED;
	}
	return LK_OK;
}

static int gzip_finish(struct lk_compressor *c, struct lk_error *err)
{
	struct gzip_state *gz = c->state;

	/* The last, short block; an empty stream is still one member. */
	if (gz->slots[gz->fill].in_len || !c->bytes_in) {
		if (gzip_submit(c, 0, err) != LK_OK)
			return LK_FAILED;
	}
	while (gz->n_pending)
		if (gzip_write_oldest(c, err) != LK_OK)
			return LK_FAILED;
	gzip_workers_stop(gz);
	return LK_OK;
}

static const struct lk_compressor_ops gzip_ops = {
	.name = "gzip",
	.media_suffix = "+gzip",
	.default_level = 6,
	.min_level = 1,
	.max_level = 12,
	.open = gzip_open,
	.write = gzip_write,
	.finish = gzip_finish,
	.free = gzip_free,
};

/* ---- zstd: libzstd streaming, always with worker threads ----
 *
 * With ZSTD_c_nbWorkers >= 1 the frame is cut into jobs of a fixed size
 * whatever the number of workers, so the bytes do not depend on it; with
 * 0 workers the library would make a different (single-job) frame.
 */

struct zstd_state {
	ZSTD_CCtx *cctx;
	void *out;
	size_t out_cap;
};

static void zstd_free(struct lk_compressor *c)
{
	struct zstd_state *zs = c->state;

	if (!zs)
		return;
	ZSTD_freeCCtx(zs->cctx);
	free(zs->out);
	free(zs);
	c->state = NULL;
}

static int zstd_fail(const char *what, size_t code, struct lk_error *err)
{
	return lk_error_set(err, LK_EXIT_BUILD, "zstd: %s: %s", what, ZSTD_getErrorName(code));
}

static int zstd_open(struct lk_compressor *c, struct lk_error *err)
{
	struct zstd_state *zs = lk_xcalloc(1, sizeof(*zs));
	size_t r;

	c->state = zs;
	zs->cctx = ZSTD_createCCtx();
	if (!zs->cctx) {
		lk_error_set(err, LK_EXIT_BUILD, "zstd: out of memory creating a context");
		goto out_free;
	}
	r = ZSTD_CCtx_setParameter(zs->cctx, ZSTD_c_compressionLevel, c->level);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(zs->cctx, ZSTD_c_checksumFlag, 1);
	if (!ZSTD_isError(r))
		r = ZSTD_CCtx_setParameter(zs->cctx, ZSTD_c_jobSize, LK_ZSTD_JOB_SIZE);
	if (ZSTD_isError(r)) {
		zstd_fail("setting parameters", r, err);
		goto out_free;
	}
	r = ZSTD_CCtx_setParameter(zs->cctx, ZSTD_c_nbWorkers, (int)c->threads);
	if (ZSTD_isError(r)) {
		lk_error_set(err, LK_EXIT_BUILD,
			     "zstd: this libzstd has no multi-threading (%s); reproducible zstd layers need it, use gzip",
			     ZSTD_getErrorName(r));
		goto out_free;
	}
	zs->out_cap = ZSTD_CStreamOutSize();
	zs->out = lk_xmalloc(zs->out_cap);
	return LK_OK;
out_free:
	zstd_free(c);
	return LK_FAILED;
}

/* Runs the stream with one directive until the input is taken (continue)
 * or the frame is complete (end). */
static int zstd_run(struct lk_compressor *c, const void *data, size_t len,
		    ZSTD_EndDirective op, struct lk_error *err)
{
	struct zstd_state *zs = c->state;
	ZSTD_inBuffer in = { data, len, 0 };

	for (;;) {
		ZSTD_outBuffer out = { zs->out, zs->out_cap, 0 };
		size_t left = ZSTD_compressStream2(zs->cctx, &out, &in, op);

		if (ZSTD_isError(left))
			return zstd_fail("compressing", left, err);
		if (out.pos) {
			c->bytes_out += out.pos;
			if (c->sink(c->opaque, zs->out, out.pos, err) != LK_OK)
				return LK_FAILED;
		}
		if (op == ZSTD_e_end ? left == 0 : in.pos == in.size)
			return LK_OK;
	}
}

static int zstd_write(struct lk_compressor *c, const void *data, size_t len,
		      struct lk_error *err)
{
	return zstd_run(c, data, len, ZSTD_e_continue, err);
}

static int zstd_finish(struct lk_compressor *c, struct lk_error *err)
{
	return zstd_run(c, NULL, 0, ZSTD_e_end, err);
}

static const struct lk_compressor_ops zstd_ops = {
	.name = "zstd",
	.media_suffix = "+zstd",
	.default_level = 3,
	.min_level = 1,
	.max_level = 19,
	.open = zstd_open,
	.write = zstd_write,
	.finish = zstd_finish,
	.free = zstd_free,
};

/* ---- the interface ---- */

const struct lk_compressor_ops *lk_compressor_ops_of(enum lk_compression compression)
{
	switch (compression) {
	case LK_COMPRESS_NONE:
		return &none_ops;
	case LK_COMPRESS_GZIP:
		return &gzip_ops;
	case LK_COMPRESS_ZSTD:
		return &zstd_ops;
	}
	return NULL;
}

int lk_compressor_open(struct lk_compressor *c, enum lk_compression compression,
		       int level, unsigned threads, lk_compress_sink_fn sink,
		       void *opaque, struct lk_error *err)
{
	const struct lk_compressor_ops *ops = lk_compressor_ops_of(compression);

	memset(c, 0, sizeof(*c));
	if (!ops)
		return lk_error_set(err, LK_EXIT_USAGE, "unknown compression %d", (int)compression);
	if (level < 0)
		level = ops->default_level;
	if (level < ops->min_level || level > ops->max_level)
		return lk_error_set(err, LK_EXIT_USAGE,
				    "compression level %d is out of range for %s; use %d to %d",
				    level, ops->name, ops->min_level, ops->max_level);
	c->ops = ops;
	c->level = level;
	c->threads = threads ? threads : 1;
	c->sink = sink;
	c->opaque = opaque;
	if (ops->open(c, err) != LK_OK) {
		c->ops = NULL;
		return LK_FAILED;
	}
	return LK_OK;
}

int lk_compressor_write(struct lk_compressor *c, const void *data, size_t len,
			struct lk_error *err)
{
	c->bytes_in += len;
	return c->ops->write(c, data, len, err);
}

int lk_compressor_finish(struct lk_compressor *c, struct lk_error *err)
{
	return c->ops->finish(c, err);
}

void lk_compressor_release(struct lk_compressor *c)
{
	if (c->ops)
		c->ops->free(c);
	c->ops = NULL;
}

void lk_compress_settings(enum lk_compression compression, int level,
			  char *buf, size_t size)
{
	const struct lk_compressor_ops *ops = lk_compressor_ops_of(compression);

	if (!ops) {
		snprintf(buf, size, "unknown:%d", (int)compression);
		return;
	}
	if (level < 0)
		level = ops->default_level;
	switch (compression) {
	case LK_COMPRESS_GZIP:
		snprintf(buf, size, "gzip:libdeflate-%s:level=%d:block=%d",
			 LIBDEFLATE_VERSION_STRING, level, LK_GZIP_BLOCK_SIZE);
		break;
	case LK_COMPRESS_ZSTD:
		snprintf(buf, size, "zstd:libzstd-%s:level=%d:job=%d:checksum",
			 ZSTD_versionString(), level, LK_ZSTD_JOB_SIZE);
		break;
	default:
		snprintf(buf, size, "none");
		break;
	}
}
