/* main.c - the layerkit command line. */
#include "analyze.h"
#include "build.h"
#include "diff.h"
#include "explain.h"
#include "progress.h"
#include "push.h"
#include "oci.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] =
"usage: layerkit [-v|-q] COMMAND [OPTIONS]\n"
"\n"
"Turns an application's files into an OCI image whose layers are cut for caching.\n"
"\n"
"commands:\n"
"  build      write each app's image as an OCI layout\n"
"  plan       print the layer plan (layers, units, files, bytes); writes nothing\n"
"             plan --explain PATH...: each path's unit, origin, layer and the reason\n"
"  analyze    every installed strategy's plan of an app, measured: layers, image\n"
"             size, bytes a package bump or an app change rebuilds; a recommendation\n"
"  diff       diff A B (OCI layouts DIR[:TAG]): B's layers A has, lacks, bytes moved\n"
"  discover   print the units discovery finds; writes nothing\n"
"  plugins    list the plugins found (kind, name, ABI, file); -v adds their options\n"
"  cache      show the layer cache; --max-size SIZE / --older-than AGE prune it\n"
"  push       push an image: push [--insecure] DIR[:TAG] REF, or push -c FILE --app NAME REF\n"
"\n"
"options of build, plan, analyze and discover:\n"
"  -c, --config FILE      layering.ini to read (default: ./layering.ini when it exists)\n"
"      --app NAME         only this app (repeatable); with --root: the app to (re)root\n"
"      --root DIR         build DIR (without --app: one app named 'app' from DIR)\n"
"      --discovery NAME   discovery plugin (overrides the config)\n"
"      --strategy NAME    strategy plugin (overrides the config)\n"
"  -o, --output DIR       output OCI layout directory (one app only)\n"
"      --tag TAG          image tag (default: latest)\n"
"      --compression C    gzip, zstd or none\n"
"  -j, --jobs N           threads (default: the number of CPUs)\n"
"      --plugin-path DIRS extra plugin directories, ':'-separated, searched first\n"
"      --json             machine-readable output (plan, discover, analyze, diff, plugins)\n"
"      --explain          plan: explain the paths given as arguments\n"
"      --no-cache         neither use nor fill the layer cache\n"
"      --cache-dir DIR    layer cache (default: cache_dir, $XDG_CACHE_HOME/layerkit)\n"
"      --push REF         build: then push the image to REF (registry/name:tag)\n"
"      --insecure         push, and pull base images, over plain HTTP (loopback only)\n"
"      --format F         build: oci (default) or docker-archive (also writes one tar\n"
"                         for docker/podman load: -o FILE, default <output>.tar)\n"
"\n"
"global options:\n"
"  -v, --verbose   more messages      -q, --quiet   errors only\n"
"  -h, --help      this text          --version     print the version\n"
"\n"
"exit status: 0 success, 1 build error, 2 usage or configuration error (also:\n"
"a path plan --explain does not find; a missing or invalid layout for diff)\n";

struct cli {
	const char *command;
	const char *config_path;
	struct lk_string_list apps;
	const char *root, *discovery, *strategy, *output, *tag, *compression;
	const char *plugin_path;
	const char *cache_dir, *max_size, *older_than;
	const char *push_ref;
	const char *format;		/* build --format: oci or docker-archive */
	char **args;			/* positional arguments after the command */
	int n_args;
	long jobs;
	int json;
	int explain;
	int no_cache;
	int insecure;
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "layerkit: error: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'layerkit --help'.\n");
	return LK_EXIT_USAGE;
}

enum { OPT_APP = 256, OPT_ROOT, OPT_DISCOVERY, OPT_STRATEGY, OPT_TAG, OPT_COMPRESSION,
       OPT_PLUGIN_PATH, OPT_JSON, OPT_VERSION, OPT_NO_CACHE, OPT_CACHE_DIR, OPT_MAX_SIZE,
       OPT_OLDER_THAN, OPT_PUSH, OPT_INSECURE, OPT_EXPLAIN, OPT_FORMAT };

static const struct option long_options[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "app", required_argument, NULL, OPT_APP },
	{ "root", required_argument, NULL, OPT_ROOT },
	{ "discovery", required_argument, NULL, OPT_DISCOVERY },
	{ "strategy", required_argument, NULL, OPT_STRATEGY },
	{ "output", required_argument, NULL, 'o' },
	{ "tag", required_argument, NULL, OPT_TAG },
	{ "compression", required_argument, NULL, OPT_COMPRESSION },
	{ "jobs", required_argument, NULL, 'j' },
	{ "plugin-path", required_argument, NULL, OPT_PLUGIN_PATH },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "explain", no_argument, NULL, OPT_EXPLAIN },
	{ "no-cache", no_argument, NULL, OPT_NO_CACHE },
	{ "push", required_argument, NULL, OPT_PUSH },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "cache-dir", required_argument, NULL, OPT_CACHE_DIR },
	{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
	{ "older-than", required_argument, NULL, OPT_OLDER_THAN },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* Returns -1 to go on, else an exit code. */
static int parse_args(struct cli *cli, int argc, char **argv)
{
	int c;

	cli->jobs = -1;
	optind = 0;
	while ((c = getopt_long(argc, argv, cli->command ? "c:o:j:vqh" : "+c:o:j:vqh",
				long_options, NULL)) != -1) {
		switch (c) {
		case 'c': cli->config_path = optarg; break;
		case OPT_APP: lk_string_list_push(&cli->apps, optarg); break;
		case OPT_ROOT: cli->root = optarg; break;
		case OPT_DISCOVERY: cli->discovery = optarg; break;
		case OPT_STRATEGY: cli->strategy = optarg; break;
		case 'o': cli->output = optarg; break;
		case OPT_TAG: cli->tag = optarg; break;
		case OPT_COMPRESSION: cli->compression = optarg; break;
		case OPT_PLUGIN_PATH: cli->plugin_path = optarg; break;
		case OPT_JSON: cli->json = 1; break;
		case OPT_EXPLAIN: cli->explain = 1; break;
		case OPT_NO_CACHE: cli->no_cache = 1; break;
		case OPT_PUSH: cli->push_ref = optarg; break;
		case OPT_INSECURE: cli->insecure = 1; break;
		case OPT_FORMAT: cli->format = optarg; break;
		case OPT_CACHE_DIR: cli->cache_dir = optarg; break;
		case OPT_MAX_SIZE: cli->max_size = optarg; break;
		case OPT_OLDER_THAN: cli->older_than = optarg; break;
		case 'j': {
			int64_t v;
			if (lk_parse_int64(optarg, &v) != 0 || v < 0 || v > 1024)
				return usage_error("--jobs takes a number from 0 to 1024, not '%s'",
						   optarg);
			cli->jobs = (long)v;
			break;
		}
		case 'v': lk_verbosity = 2; break;
		case 'q': lk_verbosity = 0; break;
		case 'h': fputs(usage_text, stdout); return LK_EXIT_OK;
		case OPT_VERSION: printf("layerkit %s (plugin ABI %d.%d)\n", LK_VERSION,
					 LK_ABI_MAJOR, LK_ABI_MINOR); return LK_EXIT_OK;
		default: return usage_error("%s", "unknown option");
		}
	}
	if (!cli->command) {
		if (optind >= argc)
			return usage_error("%s", "no command given (build, plan, discover, plugins)");
		cli->command = argv[optind];
		/* Options may also follow the command. */
		return parse_args(cli, argc - optind, argv + optind);
	}
	if (cli->explain && strcmp(cli->command, "plan"))
		return usage_error("%s", "--explain goes with plan: layerkit plan --explain PATH...");
	/* Only push, diff and plan --explain take positional arguments. */
	if (optind < argc && strcmp(cli->command, "push") != 0 && strcmp(cli->command, "diff") != 0 &&
	    !(cli->explain && !strcmp(cli->command, "plan")))
		return usage_error("unexpected argument '%s'", argv[optind]);
	cli->args = argv + optind;
	cli->n_args = argc - optind;
	return -1;
}

/*
 * Reads the config and applies the command line to it.  Returns -1 to go
 * on, else an exit code, with the error printed and cfg already released.
 */
static int load_config(struct cli *cli, struct lk_config *cfg)
{
	struct lk_error err;
	struct stat st;
	const char *path = cli->config_path;
	int rc = -1;

	lk_error_clear(&err);
	lk_config_init(cfg);
	if (!path && stat("layering.ini", &st) == 0)
		path = "layering.ini";
	if (path && lk_config_load(cfg, path, &err) != LK_OK) {
		fprintf(stderr, "layerkit: error: %s\n", err.msg);
		rc = err.exit_code ? err.exit_code : LK_EXIT_USAGE;
		goto out;
	}
	if (cli->compression) {
		if (!strcmp(cli->compression, "gzip"))
			cfg->global.compression = LK_COMPRESS_GZIP;
		else if (!strcmp(cli->compression, "zstd"))
			cfg->global.compression = LK_COMPRESS_ZSTD;
		else if (!strcmp(cli->compression, "none"))
			cfg->global.compression = LK_COMPRESS_NONE;
		else
			rc = usage_error("--compression takes gzip, zstd or none, not '%s'",
					 cli->compression);
	}
	if (cli->jobs >= 0)
		cfg->global.jobs = (unsigned)cli->jobs;
out:
	if (rc >= 0)
		lk_config_release(cfg);
	return rc;
}

static void replace(char **field, const char *value)
{
	free(*field);
	*field = lk_xstrdup(value);
}

/* The apps this command works on, with the command line's overrides applied. */
static int select_apps(struct cli *cli, struct lk_config *cfg, struct lk_app ***out,
		       size_t *n_out)
{
	struct lk_app **apps = NULL;
	size_t n = 0;

	if (cli->root && cli->apps.n > 1)
		return usage_error("%s", "--root goes with one --app at most");
	if (cli->root) {
		const char *name = cli->apps.n ? cli->apps.items[0] : "app";
		struct lk_app *app = lk_config_find_app(cfg, name);

		if (!app)
			app = lk_config_add_app(cfg, name, cli->root);
		if (!app)
			return usage_error("invalid app name '%s'", name);
		replace(&app->root, cli->root);
		apps = lk_xcalloc(1, sizeof(*apps));
		apps[n++] = app;
	} else if (cli->apps.n) {
		apps = lk_xcalloc(cli->apps.n, sizeof(*apps));
		for (size_t i = 0; i < cli->apps.n; i++) {
			struct lk_app *app = lk_config_find_app(cfg, cli->apps.items[i]);

			if (!app) {
				free(apps);
				fprintf(stderr, "layerkit: error: %s defines no app '%s'; "
					"the apps are named by its [app.NAME] sections\n",
					cfg->path ? cfg->path : "the configuration",
					cli->apps.items[i]);
				return LK_EXIT_USAGE;
			}
			apps[n++] = app;
		}
	} else {
		apps = lk_xcalloc(cfg->n_apps ? cfg->n_apps : 1, sizeof(*apps));
		for (size_t i = 0; i < cfg->n_apps; i++)
			apps[n++] = &cfg->apps[i];
	}
	if (n == 0) {
		free(apps);
		if (cfg->path)
			fprintf(stderr, "layerkit: error: %s defines no [app.NAME] section; add one "
				"(see config/layering.ini) or pass --root DIR\n", cfg->path);
		else
			fprintf(stderr, "layerkit: error: nothing to do: no layering.ini here; pass "
				"--root DIR or -c FILE\n");
		return LK_EXIT_USAGE;
	}
	if (cli->push_ref && n > 1) {
		free(apps);
		return usage_error("%s", "--push names one image: choose one app with --app");
	}
	if (cli->output && n > 1) {
		free(apps);
		return usage_error("%s", "-o/--output names one layout: choose one app with --app");
	}
	if (cli->format && strcmp(cli->format, "oci") && strcmp(cli->format, "docker-archive")) {
		free(apps);
		return usage_error("--format is oci or docker-archive, not '%s'", cli->format);
	}
	/* base images: plain HTTP to loopback, and pulls kept in the cache given */
	cfg->global.insecure = cli->insecure;
	if (cli->cache_dir)
		replace(&cfg->global.cache_dir, cli->cache_dir);
	for (size_t i = 0; i < n; i++) {
		if (cli->format)
			apps[i]->format = strcmp(cli->format, "oci") ? LK_FORMAT_DOCKER_ARCHIVE
								     : LK_FORMAT_OCI;
		if (cli->discovery)
			replace(&apps[i]->discovery, cli->discovery);
		if (cli->strategy)
			replace(&apps[i]->strategy, cli->strategy);
		/* with docker-archive, -o names the tar; the layout stays where it is */
		if (cli->output && apps[i]->format == LK_FORMAT_DOCKER_ARCHIVE)
			replace(&apps[i]->archive, cli->output);
		else if (cli->output)
			replace(&apps[i]->output, cli->output);
		if (cli->tag)
			replace(&apps[i]->tag, cli->tag);
	}
	*out = apps;
	*n_out = n;
	return -1;
}

static void plugin_dirs_for(struct lk_plugin_dirs *dirs, const struct cli *cli,
			    const struct lk_config *cfg)
{
	struct lk_string_list first = { 0 };

	if (cli->plugin_path) {
		char *copy = lk_xstrdup(cli->plugin_path), *save = NULL;

		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
			lk_string_list_push(&first, d);
		free(copy);
	}
	for (size_t i = 0; i < cfg->global.plugin_path.n; i++)
		lk_string_list_push(&first, cfg->global.plugin_path.items[i]);
	lk_plugin_dirs_init(dirs, &first);
	lk_string_list_release(&first);
}

/* ---- plan and discover output ---------------------------------------- */

static json_t *unit_json(const struct lk_unit *u)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}",
			 "name", u->name, "version", u->version, "kind", lk_unit_kind_name(u->kind),
			 "origin", u->origin, "files", (json_int_t)u->n_files,
			 "bytes", (json_int_t)u->bytes);
}

static json_t *paths_json(char **paths, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(paths[i]));
	return a;
}

static json_t *run_json(const struct lk_app_run *run, int with_plan)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}",
			      "app", run->app->name, "root", run->app->root,
			      "discovery", run->discovery.name, "strategy", run->strategy.name,
			      "files", (json_int_t)run->scan.n_files,
			      "bytes", (json_int_t)run->scan.total_bytes);
	json_t *units = json_array();

	for (size_t i = 0; i < run->units.n_units; i++)
		json_array_append_new(units, unit_json(&run->units.units[i]));
	json_object_set_new(o, "units", units);
	json_object_set_new(o, "excluded", paths_json(run->scan.excluded, run->scan.n_excluded));
	json_object_set_new(o, "skipped", paths_json(run->scan.skipped, run->scan.n_skipped));
	if (with_plan) {
		json_t *layers = json_array();

		for (size_t i = 0; i < run->plan.n_layers; i++) {
			const struct lk_plan_layer *l = &run->plan.layers[i];
			json_t *lu = json_array();

			for (size_t j = 0; j < l->n_units; j++) {
				json_t *u = unit_json(&run->units.units[l->units[j]]);
				json_object_set_new(u, "reason", json_string(l->unit_reasons[j] ?
							l->unit_reasons[j] : ""));
				json_array_append_new(lu, u);
			}
			json_array_append_new(layers, json_pack("{s:s, s:s, s:I, s:I, s:o, s:I}",
				"name", l->name, "reason", l->reason ? l->reason : "",
				"files", (json_int_t)l->n_files, "bytes", (json_int_t)l->bytes,
				"units", lu, "single_files", (json_int_t)l->n_extra_files));
		}
		json_object_set_new(o, "layers", layers);
	}
	return o;
}

static void print_paths(const char *what, char **paths, size_t n)
{
	if (!n)
		return;
	printf("  %s (%zu):", what, n);
	for (size_t i = 0; i < n && i < 20; i++)
		printf(" %s", paths[i]);
	printf(n > 20 ? " ...\n" : "\n");
}

static void print_unit_row(const struct lk_unit *u, const char *reason)
{
	char hb[32];

	printf("      %-11s %-32s %-12s %10s %7zu files%s%s\n", lk_unit_kind_name(u->kind),
	       u->name, u->version[0] ? u->version : "-",
	       lk_human_bytes(u->bytes, hb, sizeof(hb)), u->n_files,
	       reason && *reason ? "  " : "", reason ? reason : "");
}

static void print_run_text(const struct lk_app_run *run, int with_plan)
{
	char hb[32];

	printf("app %s: root %s, discovery %s, strategy %s\n", run->app->name, run->app->root,
	       run->discovery.name, run->strategy.name);
	printf("  %zu units, %zu files, %s", run->units.n_units, run->scan.n_files,
	       lk_human_bytes(run->scan.total_bytes, hb, sizeof(hb)));
	if (with_plan)
		printf(", %zu layers", run->plan.n_layers);
	printf("\n");
	if (!with_plan) {
		for (size_t i = 0; i < run->units.n_units; i++) {
			const struct lk_unit *u = &run->units.units[i];
			print_unit_row(u, NULL);
			if (lk_verbosity > 1)
				printf("          origin: %s\n", u->origin);
		}
	} else {
		for (size_t i = 0; i < run->plan.n_layers; i++) {
			const struct lk_plan_layer *l = &run->plan.layers[i];

			printf("  layer %zu/%zu %-24s %7zu files %10s%s%s\n", i + 1, run->plan.n_layers,
			       l->name, l->n_files, lk_human_bytes(l->bytes, hb, sizeof(hb)),
			       l->reason && *l->reason ? "  " : "", l->reason ? l->reason : "");
			for (size_t j = 0; j < l->n_units; j++)
				print_unit_row(&run->units.units[l->units[j]], l->unit_reasons[j]);
			if (l->n_extra_files)
				printf("      + %zu single files\n", l->n_extra_files);
		}
	}
	print_paths("excluded", run->scan.excluded, run->scan.n_excluded);
	print_paths("skipped", run->scan.skipped, run->scan.n_skipped);
}

/* ---- commands --------------------------------------------------------- */

/* Pushes DIR:TAG to ref and prints the summary.  Returns an exit code. */
static int push_one(const struct cli *cli, const char *dir, const char *tag, const char *ref,
		    const struct lk_config *cfg)
{
	struct lk_push_opts opts = { .insecure = cli->insecure,
				     .jobs = cli->jobs > 0 ? (unsigned)cli->jobs : 0,
				     .cache_dir = cli->cache_dir ? cli->cache_dir :
						  cfg->global.cache_dir };
	struct lk_push_stats st;
	struct lk_error err;

	lk_error_clear(&err);
	if (lk_push_layout(dir, tag, ref, &opts, &st, &err) != LK_OK) {
		fprintf(stderr, "layerkit: error: %s\n", err.msg);
		return err.exit_code ? err.exit_code : LK_EXIT_BUILD;
	}
	/* lk_push_layout logs the summary (blobs and bytes uploaded, mounted, skipped). */
	return LK_EXIT_OK;
}

/* push DIR[:TAG] REF, or push -c FILE --app NAME REF */
static int cmd_push(struct cli *cli)
{
	struct lk_config cfg;
	struct lk_error err;
	int rc;

	lk_error_clear(&err);
	rc = load_config(cli, &cfg);
	if (rc >= 0)
		return rc;
	if (cli->apps.n) {
		struct lk_app *app;

		if (cli->apps.n != 1 || cli->n_args != 1) {
			rc = usage_error("%s", "push -c FILE --app NAME takes one app and one REF");
			goto out;
		}
		app = lk_config_find_app(&cfg, cli->apps.items[0]);
		if (!app) {
			fprintf(stderr, "layerkit: error: %s defines no app '%s'\n",
				cfg.path ? cfg.path : "the configuration", cli->apps.items[0]);
			rc = LK_EXIT_USAGE;
			goto out;
		}
		rc = push_one(cli, app->output, app->tag, cli->args[0], &cfg);
	} else {
		char *dir = NULL, *tag = NULL;

		if (cli->n_args != 2) {
			rc = usage_error("%s", "push takes SOURCE (an OCI layout DIR[:TAG]) and REF "
					 "(registry/name[:tag])");
			goto out;
		}
		lk_push_source_split(cli->args[0], &dir, &tag);
		rc = push_one(cli, dir, tag, cli->args[1], &cfg);
		free(dir);
		free(tag);
	}
out:
	lk_config_release(&cfg);
	return rc;
}

static int cmd_apps(struct cli *cli, enum lk_stage stage, int build)
{
	struct lk_config cfg;
	struct lk_error err;
	struct lk_plugin_dirs dirs;
	struct lk_app **apps = NULL;
	size_t n_apps = 0;
	json_t *all = NULL;
	struct lk_cache cache = { .blobs_fd = -1, .layers_fd = -1 };
	struct lk_build_opts bopts = { 0 };
	int rc;

	lk_error_clear(&err);
	rc = load_config(cli, &cfg);
	if (rc >= 0)
		return rc;
	rc = select_apps(cli, &cfg, &apps, &n_apps);
	if (rc >= 0) {
		lk_config_release(&cfg);
		return rc;
	}
	plugin_dirs_for(&dirs, cli, &cfg);
	if (build && !cli->no_cache) {
		char *dir = cli->cache_dir ? lk_xstrdup(cli->cache_dir) :
			    cfg.global.cache_dir ? lk_xstrdup(cfg.global.cache_dir) :
			    lk_cache_default_dir();

		if (lk_cache_open(&cache, dir, &err) == LK_OK) {
			bopts.cache = &cache;
		} else {
			lk_log(LK_LOG_WARN, "%s; building without the layer cache", err.msg);
			lk_error_clear(&err);
		}
		free(dir);
	}
	bopts.verify = cfg.global.verify;
	bopts.progress = build && lk_progress_wanted() ? stderr : NULL;
	if (cli->json && !build)
		all = json_array();
	rc = LK_EXIT_OK;
	for (size_t i = 0; i < n_apps; i++) {
		struct lk_app_run run;
		struct lk_build_result res;

		lk_error_clear(&err);
		if (lk_app_run_prepare(&run, &cfg, apps[i], &dirs, stage, &err) != LK_OK) {
			fprintf(stderr, "layerkit: error: %s\n", err.msg);
			rc = err.exit_code ? err.exit_code : LK_EXIT_BUILD;
			break;
		}
		if (build) {
			if (lk_app_run_build(&run, &bopts, &res, &err) != LK_OK) {
				fprintf(stderr, "layerkit: error: %s\n", err.msg);
				rc = err.exit_code ? err.exit_code : LK_EXIT_BUILD;
				lk_app_run_release(&run);
				break;
			}
			if (cli->push_ref && push_one(cli, apps[i]->output, apps[i]->tag,
						      cli->push_ref, &cfg) != LK_EXIT_OK) {
				rc = LK_EXIT_BUILD;
				lk_app_run_release(&run);
				break;
			}
			if (lk_verbosity > 0) {
				char hb[32];
				printf("%s: %s:%s %s, %zu layers (%zu built, %zu cached), %s, %.3f s\n",
				       apps[i]->name, apps[i]->output, apps[i]->tag, res.manifest_digest,
				       res.n_layers, res.layers_built, res.layers_reused,
				       lk_human_bytes(res.image_bytes, hb, sizeof(hb)), res.seconds);
			}
		} else if (all) {
			json_array_append_new(all, run_json(&run, stage == LK_STAGE_PLAN));
		} else {
			print_run_text(&run, stage == LK_STAGE_PLAN);
		}
		lk_app_run_release(&run);
	}
	if (all) {
		if (rc == LK_EXIT_OK) {
			char *s = json_dumps(all, JSON_INDENT(2) | JSON_SORT_KEYS);
			if (s)
				printf("%s\n", s);
			free(s);
		}
		json_decref(all);
	}
	free(apps);
	if (bopts.cache)
		lk_cache_release(&cache);
	lk_plugin_dirs_release(&dirs);
	lk_config_release(&cfg);
	return rc;
}

/* Reads the config, picks the apps and the plugin directories for a command
 * that looks at apps.  Returns -1 (all three filled: release them) or an
 * exit code (nothing to release). */
static int apps_open(struct cli *cli, struct lk_config *cfg, struct lk_app ***apps,
		     size_t *n_apps, struct lk_plugin_dirs *dirs)
{
	int rc;

	rc = load_config(cli, cfg);
	if (rc >= 0)
		return rc;
	rc = select_apps(cli, cfg, apps, n_apps);
	if (rc >= 0) {
		lk_config_release(cfg);
		return rc;
	}
	plugin_dirs_for(dirs, cli, cfg);
	return -1;
}

static void apps_close(struct lk_config *cfg, struct lk_app **apps, struct lk_plugin_dirs *dirs)
{
	free(apps);
	lk_plugin_dirs_release(dirs);
	lk_config_release(cfg);
}

static void json_print(json_t *doc)
{
	char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);

	if (text)
		printf("%s\n", text);
	free(text);
}

/* plan --explain PATH...: one app; exit 2 when a path is not found. */
static int cmd_explain(struct cli *cli)
{
	struct lk_config cfg;
	struct lk_plugin_dirs dirs;
	struct lk_app **apps;
	struct lk_app_run run;
	struct lk_share share = { 0 };
	struct lk_error err;
	json_t *all = cli->json ? json_array() : NULL;
	size_t n_apps;
	int rc;

	rc = apps_open(cli, &cfg, &apps, &n_apps, &dirs);
	if (rc >= 0) {
		json_decref(all);
		return rc;
	}
	if (n_apps != 1 || !cli->n_args) {
		rc = usage_error("%s", n_apps != 1 ?
				 "plan --explain looks at one app: choose it with --app NAME" :
				 "plan --explain takes the paths to explain, e.g. plan --explain app/main.py");
		goto out_close;
	}
	lk_error_clear(&err);
	if (lk_app_run_prepare(&run, &cfg, apps[0], &dirs, LK_STAGE_PLAN, &err) != LK_OK) {
		fprintf(stderr, "layerkit: error: %s\n", err.msg);
		rc = err.exit_code ? err.exit_code : LK_EXIT_BUILD;
		goto out_close;
	}
	if (apps[0]->shared_store &&
	    lk_share_init(&share, apps[0]->shared_store, apps[0]->prefix, &run.scan, &run.units,
			  &run.plan, &err) != LK_OK) {
		fprintf(stderr, "layerkit: error: app '%s': %s\n", apps[0]->name, err.msg);
		rc = err.exit_code ? err.exit_code : LK_EXIT_BUILD;
		goto out_release_run;
	}
	rc = LK_EXIT_OK;
	for (int i = 0; i < cli->n_args; i++) {
		struct lk_explain_item item;
		const struct lk_share *sp = apps[0]->shared_store ? &share : NULL;

		lk_error_clear(&err);
		if (lk_explain_path(&run, sp, cli->args[i], &item, &err) != LK_OK) {
			fprintf(stderr, "layerkit: error: %s\n", err.msg);
			if (all)
				json_array_append_new(all, json_pack("{s:s, s:s}", "query",
								     cli->args[i], "error", err.msg));
			rc = LK_EXIT_USAGE;
			continue;
		}
		if (all) {
			json_array_append_new(all, lk_explain_json(&run, sp, &item));
		} else {
			if (i)
				putchar('\n');
			lk_explain_print(stdout, &run, sp, &item);
		}
		lk_explain_item_release(&item);
	}
	if (all)
		json_print(all);
out_release_run:
	lk_share_release(&share);
	lk_app_run_release(&run);
out_close:
	json_decref(all);
	apps_close(&cfg, apps, &dirs);
	return rc;
}

/* analyze: every installed strategy's plan of each app, measured. */
static int cmd_analyze(struct cli *cli)
{
	struct lk_config cfg;
	struct lk_plugin_dirs dirs;
	struct lk_app **apps;
	struct lk_error err;
	json_t *all = cli->json ? json_array() : NULL;
	size_t n_apps;
	int rc;

	rc = apps_open(cli, &cfg, &apps, &n_apps, &dirs);
	if (rc >= 0) {
		json_decref(all);
		return rc;
	}
	rc = LK_EXIT_OK;
	for (size_t i = 0; i < n_apps; i++) {
		struct lk_app_run run;
		struct lk_analysis analysis;

		lk_error_clear(&err);
		if (lk_app_run_prepare(&run, &cfg, apps[i], &dirs, LK_STAGE_DISCOVER, &err) != LK_OK) {
			fprintf(stderr, "layerkit: error: %s\n", err.msg);
			rc = err.exit_code ? err.exit_code : LK_EXIT_BUILD;
			break;
		}
		lk_analyze_app(&analysis, &run, &dirs);
		if (all) {
			json_array_append_new(all, lk_analysis_json(&analysis, &run));
		} else {
			if (i)
				putchar('\n');
			lk_analysis_print(stdout, &analysis, &run);
		}
		lk_analysis_release(&analysis);
		lk_app_run_release(&run);
	}
	if (all && rc == LK_EXIT_OK)
		json_print(all);
	json_decref(all);
	apps_close(&cfg, apps, &dirs);
	return rc;
}

/* diff A B: a report, exit 0 whatever differs; 2 for a bad layout. */
static int cmd_diff(struct cli *cli)
{
	struct lk_image a, b;
	struct lk_image_diff d;
	struct lk_error err;
	int rc = LK_EXIT_USAGE;

	if (cli->n_args != 2)
		return usage_error("%s", "diff takes two OCI layouts, A and B (DIR or DIR:TAG)");
	lk_error_clear(&err);
	if (lk_image_load(&a, cli->args[0], &err) != LK_OK) {
		fprintf(stderr, "layerkit: error: A: %s\n", err.msg);
		goto out_release_a;
	}
	if (lk_image_load(&b, cli->args[1], &err) != LK_OK) {
		fprintf(stderr, "layerkit: error: B: %s\n", err.msg);
		goto out_release_b;
	}
	lk_image_diff(&a, &b, &d);
	if (cli->json) {
		json_t *doc = lk_diff_json(&a, &b, &d);

		json_print(doc);
		json_decref(doc);
	} else {
		lk_diff_print(stdout, &a, &b, &d);
	}
	lk_image_diff_release(&d);
	rc = LK_EXIT_OK;
out_release_b:
	lk_image_release(&b);
out_release_a:
	lk_image_release(&a);
	return rc;
}

/* "90", "90s", "15m", "12h", "7d" -> seconds; -1 on a bad value. */
static int64_t parse_age(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (end == s || v < 0)
		return -1;
	if (!*end || !strcmp(end, "s"))
		return v;
	if (!strcmp(end, "m"))
		return v * 60;
	if (!strcmp(end, "h"))
		return v * 3600;
	if (!strcmp(end, "d"))
		return v * 86400;
	return -1;
}

static int cmd_cache(struct cli *cli)
{
	struct lk_config cfg;
	struct lk_error err;
	struct lk_cache cache;
	struct lk_cache_stats st;
	uint64_t max_bytes = UINT64_MAX;
	int64_t older = -1;
	char *dir;
	char hb[32];
	int rc;

	lk_error_clear(&err);
	rc = load_config(cli, &cfg);
	if (rc >= 0)
		return rc;
	if (cli->max_size && lk_parse_size(cli->max_size, &max_bytes) != 0) {
		lk_config_release(&cfg);
		return usage_error("--max-size takes a size such as 500M or 2G, not '%s'",
				   cli->max_size);
	}
	if (cli->older_than && (older = parse_age(cli->older_than)) < 0) {
		lk_config_release(&cfg);
		return usage_error("--older-than takes an age such as 90s, 15m, 12h or 7d, not '%s'",
				   cli->older_than);
	}
	dir = cli->cache_dir ? lk_xstrdup(cli->cache_dir) :
	      cfg.global.cache_dir ? lk_xstrdup(cfg.global.cache_dir) : lk_cache_default_dir();
	rc = LK_EXIT_OK;
	if (lk_cache_open(&cache, dir, &err) != LK_OK) {
		fprintf(stderr, "layerkit: error: %s\n", err.msg);
		rc = LK_EXIT_BUILD;
		goto out;
	}
	if (cli->max_size || cli->older_than) {
		if (lk_cache_prune(&cache, max_bytes, older, &st, &err) != LK_OK)
			goto out_error;
		printf("pruned %zu blobs, %s\n", st.removed_blobs,
		       lk_human_bytes(st.removed_bytes, hb, sizeof(hb)));
	}
	if (lk_cache_stat(&cache, &st, &err) != LK_OK)
		goto out_error;
	if (cli->json) {
		json_t *o = json_pack("{s:s, s:I, s:I, s:I}", "dir", dir,
				      "layers", (json_int_t)st.n_records,
				      "blobs", (json_int_t)st.n_blobs,
				      "blob_bytes", (json_int_t)st.blob_bytes);
		char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);

		printf("%s\n", text);
		free(text);
		json_decref(o);
	} else {
		printf("cache %s: %zu layer records, %zu blobs, %s\n", dir, st.n_records, st.n_blobs,
		       lk_human_bytes(st.blob_bytes, hb, sizeof(hb)));
	}
	goto out_release;
out_error:
	fprintf(stderr, "layerkit: error: %s\n", err.msg);
	rc = LK_EXIT_BUILD;
out_release:
	lk_cache_release(&cache);
out:
	free(dir);
	lk_config_release(&cfg);
	return rc;
}

struct plugins_listing {
	int json;
	json_t *array;
	int failures;
};

static void visit_plugin(void *arg, enum lk_plugin_kind kind, const char *name, const char *path,
			 int shadowed)
{
	struct plugins_listing *out = arg;
	struct lk_plugin p;
	struct lk_error err;
	char abi[32];

	lk_error_clear(&err);
	if (lk_plugin_load_file(path, kind, name, &p, &err) != LK_OK) {
		out->failures++;
		if (out->json)
			json_array_append_new(out->array, json_pack("{s:s, s:s, s:s, s:b, s:s}",
				"kind", lk_plugin_kind_name(kind), "name", name, "file", path,
				"shadowed", shadowed, "error", err.msg));
		else
			printf("%-10s %-20s %-5s %-8s %s%s\n    error: %s\n", lk_plugin_kind_name(kind),
			       name, "-", "-", path, shadowed ? " (shadowed)" : "", err.msg);
		return;
	}
	snprintf(abi, sizeof(abi), "%u.%u", p.abi_major, p.abi_minor);
	if (out->json) {
		json_t *opts = json_array();

		for (size_t i = 0; p.options && p.options[i].key; i++) {
			const struct lk_option_spec *s = &p.options[i];
			static const char *const types[] = { "string", "int", "bool", "size", "list" };
			json_array_append_new(opts, json_pack("{s:s, s:s, s:s?, s:s}",
				"key", s->key, "type", s->type < 5 ? types[s->type] : "?",
				"default", s->default_value, "help", s->help ? s->help : ""));
		}
		json_array_append_new(out->array, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o}",
			"kind", lk_plugin_kind_name(kind), "name", name, "abi", abi,
			"version", p.version, "description", p.description, "file", path,
			"shadowed", shadowed, "options", opts));
	} else {
		printf("%-10s %-20s %-5s %-8s %s%s\n", lk_plugin_kind_name(kind), name, abi,
		       p.version, path, shadowed ? " (shadowed)" : "");
		if (lk_verbosity > 1) {
			printf("    %s\n", p.description);
			for (size_t i = 0; p.options && p.options[i].key; i++)
				printf("    %-22s default %-14s %s\n", p.options[i].key,
				       p.options[i].default_value ? p.options[i].default_value : "-",
				       p.options[i].help ? p.options[i].help : "");
		}
	}
	lk_plugin_release(&p);
}

static int cmd_plugins(struct cli *cli)
{
	struct lk_config cfg;
	struct lk_error err;
	struct lk_plugin_dirs dirs;
	struct plugins_listing out = { .json = cli->json };
	int rc;

	lk_error_clear(&err);
	rc = load_config(cli, &cfg);
	if (rc >= 0)
		return rc;
	plugin_dirs_for(&dirs, cli, &cfg);
	if (out.json)
		out.array = json_array();
	else
		printf("%-10s %-20s %-5s %-8s %s\n", "KIND", "NAME", "ABI", "VERSION", "FILE");
	lk_plugin_visit(&dirs, visit_plugin, &out);
	if (out.json) {
		char *s = json_dumps(out.array, JSON_INDENT(2) | JSON_SORT_KEYS);
		if (s)
			printf("%s\n", s);
		free(s);
		json_decref(out.array);
	}
	lk_plugin_dirs_release(&dirs);
	lk_config_release(&cfg);
	return out.failures ? LK_EXIT_BUILD : LK_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	int rc;

	rc = parse_args(&cli, argc, argv);
	if (rc >= 0)
		goto out;
	if (!strcmp(cli.command, "build"))
		rc = cmd_apps(&cli, LK_STAGE_PLAN, 1);
	else if (!strcmp(cli.command, "plan") && cli.explain)
		rc = cmd_explain(&cli);
	else if (!strcmp(cli.command, "plan"))
		rc = cmd_apps(&cli, LK_STAGE_PLAN, 0);
	else if (!strcmp(cli.command, "analyze"))
		rc = cmd_analyze(&cli);
	else if (!strcmp(cli.command, "diff"))
		rc = cmd_diff(&cli);
	else if (!strcmp(cli.command, "discover"))
		rc = cmd_apps(&cli, LK_STAGE_DISCOVER, 0);
	else if (!strcmp(cli.command, "plugins"))
		rc = cmd_plugins(&cli);
	else if (!strcmp(cli.command, "cache"))
		rc = cmd_cache(&cli);
	else if (!strcmp(cli.command, "push"))
		rc = cmd_push(&cli);
	else
		rc = usage_error("unknown command '%s' (build, plan, analyze, diff, discover, "
				 "plugins, cache, push)", cli.command);
out:
	lk_string_list_release(&cli.apps);
	return rc;
}
