/* test_loader.c - plugin search, dlopen checks, init failures and plan rejection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loader.h"

static const char *fixture_dir(void)
{
	const char *d = getenv("LK_FIXTURE_DIR");

	assert_non_null(d);
	return d;
}

static void dirs_with_fixtures(struct lk_plugin_dirs *dirs)
{
	struct lk_string_list first = { 0 };

	lk_string_list_push(&first, fixture_dir());
	lk_plugin_dirs_init(dirs, &first);
	lk_string_list_release(&first);
}

static void load_expect_error(const char *name, const char *needle, int exit_code)
{
	struct lk_plugin_dirs dirs;
	struct lk_plugin p;
	struct lk_error err;

	lk_error_clear(&err);
	dirs_with_fixtures(&dirs);
	assert_int_equal(lk_plugin_load(&dirs, LK_KIND_STRATEGY, name, &p, &err), LK_FAILED);
	if (!strstr(err.msg, needle))
		fail_msg("error for '%s' lacks '%s': %s", name, needle, err.msg);
	assert_int_equal(err.exit_code, exit_code);
	assert_null(p.handle);
	lk_plugin_dirs_release(&dirs);
}

static void test_load_good(void **state)
{
	struct lk_plugin_dirs dirs;
	struct lk_plugin p;
	struct lk_error err;

	dirs_with_fixtures(&dirs);
	assert_int_equal(lk_plugin_load(&dirs, LK_KIND_STRATEGY, "fixture-good", &p, &err), LK_OK);
	assert_string_equal(p.name, "fixture-good");
	assert_non_null(strstr(p.path, "lk-strategy-fixture-good.so"));
	assert_int_equal(p.abi_major, LK_ABI_MAJOR);
	assert_non_null(p.strategy);
	assert_null(p.discovery);
	assert_string_equal(p.options[0].key, "mode");
	lk_plugin_release(&p);
	assert_null(p.handle);
	lk_plugin_dirs_release(&dirs);
}

static void test_missing_symbol(void **state)
{
	load_expect_error("fixture-nosym", "does not export layerkit_strategy_v1", LK_EXIT_BUILD);
}

static void test_wrong_abi(void **state)
{
	load_expect_error("fixture-abi2", "built for plugin ABI 2.", LK_EXIT_BUILD);
}

static void test_misnamed(void **state)
{
	load_expect_error("fixture-misnamed", "calls itself 'someone-else'", LK_EXIT_BUILD);
}

static void test_unknown_plugin(void **state)
{
	load_expect_error("no-such-strategy", "unknown strategy 'no-such-strategy'", LK_EXIT_USAGE);
}

static void test_bad_names(void **state)
{
	static const char *const bad[] = { "../fixture-good", "a/b", "Upper", "", "x.so",
					   "fixture good", "..", };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		load_expect_error(bad[i], "invalid strategy name", LK_EXIT_USAGE);
	assert_true(lk_plugin_name_valid("two-layer"));
	assert_true(lk_plugin_name_valid("a1"));
}

/* A temp dir with one file named like a plugin. */
static char *temp_plugin_dir(const char *file, const char *content, mode_t mode)
{
	char *dir = strdup("/tmp/lk-test-loader-XXXXXX");
	char *path;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	path = lk_xasprintf("%s/%s", dir, file);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	chmod(path, mode);
	free(path);
	return dir;
}

static void remove_temp_dir(char *dir, const char *file)
{
	char *path = lk_xasprintf("%s/%s", dir, file);

	unlink(path);
	rmdir(dir);
	free(path);
	free(dir);
}

static void test_not_a_plugin(void **state)
{
	char *dir = temp_plugin_dir("lk-strategy-text.so", "this is not an ELF file\n", 0644);
	struct lk_string_list first = { 0 };
	struct lk_plugin_dirs dirs;
	struct lk_plugin p;
	struct lk_error err;

	lk_string_list_push(&first, dir);
	lk_plugin_dirs_init(&dirs, &first);
	assert_int_equal(lk_plugin_load(&dirs, LK_KIND_STRATEGY, "text", &p, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "cannot be loaded"));
	assert_non_null(strstr(err.msg, "lk-strategy-text.so"));
	lk_plugin_dirs_release(&dirs);
	lk_string_list_release(&first);
	remove_temp_dir(dir, "lk-strategy-text.so");
}

static void test_world_writable_refused(void **state)
{
	char *dir = temp_plugin_dir("lk-strategy-open.so", "x", 0666);
	struct lk_plugin p;
	struct lk_error err;
	char *path = lk_xasprintf("%s/lk-strategy-open.so", dir);

	chmod(path, 0666);
	assert_int_equal(lk_plugin_load_file(path, LK_KIND_STRATEGY, "open", &p, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "world-writable"));
	free(path);
	remove_temp_dir(dir, "lk-strategy-open.so");
}

static void test_search_order(void **state)
{
	struct lk_string_list first = { 0 };
	struct lk_plugin_dirs dirs;

	setenv("LAYERKIT_PLUGIN_PATH", "/env/a:/env/b", 1);
	lk_string_list_push(&first, "/cli");
	lk_plugin_dirs_init(&dirs, &first);
	assert_true(dirs.dirs.n >= 5);
	assert_string_equal(dirs.dirs.items[0], "/cli");
	assert_string_equal(dirs.dirs.items[1], "/env/a");
	assert_string_equal(dirs.dirs.items[2], "/env/b");
	/* then the binary's directory, then the installed plugin directory */
	assert_string_equal(dirs.dirs.items[dirs.dirs.n - 1], LK_PLUGINDIR);
	unsetenv("LAYERKIT_PLUGIN_PATH");
	lk_plugin_dirs_release(&dirs);
	lk_string_list_release(&first);
}

/* A hand-made tree of three files in two units, for running strategies. */
struct mini {
	struct lk_scan scan;
	struct lk_file files[3];
	struct lk_file_stat stats[3];
	struct lk_unit_table units;
};

static void mini_init(struct mini *m)
{
	static const char *const paths[] = { "a.py", "lib/dep.py", "lib/dep2.py" };

	memset(m, 0, sizeof(*m));
	for (int i = 0; i < 3; i++) {
		m->files[i].path = paths[i];
		m->files[i].size = 10 + (uint64_t)i;
		m->files[i].mode = 0644;
		m->files[i].type = LK_FILE_REGULAR;
	}
	m->scan.files = m->files;
	m->scan.stats = m->stats;
	m->scan.n_files = 3;
	m->scan.root = (char *)"/nonexistent";
	m->scan.root_fd = -1;
	m->scan.tree.struct_size = sizeof(m->scan.tree);
	m->scan.tree.root = "/nonexistent";
	m->scan.tree.files = m->files;
	m->scan.tree.n_files = 3;
	lk_unit_table_init(&m->units, 3);
	int app = lk_unit_table_add(&m->units, LK_UNIT_APP, "app", "", "test");
	int dep = lk_unit_table_add(&m->units, LK_UNIT_PACKAGE, "dep", "1.0", "test");
	lk_unit_table_claim(&m->units, app, 0, 10);
	lk_unit_table_claim(&m->units, dep, 1, 11);
	lk_unit_table_claim(&m->units, dep, 2, 12);
}

/* Runs fixture-NAME with mode; returns the rc, err filled. */
static int run_fixture(const char *name, const char *mode, const char *count, uint32_t max_layers,
		       struct lk_plan *plan, struct lk_error *err)
{
	struct lk_plugin_dirs dirs;
	struct lk_plugin p;
	struct lk_options opts;
	struct mini m;
	struct lk_conf_value overrides[2] = {
		{ .key = (char *)"mode", .value = (char *)mode, .line = 0 },
		{ .key = (char *)"count", .value = (char *)(count ? count : "2"), .line = 0 },
	};
	int rc;

	lk_error_clear(err);
	dirs_with_fixtures(&dirs);
	assert_int_equal(lk_plugin_load(&dirs, LK_KIND_STRATEGY, name, &p, err), LK_OK);
	assert_int_equal(lk_options_resolve(&opts, &p, NULL, overrides, 2, err), LK_OK);
	mini_init(&m);
	rc = lk_run_strategy(&p, &opts, &m.scan, &m.units, max_layers, plan, err);
	lk_unit_table_release(&m.units);
	lk_options_release(&opts);
	lk_plugin_release(&p);
	lk_plugin_dirs_release(&dirs);
	return rc;
}

static void test_run_good_plan(void **state)
{
	struct lk_plan plan;
	struct lk_error err;

	assert_int_equal(run_fixture("fixture-good", "ok", NULL, 100, &plan, &err), LK_OK);
	assert_int_equal(plan.n_layers, 1);
	assert_int_equal(plan.layers[0].n_files, 3);
	assert_int_equal(plan.layers[0].bytes, 33);
	lk_plan_release(&plan);
}

static void test_init_failure(void **state)
{
	struct lk_plan plan;
	struct lk_error err;

	assert_int_equal(run_fixture("fixture-initfail", "ok", NULL, 100, &plan, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "strategy 'fixture-initfail'"));
	assert_non_null(strstr(err.msg, "lk-strategy-fixture-initfail.so"));
	assert_non_null(strstr(err.msg, "init"));
	assert_non_null(strstr(err.msg, "license server"));
}

static void test_bad_plans_rejected(void **state)
{
	static const struct { const char *mode, *count, *needle; } cases[] = {
		{ "fail", NULL, "refusing on purpose" },
		{ "missing", NULL, "no layer" },
		{ "duplicate", NULL, "fixture-good" },
		{ "empty", NULL, "empty" },
		{ "toomany", "5", "fixture-good" },
		{ "unknown", NULL, "fixture-good" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lk_plan plan;
		struct lk_error err;

		if (run_fixture("fixture-good", cases[i].mode, cases[i].count, 4, &plan, &err)
		    != LK_FAILED)
			fail_msg("mode %s: plan accepted", cases[i].mode);
		if (!strstr(err.msg, cases[i].needle))
			fail_msg("mode %s: error lacks '%s': %s", cases[i].mode, cases[i].needle,
				 err.msg);
		assert_int_equal(err.exit_code, LK_EXIT_BUILD);
	}
}

static void test_unknown_option(void **state)
{
	struct lk_plugin_dirs dirs;
	struct lk_plugin p;
	struct lk_options opts;
	struct lk_error err;
	struct lk_conf_value bad_key = { .key = (char *)"modee", .value = (char *)"x", .line = 0 };
	struct lk_conf_value bad_int = { .key = (char *)"count", .value = (char *)"many", .line = 0 };
	struct lk_conf_value out_of_range = { .key = (char *)"count", .value = (char *)"0", .line = 0 };

	dirs_with_fixtures(&dirs);
	assert_int_equal(lk_plugin_load(&dirs, LK_KIND_STRATEGY, "fixture-good", &p, &err), LK_OK);
	assert_int_equal(lk_options_resolve(&opts, &p, NULL, &bad_key, 1, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "unknown option 'modee'"));
	assert_non_null(strstr(err.msg, "mode, count"));
	assert_int_equal(lk_options_resolve(&opts, &p, NULL, &bad_int, 1, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "expected an integer"));
	assert_int_equal(lk_options_resolve(&opts, &p, NULL, &out_of_range, 1, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "from 1 to 1000"));
	lk_plugin_release(&p);
	lk_plugin_dirs_release(&dirs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_good),
		cmocka_unit_test(test_missing_symbol),
		cmocka_unit_test(test_wrong_abi),
		cmocka_unit_test(test_misnamed),
		cmocka_unit_test(test_unknown_plugin),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_not_a_plugin),
		cmocka_unit_test(test_world_writable_refused),
		cmocka_unit_test(test_search_order),
		cmocka_unit_test(test_run_good_plan),
		cmocka_unit_test(test_init_failure),
		cmocka_unit_test(test_bad_plans_rejected),
		cmocka_unit_test(test_unknown_option),
	};

	return cmocka_run_group_tests_name("loader", tests, NULL, NULL);
}
