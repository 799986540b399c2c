/* progress.c - a build's progress on one terminal line, redrawn in place. */
#include "progress.h"
#include "build.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Erase from the cursor to the end of the line (ECMA-48 EL). */
#define ERASE_LINE "\033[K"

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int lk_progress_wanted(void)
{
	return lk_verbosity > 0 && isatty(STDERR_FILENO);
}

void lk_progress_init(struct lk_progress *p, FILE *out, const char *what,
		      size_t layers, uint64_t bytes)
{
	memset(p, 0, sizeof(*p));
	p->out = out;
	if (!out)
		return;
	pthread_mutex_init(&p->mutex, NULL);
	p->what = lk_xstrdup(what ? what : "build");
	p->layers_total = layers;
	p->bytes_total = bytes;
	p->started = now_seconds();
}

void lk_progress_format(const struct lk_progress *p, double now, char *buf, size_t len)
{
	char done[32], total[32], per_second[32];
	char cached[48] = "", rate[48] = "";
	double secs = now - p->started;

	if (p->layers_cached)
		snprintf(cached, sizeof(cached), " (%zu cached)", p->layers_cached);
	lk_human_bytes(p->bytes_done, done, sizeof(done));
	lk_human_bytes(p->bytes_total, total, sizeof(total));
	/* No rate before there is something to divide. */
	if (secs > 0.05) {
		lk_human_bytes((uint64_t)((double)p->bytes_done / secs), per_second,
			       sizeof(per_second));
		snprintf(rate, sizeof(rate), ", %s/s", per_second);
	}
	snprintf(buf, len, "layerkit: %s: layers %zu/%zu%s, %s of %s%s", p->what,
		 p->layers_done, p->layers_total, cached, done, total, rate);
}

/* Draws the line; the caller holds the mutex. */
static void draw(struct lk_progress *p, double now)
{
	char line[512];

	lk_progress_format(p, now, line, sizeof(line));
	fprintf(p->out, "\r%s" ERASE_LINE, line);
	fflush(p->out);
	p->drawn = 1;
	p->last_draw = now;
}

/* Adds to the counts and redraws when it is time (or force). */
static void update(struct lk_progress *p, uint64_t bytes, int layer_done, int cached)
{
	double now;

	if (!p || !p->out)
		return;
	pthread_mutex_lock(&p->mutex);
	p->bytes_done += bytes;
	p->layers_done += layer_done != 0;
	p->layers_cached += cached != 0;
	now = now_seconds();
	if (layer_done || now - p->last_draw >= LK_PROGRESS_INTERVAL)
		draw(p, now);
	pthread_mutex_unlock(&p->mutex);
}

void lk_progress_finish(struct lk_progress *p)
{
	if (!p->out)
		return;
	if (p->drawn) {
		fputs("\r" ERASE_LINE, p->out);
		fflush(p->out);
	}
	pthread_mutex_destroy(&p->mutex);
	free(p->what);
	memset(p, 0, sizeof(*p));
}

void lk_progress_layer_start(struct lk_progress *p, struct lk_progress_layer *l,
			     uint64_t bytes)
{
	l->progress = p;
	l->left = bytes;
}

void lk_progress_layer_bytes(void *arg, uint64_t n)
{
	struct lk_progress_layer *l = arg;
	uint64_t counted = n < l->left ? n : l->left;

	l->left -= counted;
	if (counted)
		update(l->progress, counted, 0, 0);
}

void lk_progress_layer_end(struct lk_progress_layer *l, int cached)
{
	update(l->progress, l->left, 1, cached);
	l->left = 0;
}
