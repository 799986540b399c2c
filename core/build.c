/* build.c - one app from config to image. */
#include "build.h"
#include "archive_out.h"
#include "layout.h"
#include "oci.h"
#include "progress.h"
#include "share.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char *lk_human_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

void lk_layer_opts_from_config(struct lk_layer_opts *opts, const struct lk_config *config,
			       const struct lk_app *app)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	memset(opts, 0, sizeof(*opts));
	opts->compression = config->global.compression;
	opts->level = config->global.compression_level;
	opts->mtime = config->global.mtime;
	opts->prefix = app->prefix ? app->prefix : "";
	opts->keep_setuid = config->global.keep_setuid;
	opts->threads = config->global.jobs ? config->global.jobs : (unsigned)(cpus > 0 ? cpus : 1);
}

/* "os/arch[/variant]" of the app's platform key, else the image's. */
static int base_open(struct lk_app_run *run, struct lk_error *err)
{
	const struct lk_config *cfg = run->config;
	const struct lk_app *app = run->app;
	struct lk_base_opts opts = { 0 };
	char *platform = NULL, *cache_dir;
	int rc;

	opts.os = cfg->global.os ? cfg->global.os : "linux";
	opts.arch = cfg->global.architecture ? cfg->global.architecture : lk_oci_host_arch();
	if (app->platform) {
		char *arch, *variant;

		platform = lk_xstrdup(app->platform);
		arch = strchr(platform, '/');
		*arch++ = '\0';
		variant = strchr(arch, '/');
		if (variant)
			*variant++ = '\0';
		opts.os = platform;
		opts.arch = arch;
		opts.variant = variant;
	}
	/* pulled blobs are kept in the layer cache's blob store */
	cache_dir = cfg->global.cache_dir ? lk_xstrdup(cfg->global.cache_dir) : lk_cache_default_dir();
	opts.cache_dir = cache_dir;
	opts.relative_to = cfg->dir;
	opts.insecure = cfg->global.insecure;
	rc = lk_base_open(&run->base, app->base, &opts, err);
	if (rc == LK_OK)
		run->has_base = 1;
	free(platform);
	free(cache_dir);
	return rc;
}

int lk_app_run_prepare(struct lk_app_run *run, const struct lk_config *config,
		       const struct lk_app *app, const struct lk_plugin_dirs *dirs,
		       enum lk_stage stop_after, struct lk_error *err)
{
	struct lk_scan_opts sopts = { 0 };
	uint32_t budget;
	char where[1200];

	memset(run, 0, sizeof(*run));
	run->config = config;
	run->app = app;
	if (app->line > 0)
		snprintf(where, sizeof(where), "%s:%d: app '%s'", config->path, app->line, app->name);
	else
		snprintf(where, sizeof(where), "app '%s'", app->name);

	if (lk_plugin_load(dirs, LK_KIND_DISCOVERY, app->discovery, &run->discovery, err) != LK_OK)
		goto out_prefix;
	if (lk_plugin_load(dirs, LK_KIND_STRATEGY, app->strategy, &run->strategy, err) != LK_OK)
		goto out_prefix;
	if (lk_options_resolve(&run->discovery_opts, &run->discovery, config,
			       app->discovery_opts, app->n_discovery_opts, err) != LK_OK)
		goto out_release;
	if (lk_options_resolve(&run->strategy_opts, &run->strategy, config,
			       app->strategy_opts, app->n_strategy_opts, err) != LK_OK)
		goto out_release;
	if (stop_after == LK_STAGE_PLUGINS)
		return LK_OK;

	{
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		run->scan_started_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	}
	sopts.bad_links = config->global.bad_links;
	sopts.special_files = config->global.special_files;
	sopts.excludes = (const char *const *)app->exclude.items;
	sopts.n_excludes = app->exclude.n;
	if (lk_run_discovery(&run->discovery, &run->discovery_opts, app->root, &sopts,
			     &run->scan, &run->units, err) != LK_OK)
		goto out_prefix_release;
	if (stop_after == LK_STAGE_DISCOVER) {
		run->planned = 1;
		return LK_OK;
	}
	budget = app->max_layers;
	if (app->base) {
		if (base_open(run, err) != LK_OK) {
			lk_unit_table_release(&run->units);
			lk_scan_release(&run->scan);
			goto out_prefix_release;
		}
		/* the base's layers count against max_layers */
		if (run->base.n_layers >= app->max_layers) {
			lk_error_set(err, LK_EXIT_USAGE,
				     "the base image %s has %zu layers, which leaves none of max_layers = %u for the app; raise max_layers (at most 127) or use a base with fewer layers",
				     app->base, run->base.n_layers, app->max_layers);
			lk_unit_table_release(&run->units);
			lk_scan_release(&run->scan);
			goto out_prefix_release;
		}
		budget = app->max_layers - (uint32_t)run->base.n_layers;
	}
	if (lk_run_strategy(&run->strategy, &run->strategy_opts, &run->scan, &run->units,
			    budget, &run->plan, err) != LK_OK) {
		lk_unit_table_release(&run->units);
		lk_scan_release(&run->scan);
		goto out_prefix_release;
	}
	run->planned = 2;
	return LK_OK;

out_prefix_release:
	lk_error_prefix(err, "%s", where);
out_release:
	lk_app_run_release(run);
	return LK_FAILED;
out_prefix:
	lk_error_prefix(err, "%s", where);
	lk_app_run_release(run);
	return LK_FAILED;
}

void lk_app_run_release(struct lk_app_run *run)
{
	if (run->has_base)
		lk_base_release(&run->base);
	run->has_base = 0;
	if (run->planned >= 2)
		lk_plan_release(&run->plan);
	if (run->planned >= 1) {
		lk_unit_table_release(&run->units);
		lk_scan_release(&run->scan);
	}
	lk_options_release(&run->discovery_opts);
	lk_options_release(&run->strategy_opts);
	lk_plugin_release(&run->discovery);
	lk_plugin_release(&run->strategy);
	run->planned = 0;
}

/* Layers are written by a small pool of threads, largest first. */
struct layer_job {
	struct lk_app_run *run;
	const struct lk_build_opts *bopts;
	unsigned char *reused;		/* per layer: taken from the cache */
	struct lk_layout *layout;
	const struct lk_layer_opts *opts;
	const struct lk_share *share;	/* NULL = no shared store */
	struct lk_progress *progress;
	struct lk_blob_info *blobs;
	size_t *order;			/* layer indices, largest first */
	size_t n, next;
	pthread_mutex_t mutex;
	int failed;
	struct lk_error err;
};

static void *layer_worker(void *arg)
{
	struct layer_job *job = arg;

	for (;;) {
		struct lk_error err;
		size_t i;

		pthread_mutex_lock(&job->mutex);
		if (job->failed || job->next >= job->n) {
			pthread_mutex_unlock(&job->mutex);
			return NULL;
		}
		i = job->order[job->next++];
		pthread_mutex_unlock(&job->mutex);

		const struct lk_plan_layer *l = &job->run->plan.layers[i];
		struct lk_cache *cache = job->bopts->cache;
		struct lk_layer_opts opts = *job->opts;
		struct lk_progress_layer progress;
		char fp[LK_SHA256_HEX_LEN + 1];
		int cacheable = 0;

		if (job->share && job->share->entries[i]) {
			opts.entries = job->share->entries[i];
			opts.n_entries = job->share->n_entries[i];
		}
		lk_progress_layer_start(job->progress, &progress, l->bytes);
		if (job->progress->out) {
			opts.on_tar_bytes = lk_progress_layer_bytes;
			opts.on_tar_bytes_arg = &progress;
		}
		if (cache) {
			/* Stamps within the last 2 s may not change on a further write. */
			lk_layer_fingerprint(&job->run->scan, l->files, l->n_files, &opts,
					     job->bopts->verify,
					     job->run->scan_started_ns - 2000000000LL, fp, &cacheable);
			if (lk_cache_fetch(cache, fp, job->layout, &job->blobs[i])) {
				job->reused[i] = 1;
				lk_progress_layer_end(&progress, 1);
				lk_log(LK_LOG_DEBUG, "layer %s: reused %s", l->name,
				       job->blobs[i].digest);
				continue;
			}
		}
		lk_error_clear(&err);
		if (lk_layer_write(job->layout, &job->run->scan, l->files, l->n_files, &opts,
				   &job->blobs[i], &err) != LK_OK) {
			pthread_mutex_lock(&job->mutex);
			if (!job->failed) {
				job->failed = 1;
				job->err = err;
				lk_error_prefix(&job->err, "layer '%s'", l->name);
			}
			pthread_mutex_unlock(&job->mutex);
			return NULL;
		}
		if (cache && cacheable)
			lk_cache_store(cache, fp, job->layout, &job->blobs[i]);
		lk_progress_layer_end(&progress, 0);
		lk_log(LK_LOG_DEBUG, "layer %s: wrote %s", l->name, job->blobs[i].digest);
	}
}

static const struct lk_plan *sort_plan;

static int cmp_layer_size(const void *a, const void *b)
{
	uint64_t x = sort_plan->layers[*(const size_t *)a].bytes;
	uint64_t y = sort_plan->layers[*(const size_t *)b].bytes;

	if (x != y)
		return x > y ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static int write_layers(struct lk_app_run *run, const struct lk_build_opts *bopts,
			struct lk_layout *layout, const struct lk_layer_opts *opts,
			const struct lk_share *share, struct lk_blob_info *blobs,
			unsigned char *reused, struct lk_error *err)
{
	struct layer_job job = { .run = run, .bopts = bopts, .reused = reused, .layout = layout,
				 .opts = opts, .share = share, .blobs = blobs,
				 .n = run->plan.n_layers };
	unsigned workers = opts->threads;
	struct lk_progress progress;
	uint64_t bytes = 0;
	pthread_t *threads;
	unsigned started = 0;

	for (size_t i = 0; i < job.n; i++)
		bytes += run->plan.layers[i].bytes;
	lk_progress_init(&progress, bopts->progress, run->app->name, job.n, bytes);
	job.progress = &progress;

	job.order = lk_xcalloc(job.n, sizeof(size_t));
	for (size_t i = 0; i < job.n; i++)
		job.order[i] = i;
	sort_plan = &run->plan;
	qsort(job.order, job.n, sizeof(size_t), cmp_layer_size);
	pthread_mutex_init(&job.mutex, NULL);
	if (workers > job.n)
		workers = (unsigned)job.n;
	if (workers < 1)
		workers = 1;
	threads = lk_xcalloc(workers, sizeof(pthread_t));
	for (unsigned t = 1; t < workers; t++) {
		if (pthread_create(&threads[t], NULL, layer_worker, &job) == 0)
			started++;
		else
			break;
	}
	layer_worker(&job);
	for (unsigned t = 1; t <= started; t++)
		pthread_join(threads[t], NULL);
	lk_progress_finish(&progress);
	free(threads);
	free(job.order);
	pthread_mutex_destroy(&job.mutex);
	if (job.failed) {
		*err = job.err;
		return LK_FAILED;
	}
	return LK_OK;
}

/* "fastapi 0.110.0, pydantic 2.6.0, ..." for the history comment. */
static char *layer_units_text(const struct lk_app_run *run, const struct lk_plan_layer *l)
{
	size_t cap = 256, used = 0;
	char *text = lk_xmalloc(cap);

	text[0] = '\0';
	for (size_t i = 0; i < l->n_units; i++) {
		const struct lk_unit *u = &run->units.units[l->units[i]];
		char *item = lk_xasprintf("%s%s%s%s", i ? ", " : "", u->name,
					  u->version[0] ? " " : "", u->version);
		size_t n = strlen(item);

		lk_grow((void **)&text, &cap, used + n + 1, 1);
		memcpy(text + used, item, n + 1);
		used += n;
		free(item);
	}
	if (l->n_extra_files) {
		char *item = lk_xasprintf("%s%zu single files", used ? ", " : "", l->n_extra_files);
		size_t n = strlen(item);

		lk_grow((void **)&text, &cap, used + n + 1, 1);
		memcpy(text + used, item, n + 1);
		free(item);
	}
	return text;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int lk_app_run_build(struct lk_app_run *run, const struct lk_build_opts *bopts,
		     struct lk_build_result *result, struct lk_error *err)
{
	const struct lk_config *cfg = run->config;
	const struct lk_app *app = run->app;
	const char *arch = cfg->global.architecture ? cfg->global.architecture : lk_oci_host_arch();
	const char *os = cfg->global.os ? cfg->global.os : "linux";
	size_t n = run->plan.n_layers;
	size_t nb = run->has_base ? run->base.n_layers : 0;	/* base layers go first */
	struct lk_layer_opts opts;
	struct lk_share share = { 0 };
	struct lk_layout layout;
	struct lk_blob_info *blobs;
	struct lk_oci_layer *layers;
	unsigned char *reused = NULL;
	char config_digest[LK_DIGEST_LEN];
	char *config_json = NULL, *manifest_json = NULL, *index_json = NULL;
	size_t config_len, manifest_len, index_len;
	double start = now_seconds();
	int rc = LK_FAILED;

	memset(result, 0, sizeof(*result));
	lk_layer_opts_from_config(&opts, cfg, app);
	if (app->shared_store &&
	    lk_share_init(&share, app->shared_store, opts.prefix, &run->scan, &run->units,
			  &run->plan, err) != LK_OK) {
		lk_share_release(&share);
		lk_error_prefix(err, "app '%s'", app->name);
		return LK_FAILED;
	}
	if (lk_layout_open(&layout, app->output, err) != LK_OK) {
		lk_share_release(&share);
		lk_error_prefix(err, "app '%s'", app->name);
		return LK_FAILED;
	}
	blobs = lk_xcalloc(n, sizeof(*blobs));
	layers = lk_xcalloc(nb + n, sizeof(*layers));
	reused = lk_xcalloc(n ? n : 1, 1);
	if (run->has_base) {
		arch = run->base.arch;
		os = run->base.os;
		if (lk_base_add_layers(&run->base, &layout, err) != LK_OK)
			goto out_abort;
		for (size_t i = 0; i < nb; i++) {
			layers[i].media_type = run->base.layers[i].media_type;
			strcpy(layers[i].blob.digest, run->base.layers[i].digest);
			layers[i].blob.size = run->base.layers[i].size;
			result->image_bytes += run->base.layers[i].size;
		}
		result->base_layers = nb;
		result->base_pulled_blobs = run->base.pulled_blobs;
		result->base_pulled_bytes = run->base.pulled_bytes;
	}
	if (write_layers(run, bopts, &layout, &opts, app->shared_store ? &share : NULL, blobs,
			 reused, err) != LK_OK)
		goto out_abort;
	for (size_t i = 0; i < n; i++) {
		const struct lk_plan_layer *l = &run->plan.layers[i];

		layers[nb + i].name = l->name;
		layers[nb + i].created_by = lk_xasprintf("layerkit %s: strategy %s, layer %zu/%zu '%s'",
							 LK_VERSION, run->plan.strategy, i + 1, n, l->name);
		layers[nb + i].comment = layer_units_text(run, l);
		layers[nb + i].media_type = lk_layer_media_type(opts.compression);
		layers[nb + i].blob = blobs[i];
		result->image_bytes += blobs[i].size;
		result->tar_bytes += blobs[i].tar_size;
		if (reused[i]) {
			result->layers_reused++;
		} else {
			result->layers_built++;
			result->tar_bytes_built += blobs[i].tar_size;
		}
	}
	config_json = lk_oci_config_json(app, arch, os, cfg->global.mtime, layers + nb, n,
					 &config_len);
	if (config_json && run->has_base) {
		char *own = config_json;

		config_json = lk_base_config_json(&run->base, own, config_len, app->workdir_set,
						  &config_len, err);
		free(own);
	}
	if (!config_json || lk_layout_put_blob(&layout, config_json, config_len, config_digest,
					       err) != LK_OK)
		goto out_abort;
	manifest_json = lk_oci_manifest_json(config_digest, config_len, layers, nb + n,
					     &manifest_len);
	if (!manifest_json || lk_layout_put_blob(&layout, manifest_json, manifest_len,
						 result->manifest_digest, err) != LK_OK)
		goto out_abort;
	result->manifest_size = manifest_len;
	index_json = lk_oci_index_json_variant(result->manifest_digest, manifest_len, app->tag,
					       arch, os, run->has_base ? run->base.variant : NULL,
					       &index_len);
	if (!index_json || lk_layout_commit(&layout, index_json, index_len, err) != LK_OK)
		goto out_abort;
	result->n_layers = nb + n;
	if (app->format == LK_FORMAT_DOCKER_ARCHIVE) {
		struct lk_archive_image image = {
			.layout_dir = app->output,
			.manifest_digest = result->manifest_digest,
			.image_name = app->image_name ? app->image_name : app->name,
			.tag = app->tag,
			.mtime = cfg->global.mtime,
		};
		char *fallback = app->archive ? NULL : lk_xasprintf("%s.tar", app->output);
		const char *path = app->archive ? app->archive : fallback;

		/* the layout is complete: a failure here leaves it, not a mix */
		rc = lk_archive_write(path, &image, err);
		if (rc == LK_OK)
			lk_log(LK_LOG_INFO, "app '%s': docker-archive %s", app->name, path);
		free(fallback);
		if (rc != LK_OK) {
			lk_error_prefix(err, "app '%s'", app->name);
			goto out_free;
		}
	}
	if (run->has_base)
		lk_log(LK_LOG_INFO, "app '%s': base image %s: %zu layers, %zu blobs pulled (%llu bytes)",
		       app->name, app->base, nb, run->base.pulled_blobs,
		       (unsigned long long)run->base.pulled_bytes);
	result->seconds = now_seconds() - start;
	rc = LK_OK;
	goto out_free;

out_abort:
	if (!err->msg[0])
		lk_error_set(err, LK_EXIT_BUILD, "out of memory writing the image documents");
	lk_error_prefix(err, "app '%s'", app->name);
	lk_layout_abort(&layout);
out_free:
	lk_layout_release(&layout);
	for (size_t i = nb; i < nb + n; i++) {
		free((char *)layers[i].created_by);
		free((char *)layers[i].comment);
	}
	free(layers);
	free(blobs);
	free(reused);
	free(config_json);
	free(manifest_json);
	free(index_json);
	lk_share_release(&share);
	return rc;
}
