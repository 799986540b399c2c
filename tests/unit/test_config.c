/* test_config.c - layering.ini: good files, defaults, and every error with its line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static char tmpdir[64];
static char cfg_path[128];

static int group_setup(void **state)
{
	strcpy(tmpdir, "/tmp/lk-test-config-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(cfg_path, sizeof(cfg_path), "%s/layering.ini", tmpdir);
	unsetenv("SOURCE_DATE_EPOCH");
	lk_verbosity = 0;
	return 0;
}

static int group_teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_bytes(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Writes text as the config file and loads it into cfg. */
static int load_text(struct lk_config *cfg, const char *text, struct lk_error *err)
{
	write_bytes(cfg_path, text, strlen(text));
	lk_config_init(cfg);
	lk_error_clear(err);
	return lk_config_load(cfg, cfg_path, err);
}

/* Loading text fails with "PATH:LINE: ..." holding want. */
static void expect_error(const char *text, int line, const char *want)
{
	struct lk_config cfg;
	struct lk_error err;
	char prefix[200];

	assert_int_equal(load_text(&cfg, text, &err), LK_FAILED);
	assert_int_equal(err.exit_code, LK_EXIT_USAGE);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", cfg_path, line);
	if (strncmp(err.msg, prefix, strlen(prefix)) || !strstr(err.msg, want))
		fail_msg("for:\n%s\nwanted \"%s...%s\"\ngot    \"%s\"", text, prefix, want, err.msg);
	lk_config_release(&cfg);
}

static const char full_file[] =
	"; layerkit configuration\n"				/* 1 */
	"[layerkit]\n"						/* 2 */
	"plugin_path = plugins:/opt/lk\n"			/* 3 */
	"output = build/images   ; inline comment\n"		/* 4 */
	"compression = zstd\n"					/* 5 */
	"compression_level = 19\n"				/* 6 */
	"mtime = 1700000000\n"					/* 7 */
	"jobs = 3\n"						/* 8 */
	"cache_dir = /var/cache/lk\n"				/* 9 */
	"architecture = arm64\n"				/* 10 */
	"os = linux\n"						/* 11 */
	"bad_links = skip\n"					/* 12 */
	"special_files = error\n"				/* 13 */
	"keep_setuid = yes\n"					/* 14 */
	"exclude = .git/, *.pyc,\n"				/* 15 */
	"    __pycache__/\n"					/* 16 */
	"max_layers = 50\n"					/* 17 */
	"\n"							/* 18 */
	"[app.web]\n"						/* 19 */
	"root = bazel-bin/web/server\n"				/* 20 */
	"discovery = python-runfiles\n"				/* 21 */
	"strategy = per-package\n"				/* 22 */
	"tag = v1.2.3\n"					/* 23 */
	"entrypoint = [\"python3\", \"-m\", \"web\"]\n"		/* 24 */
	"cmd = --port 8080\n"					/* 25 */
	"env.PYTHONPATH = /srv/web\n"				/* 26 */
	"env.LANG = C.UTF-8\n"					/* 27 */
	"label.org.opencontainers.image.source = https://example.com/web\n" /* 28 */
	"user = 65532:65532\n"					/* 29 */
	"prefix = /srv//web/\n"					/* 30 */
	"exclude = tests/\n"					/* 31 */
	"strategy.max_layers = 40\n"				/* 32 */
	"discovery.legacy_external = drop\n"			/* 33 */
	"\n"							/* 34 */
	"[app.worker-2]\n"					/* 35 */
	"root: /abs/worker\n"					/* 36 */
	"strategy = grouped-by-size\n"				/* 37 */
	"prefix = /\n"						/* 38 */
	"workdir = /tmp\n"					/* 39 */
	"max_layers = 8\n"					/* 40 */
	"output = elsewhere\n"					/* 41 */
	"\n"							/* 42 */
	"[strategy.per-package]\n"				/* 43 */
	"max_layers = 90\n"					/* 44 */
	"order = interpreter,\n"				/* 45 */
	"\tpackages\n"						/* 46 */
	"[discovery.python-runfiles]\n"				/* 47 */
	"legacy_external = keep\n";				/* 48 */

static void test_full_file(void **state)
{
	struct lk_config cfg;
	struct lk_error err;
	const struct lk_plugin_section *ps;
	struct lk_app *web, *worker;
	char want[256];

	assert_int_equal(load_text(&cfg, full_file, &err), LK_OK);
	assert_string_equal(cfg.path, cfg_path);
	assert_string_equal(cfg.dir, tmpdir);

	assert_int_equal(cfg.global.plugin_path.n, 2);
	snprintf(want, sizeof(want), "%s/plugins", tmpdir);
	assert_string_equal(cfg.global.plugin_path.items[0], want);
	assert_string_equal(cfg.global.plugin_path.items[1], "/opt/lk");
	snprintf(want, sizeof(want), "%s/build/images", tmpdir);
	assert_string_equal(cfg.global.output, want);
	assert_int_equal(cfg.global.compression, LK_COMPRESS_ZSTD);
	assert_int_equal(cfg.global.compression_level, 19);
	assert_int_equal(cfg.global.mtime, 1700000000);
	assert_int_equal(cfg.global.jobs, 3);
	assert_string_equal(cfg.global.cache_dir, "/var/cache/lk");
	assert_string_equal(cfg.global.architecture, "arm64");
	assert_string_equal(cfg.global.os, "linux");
	assert_int_equal(cfg.global.bad_links, 1);
	assert_int_equal(cfg.global.special_files, 1);
	assert_int_equal(cfg.global.keep_setuid, 1);
	assert_int_equal(cfg.global.exclude.n, 3);
	assert_string_equal(cfg.global.exclude.items[0], ".git/");
	assert_string_equal(cfg.global.exclude.items[1], "*.pyc");
	assert_string_equal(cfg.global.exclude.items[2], "__pycache__/");
	assert_int_equal(cfg.global.max_layers, 50);

	assert_int_equal(cfg.n_apps, 2);
	web = lk_config_find_app(&cfg, "web");
	assert_non_null(web);
	assert_int_equal(web->line, 19);
	snprintf(want, sizeof(want), "%s/bazel-bin/web/server", tmpdir);
	assert_string_equal(web->root, want);
	assert_string_equal(web->discovery, "python-runfiles");
	assert_string_equal(web->strategy, "per-package");
	snprintf(want, sizeof(want), "%s/build/images/web", tmpdir);
	assert_string_equal(web->output, want);
	assert_string_equal(web->tag, "v1.2.3");
	assert_true(web->has_entrypoint);
	assert_int_equal(web->entrypoint.n, 3);
	assert_string_equal(web->entrypoint.items[2], "web");
	assert_true(web->has_cmd);
	assert_int_equal(web->cmd.n, 2);
	assert_string_equal(web->cmd.items[0], "--port");
	assert_string_equal(web->cmd.items[1], "8080");
	assert_int_equal(web->env.n, 2);
	assert_string_equal(web->env.items[0], "PYTHONPATH=/srv/web");
	assert_string_equal(web->env.items[1], "LANG=C.UTF-8");
	assert_int_equal(web->label_keys.n, 1);
	assert_string_equal(web->label_keys.items[0], "org.opencontainers.image.source");
	assert_string_equal(web->label_values.items[0], "https://example.com/web");
	assert_string_equal(web->user, "65532:65532");
	assert_string_equal(web->prefix, "srv/web");
	assert_string_equal(web->workdir, "/srv/web");
	/* the global list first, then the app's own */
	assert_int_equal(web->exclude.n, 4);
	assert_string_equal(web->exclude.items[0], ".git/");
	assert_string_equal(web->exclude.items[3], "tests/");
	assert_int_equal(web->max_layers, 50);
	assert_int_equal(web->n_strategy_opts, 1);
	assert_string_equal(web->strategy_opts[0].key, "max_layers");
	assert_string_equal(web->strategy_opts[0].value, "40");
	assert_int_equal(web->strategy_opts[0].line, 32);
	assert_int_equal(web->n_discovery_opts, 1);
	assert_string_equal(web->discovery_opts[0].key, "legacy_external");
	assert_int_equal(web->discovery_opts[0].line, 33);

	worker = lk_config_find_app(&cfg, "worker-2");
	assert_non_null(worker);
	assert_string_equal(worker->root, "/abs/worker");
	assert_string_equal(worker->discovery, "generic-dir");
	assert_string_equal(worker->strategy, "grouped-by-size");
	assert_string_equal(worker->prefix, "");
	assert_string_equal(worker->workdir, "/tmp");
	assert_string_equal(worker->tag, "latest");
	assert_false(worker->has_entrypoint);
	assert_false(worker->has_cmd);
	assert_null(worker->user);
	assert_int_equal(worker->max_layers, 8);
	snprintf(want, sizeof(want), "%s/elsewhere", tmpdir);
	assert_string_equal(worker->output, want);
	assert_int_equal(worker->exclude.n, 3);
	assert_null(lk_config_find_app(&cfg, "nope"));

	assert_int_equal(cfg.n_plugins, 2);
	ps = lk_config_plugin_section(&cfg, "strategy", "per-package");
	assert_non_null(ps);
	assert_int_equal(ps->line, 43);
	assert_int_equal(ps->n_values, 2);
	assert_string_equal(ps->values[0].key, "max_layers");
	assert_int_equal(ps->values[0].line, 44);
	/* a continuation line appends with '\n' and keeps the key's line */
	assert_string_equal(ps->values[1].value, "interpreter,\npackages");
	assert_int_equal(ps->values[1].line, 45);
	ps = lk_config_plugin_section(&cfg, "discovery", "python-runfiles");
	assert_non_null(ps);
	assert_string_equal(ps->values[0].value, "keep");
	assert_null(lk_config_plugin_section(&cfg, "discovery", "per-package"));
	lk_config_release(&cfg);
}

static void test_defaults(void **state)
{
	struct lk_config cfg;
	struct lk_error err;
	struct lk_app *a;
	char want[256];

	/* An empty file parses, with no app. */
	assert_int_equal(load_text(&cfg, "", &err), LK_OK);
	assert_int_equal(cfg.n_apps, 0);
	assert_int_equal(cfg.n_plugins, 0);
	assert_int_equal(cfg.global.compression, LK_COMPRESS_GZIP);
	assert_int_equal(cfg.global.compression_level, -1);
	assert_int_equal(cfg.global.mtime, 0);
	assert_int_equal(cfg.global.jobs, 0);
	assert_null(cfg.global.cache_dir);
	assert_int_equal(cfg.global.verify, 0);	/* LK_VERIFY_STAT */
	assert_null(cfg.global.architecture);
	assert_int_equal(cfg.global.bad_links, 0);
	assert_int_equal(cfg.global.special_files, 0);
	assert_int_equal(cfg.global.keep_setuid, 0);
	assert_int_equal(cfg.global.max_layers, 100);
	assert_int_equal(cfg.global.exclude.n, 4);
	assert_string_equal(cfg.global.exclude.items[3], ".bzr/");
	snprintf(want, sizeof(want), "%s/out", tmpdir);
	assert_string_equal(cfg.global.output, want);
	lk_config_release(&cfg);

	assert_int_equal(load_text(&cfg, "[layerkit]\nverify = content\n", &err), LK_OK);
	assert_int_equal(cfg.global.verify, 1);	/* LK_VERIFY_CONTENT */
	lk_config_release(&cfg);

	/* Only comments and blank lines. */
	assert_int_equal(load_text(&cfg, "# nothing\n\n; here\n   \n", &err), LK_OK);
	assert_int_equal(cfg.n_apps, 0);
	lk_config_release(&cfg);

	/* An app with only a root gets every default; [layerkit] after the
	 * app still applies to it. */
	assert_int_equal(load_text(&cfg, "[app.a]\nroot = .\n[layerkit]\nmax_layers = 7\n"
				   "exclude =\n", &err), LK_OK);
	a = lk_config_find_app(&cfg, "a");
	assert_non_null(a);
	assert_string_equal(a->discovery, "generic-dir");
	assert_string_equal(a->strategy, "two-layer");
	assert_string_equal(a->prefix, "app");
	assert_string_equal(a->workdir, "/app");
	assert_string_equal(a->tag, "latest");
	assert_int_equal(a->max_layers, 7);
	assert_int_equal(a->exclude.n, 0);	/* "exclude =" drops the defaults */
	snprintf(want, sizeof(want), "%s/out/a", tmpdir);
	assert_string_equal(a->output, want);
	snprintf(want, sizeof(want), "%s/.", tmpdir);
	assert_string_equal(a->root, want);
	lk_config_release(&cfg);
}

static void test_source_date_epoch(void **state)
{
	struct lk_config cfg;
	struct lk_error err;

	setenv("SOURCE_DATE_EPOCH", "1600000000", 1);
	lk_config_init(&cfg);
	assert_int_equal(cfg.global.mtime, 1600000000);
	lk_config_release(&cfg);
	/* the file wins over the environment */
	assert_int_equal(load_text(&cfg, "[layerkit]\nmtime = 5\n", &err), LK_OK);
	assert_int_equal(cfg.global.mtime, 5);
	lk_config_release(&cfg);
	setenv("SOURCE_DATE_EPOCH", "yesterday", 1);
	lk_config_init(&cfg);
	assert_int_equal(cfg.global.mtime, 0);
	lk_config_release(&cfg);
	setenv("SOURCE_DATE_EPOCH", "-5", 1);
	lk_config_init(&cfg);
	assert_int_equal(cfg.global.mtime, 0);
	lk_config_release(&cfg);
	unsetenv("SOURCE_DATE_EPOCH");
}

static void test_syntax_variants(void **state)
{
	struct lk_config cfg;
	struct lk_error err;
	struct lk_app *a;
	static const char text[] =
		"\xef\xbb\xbf[app.x]\r\n"
		"root = r\r\n"
		"entrypoint = [\"sh\",\r\n"
		"   \"-c\", \"echo hi\"]\r\n"
		"cmd = []\r\n"
		"env.EMPTY =\r\n"
		"exclude = a\r\n"
		"  b, c\r\n"
		"\r\n"
		"  # an indented comment is still a comment\r\n"
		"label.empty =\r\n";

	assert_int_equal(load_text(&cfg, text, &err), LK_OK);
	a = lk_config_find_app(&cfg, "x");
	assert_non_null(a);
	assert_int_equal(a->entrypoint.n, 3);
	assert_string_equal(a->entrypoint.items[2], "echo hi");
	assert_true(a->has_cmd);
	assert_int_equal(a->cmd.n, 0);
	assert_string_equal(a->env.items[0], "EMPTY=");
	assert_int_equal(a->exclude.n, 4 + 3);
	assert_string_equal(a->exclude.items[4], "a");
	assert_string_equal(a->exclude.items[6], "c");
	assert_string_equal(a->label_values.items[0], "");
	lk_config_release(&cfg);
}

static void test_add_app(void **state)
{
	struct lk_config cfg;
	struct lk_error err;
	struct lk_app *a;

	lk_config_init(&cfg);
	a = lk_config_add_app(&cfg, "cli", "some/dir");
	assert_non_null(a);
	assert_int_equal(a->line, 0);
	assert_string_equal(a->root, "some/dir");
	assert_string_equal(a->output, "out/oci");
	assert_string_equal(a->strategy, "two-layer");
	assert_string_equal(a->workdir, "/app");
	assert_int_equal(a->exclude.n, 4);
	assert_null(lk_config_add_app(&cfg, "cli", "x"));
	lk_config_release(&cfg);

	assert_int_equal(load_text(&cfg, "[layerkit]\nmax_layers = 3\n", &err), LK_OK);
	a = lk_config_add_app(&cfg, "cli", "d");
	assert_non_null(a);
	assert_int_equal(a->max_layers, 3);
	lk_config_release(&cfg);
}

struct error_case {
	const char *text;
	int line;
	const char *want;
};

static const struct error_case error_cases[] = {
	/* structure */
	{ "[layerkit]\njobs = 1\n[apps.web]\nroot = .\n", 3,
	  "unknown section [apps.web]; did you mean [app.web]?" },
	{ "[layerkt]\n", 1, "unknown section [layerkt]; did you mean [layerkit]?" },
	{ "\n[whatever]\n", 2, "unknown section [whatever]; sections are [layerkit]" },
	{ "root = .\n[app.a]\n", 1, "'root' is outside any section" },
	{ "[app.a]\nroot = .\nthis line has no equals sign\n", 3,
	  "'this line has no equals sign': expected 'key = value'" },
	{ "[layerkit]\n[app.a\nroot = .\n", 2, "a section header needs a closing ']'" },
	{ "[app.a]\nroot = .\n\n[app.b]\nroot = .\n[app.a]\nroot = x\n", 6,
	  "app 'a' is defined twice (first at line 1)" },
	{ "[layerkit]\n[layerkit]\n", 2, "section [layerkit] appears twice (first at line 1)" },
	{ "[app.a]\nroot = .\ntag = x\n\ntag = y\n", 5,
	  "duplicate key 'tag' in [app.a] (first set at line 3)" },
	{ "[strategy.per-package]\nx = 1\nx = 2\n", 3,
	  "duplicate key 'x' in [strategy.per-package] (first set at line 2)" },
	{ "[app.a]\ntag = x\n", 1, "app 'a' has no root; add 'root = DIR'" },
	{ "[layerkit]\n[app.a]\n", 2, "app 'a' has no root" },
	{ "[app.Web]\nroot = .\n", 1, "'Web' is not a valid app name" },
	{ "[app.-x]\nroot = .\n", 1, "'-x' is not a valid app name" },
	{ "[strategy.Per_Package]\n", 1, "'Per_Package' is not a plugin name" },
	{ "[discovery.]\n", 1, "'' is not a plugin name" },
	/* [layerkit] keys */
	{ "[layerkit]\ncompresion = gzip\n", 2,
	  "unknown key 'compresion' in [layerkit]; did you mean 'compression'?" },
	{ "[layerkit]\nfrobnicate = 1\n", 2, "unknown key 'frobnicate' in [layerkit]; docs/config.md" },
	{ "[layerkit]\nroot = x\n", 2, "'root' belongs in an [app.NAME] section" },
	{ "[layerkit]\ncompression = gz\n", 2,
	  "compression = 'gz' is not allowed; use one of: none, gzip, zstd" },
	{ "[layerkit]\ncompression_level = 12\n", 2,
	  "compression_level = 12 is out of range for gzip; use 1 to 9" },
	{ "[layerkit]\ncompression = zstd\ncompression_level = 20\n", 3,
	  "compression_level = 20 is out of range for zstd; use 1 to 19" },
	{ "[layerkit]\ncompression_level = 3\ncompression = none\n", 2,
	  "compression_level is set but compression = none" },
	{ "[layerkit]\ncompression_level = 99\n", 2, "compression_level = 99 is out of range" },
	{ "[layerkit]\nmtime = -1\n", 2, "mtime = '-1' is not a whole number of seconds" },
	{ "[layerkit]\nmtime = 1.5\n", 2, "mtime = '1.5' is not a whole number" },
	{ "[layerkit]\njobs = many\n", 2, "jobs = 'many' is not a whole number; use a number from 0 to 1024" },
	{ "[layerkit]\njobs = 5000\n", 2, "jobs = 5000 is out of range; use a number from 0 to 1024" },
	{ "[layerkit]\nmax_layers = 200\n", 2, "max_layers = 200 is out of range; use a number from 1 to 127" },
	{ "[layerkit]\nmax_layers = 0\n", 2, "max_layers = 0 is out of range" },
	{ "[layerkit]\nbad_links = ignore\n", 2, "bad_links = 'ignore' is not allowed; use one of: error, skip" },
	{ "[layerkit]\nspecial_files = read\n", 2, "use one of: skip, error" },
	{ "[layerkit]\nverify = hash\n", 2, "verify = 'hash' is not allowed; use one of: stat, content" },
	{ "[layerkit]\nkeep_setuid = maybe\n", 2, "keep_setuid = 'maybe' is not a boolean; use true or false" },
	{ "[layerkit]\narchitecture = x86-64!\n", 2, "is not an OCI platform name" },
	{ "[layerkit]\noutput =\n", 2, "'output' is empty; give it a value" },
	{ "[layerkit]\nos = linux\n  windows\n", 2,
	  "'os' takes one value, but indented continuation lines follow it" },
	/* [app.NAME] keys */
	{ "[app.a]\nroot = .\nstrategie = two-layer\n", 3,
	  "unknown key 'strategie' in [app.a]; did you mean 'strategy'?" },
	{ "[app.a]\nroot = .\nenvv.HOME = /\n", 3,
	  "unknown key 'envv.HOME' in [app.a]; did you mean 'env.HOME'?" },
	{ "[app.a]\nroot = .\nzzz = 1\n", 3, "unknown key 'zzz' in [app.a]; docs/config.md" },
	{ "[app.a]\nroot = .\ncompression = none\n", 3,
	  "'compression' is a global key; set it in [layerkit]" },
	{ "[app.a]\nroot =\n", 2, "'root' is empty" },
	{ "[app.a]\nroot = .\nstrategy = Two_Layer\n", 3, "strategy = 'Two_Layer' is not a plugin name" },
	{ "[app.a]\nroot = .\ndiscovery = ../evil\n", 3, "discovery = '../evil' is not a plugin name" },
	{ "[app.a]\nroot = .\ntag = -bad\n", 3, "tag = '-bad' is not a valid OCI tag" },
	{ "[app.a]\nroot = .\ntag = a:b\n", 3, "tag = 'a:b' is not a valid OCI tag" },
	{ "[app.a]\nroot = .\nuser = nobody\n", 3,
	  "user = 'nobody' is not a numeric uid or uid:gid (0 to 4294967294); write e.g. "
	  "65532:65532: a user name would have to exist in the image's /etc/passwd" },
	{ "[app.a]\nroot = .\nuser = 1:\n", 3, "user = '1:' is not a numeric uid" },
	{ "[app.a]\nroot = .\nuser = :1\n", 3, "user = ':1' is not a numeric uid" },
	{ "[app.a]\nroot = .\nuser = 4294967295\n", 3, "user = '4294967295' is not a numeric uid" },
	{ "[app.a]\nroot = .\nlabel.a b = x\n", 3, "'label.a b': a label key holds no white space" },
	{ "[app.a]\nroot = .\n[app.b]\nroot = .\nentrypoint = [\"x\"\n", 5,
	  "entrypoint is not a valid JSON array" },
	{ "[app.a]\nroot = .\nworkdir = srv\n", 3, "workdir = 'srv' is relative" },
	{ "[app.a]\nroot = .\nprefix = a/../../etc\n", 3, "prefix = 'a/../../etc' contains '..'" },
	{ "[app.a]\nroot = .\nmax_layers = 128\n", 3, "max_layers = 128 is out of range" },
	{ "[app.a]\nroot = .\nenv.1X = y\n", 3, "'1X' is not an environment variable name" },
	{ "[app.a]\nroot = .\nenv. = y\n", 3, "'' is not an environment variable name" },
	{ "[app.a]\nroot = .\nlabel. = y\n", 3, "the label key is empty" },
	{ "[app.a]\nroot = .\nstrategy.a/b = 1\n", 3, "'a/b' is not an option name" },
	{ "[app.a]\nroot = .\nentrypoint = [\"a\", 1]\n", 3,
	  "entrypoint: item 2 of the JSON array is not a string" },
	{ "[app.a]\nroot = .\ncmd = [\"a\",\n  \"b\"\n  \"c\"]\n", 5,
	  "cmd is not a valid JSON array" },
	{ "[app.a]\nroot = .\ncmd = [\"a\\u0000b\"]\n", 3, "cmd is not a valid JSON array: \\u0000 is not allowed" },
	/* bytes and lines */
	{ "[app.a]\nroot = .\n\x01\x02\x03garbage\n", 3, "control character 0x01 at column 1" },
	{ "[app.a]\nroot = .\ntag = a\rb\n", 3, "control character 0x0d at column 8" },
};

static void test_error_cases(void **state)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++)
		expect_error(error_cases[i].text, error_cases[i].line, error_cases[i].want);
}

static void test_nul_byte(void **state)
{
	static const char text[] = "[app.a]\nroot = .\ntag = ab\0c\n";
	struct lk_config cfg;
	struct lk_error err;
	char want[200];

	write_bytes(cfg_path, text, sizeof(text) - 1);
	lk_config_init(&cfg);
	assert_int_equal(lk_config_load(&cfg, cfg_path, &err), LK_FAILED);
	snprintf(want, sizeof(want), "%s:3: NUL byte at column 9", cfg_path);
	assert_non_null(strstr(err.msg, want));
	assert_int_equal(err.exit_code, LK_EXIT_USAGE);
	lk_config_release(&cfg);
}

static void test_long_line(void **state)
{
	struct lk_config cfg;
	struct lk_error err;
	char text[1024], want[512];
	int n;

	/* 197 characters fit exactly (inih's 200-byte buffer minus "\r\n\0") */
	n = snprintf(text, sizeof(text), "[app.a]\nroot = .\n\nlabel.x = ");
	memset(text + n, 'v', 197 - 10);
	strcpy(text + n + 187, "\n");
	assert_int_equal(load_text(&cfg, text, &err), LK_OK);
	assert_int_equal(strlen(lk_config_find_app(&cfg, "a")->label_values.items[0]), 187);
	lk_config_release(&cfg);

	/* one more is refused with its line number, not split by inih */
	memset(text + n, 'v', 198 - 10);
	strcpy(text + n + 188, "\nroot = again\n");
	assert_int_equal(load_text(&cfg, text, &err), LK_FAILED);
	snprintf(want, sizeof(want), "%s:4: line is 198 characters long, the limit is 197; "
		 "split the value over indented continuation lines", cfg_path);
	assert_string_equal(err.msg, want);
	lk_config_release(&cfg);

	/* a long value written as continuation lines is fine */
	n = snprintf(text, sizeof(text), "[app.a]\nroot = .\nexclude = ");
	for (int i = 0; i < 20; i++)
		n += snprintf(text + n, sizeof(text) - (size_t)n,
			      "%s  some/rather/long/path/number/%02d/*.bin,", i ? "\n" : "", i);
	strcpy(text + n, "\n");
	assert_int_equal(load_text(&cfg, text, &err), LK_OK);
	assert_int_equal(lk_config_find_app(&cfg, "a")->exclude.n, 4 + 20);
	lk_config_release(&cfg);
}

static void test_too_large(void **state)
{
	struct lk_config cfg;
	struct lk_error err;
	size_t len = 4 * 1024 * 1024 + 1;
	char *big = malloc(len);

	assert_non_null(big);
	memset(big, '\n', len);
	write_bytes(cfg_path, big, len);
	free(big);
	lk_config_init(&cfg);
	assert_int_equal(lk_config_load(&cfg, cfg_path, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, ": 4194305 bytes is too large for a configuration file"));
	lk_config_release(&cfg);
}

static void test_not_a_file(void **state)
{
	struct lk_config cfg;
	struct lk_error err;
	char path[200], want[300];

	lk_config_init(&cfg);
	assert_int_equal(lk_config_load(&cfg, tmpdir, &err), LK_FAILED);
	snprintf(want, sizeof(want), "%s: is a directory; name the file, e.g. %s/layering.ini",
		 tmpdir, tmpdir);
	assert_string_equal(err.msg, want);
	assert_int_equal(err.exit_code, LK_EXIT_USAGE);

	snprintf(path, sizeof(path), "%s/missing.ini", tmpdir);
	assert_int_equal(lk_config_load(&cfg, path, &err), LK_FAILED);
	snprintf(want, sizeof(want), "%s: no such file", path);
	assert_non_null(strstr(err.msg, want));

	snprintf(path, sizeof(path), "%s/fifo.ini", tmpdir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(lk_config_load(&cfg, path, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "not a regular file"));
	unlink(path);
	lk_config_release(&cfg);
}

/* Every prefix of a good file either loads or fails cleanly with a line. */
static void test_truncations(void **state)
{
	size_t len = strlen(full_file);

	for (size_t cut = 0; cut <= len; cut += 7) {
		struct lk_config cfg;
		struct lk_error err;
		int ret;

		write_bytes(cfg_path, full_file, cut);
		lk_config_init(&cfg);
		ret = lk_config_load(&cfg, cfg_path, &err);
		if (ret != LK_OK)
			assert_true(strncmp(err.msg, cfg_path, strlen(cfg_path)) == 0);
		lk_config_release(&cfg);
	}
}

/* The shipped default file and every sample load without error. */
static void test_shipped_files(void **state)
{
	const char *srcdir = getenv("TEST_SRCDIR");
	char dir[PATH_MAX], path[PATH_MAX + 300];
	struct lk_config cfg;
	struct lk_error err;
	struct dirent *de;
	size_t samples = 0;
	DIR *d;

	if (!srcdir)
		skip();
	snprintf(path, sizeof(path), "%s/../../config/layering.ini", srcdir);
	lk_config_init(&cfg);
	if (lk_config_load(&cfg, path, &err) != LK_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(cfg.n_apps, 0);
	assert_int_equal(cfg.global.max_layers, 100);
	assert_int_equal(cfg.global.exclude.n, 4);
	lk_config_release(&cfg);

	snprintf(dir, sizeof(dir), "%s/../../config/samples", srcdir);
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n < 5 || strcmp(de->d_name + n - 4, ".ini"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		lk_config_init(&cfg);
		if (lk_config_load(&cfg, path, &err) != LK_OK)
			fail_msg("%s", err.msg);
		assert_true(cfg.n_apps >= 1);
		if (!strcmp(de->d_name, "two-apps.ini")) {
			assert_int_equal(cfg.n_apps, 2);
			assert_string_not_equal(cfg.apps[0].strategy, cfg.apps[1].strategy);
		}
		lk_config_release(&cfg);
		samples++;
	}
	closedir(d);
	assert_true(samples >= 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_source_date_epoch),
		cmocka_unit_test(test_syntax_variants),
		cmocka_unit_test(test_add_app),
		cmocka_unit_test(test_error_cases),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_not_a_file),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_shipped_files),
	};

	return cmocka_run_group_tests_name("config", tests, group_setup, group_teardown);
}
