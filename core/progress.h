/* progress.h - a build's progress on one terminal line, redrawn in place. */
#ifndef LK_PROGRESS_H
#define LK_PROGRESS_H

#include <pthread.h>
#include <stdio.h>
#include "common.h"

/*
 * "layerkit: web: layers 5/23 (2 cached), 120.4 MiB of 277.0 MiB, 95.1 MiB/s"
 * written with '\r' and erased to the end of the line, at most every
 * LK_PROGRESS_INTERVAL seconds and at each layer's end; lk_progress_finish
 * erases it.  Bytes are the layers' file bytes (uncompressed).  Every
 * function is thread-safe and does nothing when the report is off.
 */
struct lk_progress {
	FILE *out;			/* NULL = off; not owned */
	pthread_mutex_t mutex;
	char *what;			/* e.g. the app's name; owned */
	size_t layers_total, layers_done, layers_cached;
	uint64_t bytes_total, bytes_done;
	double started, last_draw;	/* monotonic seconds */
	int drawn;			/* a line is on the terminal */
};

#define LK_PROGRESS_INTERVAL 0.1

/* Whether a report belongs on stderr: a terminal, and not -q. */
int lk_progress_wanted(void);

/* Starts a report of layers layers holding bytes bytes on out (NULL: off).
 * Release with lk_progress_finish. */
void lk_progress_init(struct lk_progress *p, FILE *out, const char *what,
		      size_t layers, uint64_t bytes);
/* Erases the line (if one was drawn) and frees what init allocated. */
void lk_progress_finish(struct lk_progress *p);

/* One layer being written: its bytes not yet counted. */
struct lk_progress_layer {
	struct lk_progress *progress;
	uint64_t left;
};

void lk_progress_layer_start(struct lk_progress *p, struct lk_progress_layer *l,
			     uint64_t bytes);
/* Counts n more bytes of the layer (an lk_layer_opts.on_tar_bytes callback,
 * arg = the struct lk_progress_layer); tar overhead beyond the layer's
 * bytes is not counted. */
void lk_progress_layer_bytes(void *arg, uint64_t n);
/* The layer is done (from the cache when cached): counts what is left. */
void lk_progress_layer_end(struct lk_progress_layer *l, int cached);

/* The line for the state at now (monotonic seconds), without '\r'. */
void lk_progress_format(const struct lk_progress *p, double now, char *buf, size_t len);

#endif
