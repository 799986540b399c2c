/* test_generic_dir - the generic-dir discovery through the fake host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_host.h"

static const char *plugin_path;
static struct fake_plugin plugin;
static struct fake_host fh;
static struct fake_tree tree;

static int setup(void **state)
{
	char err[1024];

	if (fake_plugin_open(&plugin, plugin_path, err, sizeof(err)) != 0) {
		print_error("%s\n", err);
		return -1;
	}
	fake_host_init(&fh);
	return 0;
}

static int teardown(void **state)
{
	fake_host_release(&fh);
	fake_plugin_close(&plugin);
	return 0;
}

static int reset(void **state)
{
	fake_host_release(&fh);
	fake_host_init(&fh);
	fake_tree_init(&tree, "/fake/app");
	return 0;
}

static int release_tree(void **state)
{
	fake_tree_release(&tree);
	return 0;
}

static void add_file(const char *path, const char *content)
{
	fake_tree_add(&tree, path, LK_FILE_REGULAR, 100, content);
}

/* Runs discovery on the tree built so far and checks the contract: every
 * file in exactly one unit, no violation. */
static int discover(void)
{
	size_t total = 0;
	int rc;

	fake_tree_finish(&tree);
	rc = fake_run_discovery(&fh, &plugin, &tree.tree, (const char *const *)tree.contents);
	if (fh.n_violations)
		fail_msg("contract: %s", fh.violation);
	if (rc != LK_OK && rc != LK_WARN)
		fail_msg("discover failed (%d): %s", rc, fh.error);
	for (size_t f = 0; f < tree.n_files; f++)
		if (fh.unit_of_file[f] < 0)
			fail_msg("%s is in no unit", tree.files[f].path);
	for (size_t u = 0; u < fh.n_units; u++)
		total += fh.units[u].n_files;
	assert_int_equal(total, tree.n_files);
	return rc;
}

/* "name:kind:version,..." of the units, in the order they were made. */
static const char *units_summary(char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t u = 0; u < fh.n_units && used < len; u++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s:%s:%s", u ? "," : "",
					 fh.units[u].name, lk_unit_kind_name(fh.units[u].kind),
					 fh.units[u].version);
	return buf;
}

static const char *unit_name_of(const char *path)
{
	const struct lk_unit *u = fake_unit_of_path(&fh, path);

	return u ? u->name : "(none)";
}

static void build_node_tree(void)
{
	add_file("package.json", "{\"name\": \"web\", \"version\": \"9.9.9\"}");
	add_file("src/main.js", NULL);
	add_file("src/lib/util.js", NULL);
	add_file("README.md", NULL);
	add_file("node_modules/@scope/x/package.json",
		 "{\"name\": \"@scope/x\", \"version\": \"1.2.3\"}");
	add_file("node_modules/@scope/x/index.js", NULL);
	add_file("node_modules/@scope/y/index.js", NULL);
	add_file("node_modules/lodash/package.json",
		 "{\n  \"name\": \"lodash\",\n  \"dependencies\": {\"version\": \"0\"},\n"
		 "  \"version\": \"4.17.21\"\n}\n");
	add_file("node_modules/lodash/lodash.js", NULL);
	add_file("node_modules/lodash/node_modules/inner/i.js", NULL);
	add_file("node_modules/.bin/tool", NULL);
	add_file("vendor/y/y.go", NULL);
	fake_tree_add(&tree, "data/empty", LK_FILE_DIR, 0, NULL);
	fake_tree_add(&tree, "bin/run", LK_FILE_SYMLINK, 0, NULL);
}

static void test_defaults_on_a_node_tree(void **state)
{
	char buf[1024];

	build_node_tree();
	assert_int_equal(discover(), LK_OK);
	/* In tree order ('.' < '@' < 'l'); scoped packages keep their scope;
	 * the rest is the app. */
	assert_string_equal(units_summary(buf, sizeof(buf)),
			    ".bin:package:,@scope/x:package:1.2.3,@scope/y:package:,"
			    "lodash:package:4.17.21,y:package:,app:app:");
	assert_string_equal(unit_name_of("node_modules/lodash/node_modules/inner/i.js"), "lodash");
	assert_string_equal(unit_name_of("src/lib/util.js"), "app");
	assert_string_equal(unit_name_of("package.json"), "app");
	assert_string_equal(unit_name_of("data/empty"), "app");
	assert_string_equal(unit_name_of("bin/run"), "app");
	assert_int_equal(fake_unit_named(&fh, "lodash")->n_files, 3);
	assert_non_null(strstr(fake_unit_named(&fh, "y")->origin, "vendor/*"));
	assert_non_null(strstr(fake_unit_named(&fh, "y")->origin, "'vendor/y'"));
}

static void test_rules_per_kind(void **state)
{
	char buf[1024];

	add_file("runtime/node20/bin/node", NULL);
	add_file("lib/react/index.js", NULL);
	add_file("lib/vue/index.js", NULL);
	add_file("tools/esbuild/esbuild", NULL);
	add_file("node_modules/left-pad/index.js", NULL);
	add_file("server.js", NULL);
	fake_host_set_option(&fh, "interpreter", "runtime/*");
	fake_host_set_option(&fh, "packages", "lib/*");
	fake_host_set_option(&fh, "support", "./tools/*/");
	discover();
	/* packages replaced the defaults: node_modules is app code here. */
	assert_string_equal(units_summary(buf, sizeof(buf)),
			    "react:package:,vue:package:,node20:interpreter:,esbuild:support:,"
			    "app:app:");
	assert_string_equal(unit_name_of("node_modules/left-pad/index.js"), "app");
}

/* The kinds are tried in order (interpreter first), the globs of a kind in
 * the order written, and a file goes to the first rule matching any of its
 * paths. */
static void test_first_match_wins(void **state)
{
	add_file("deps/python3.11/bin/python3", NULL);
	add_file("deps/requests/api.py", NULL);
	add_file("node_modules/@types/node/index.d.ts", NULL);
	fake_host_set_option(&fh, "interpreter", "deps/python*");
	fake_host_set_option(&fh, "packages", "deps/*, node_modules/*, node_modules/@*/*");
	discover();
	assert_int_equal(fake_unit_named(&fh, "python3.11")->kind, LK_UNIT_INTERPRETER);
	assert_int_equal(fake_unit_named(&fh, "requests")->kind, LK_UNIT_PACKAGE);
	/* The node_modules/NAME rule came first, so the scope is the unit. */
	assert_string_equal(unit_name_of("node_modules/@types/node/index.d.ts"), "@types");
}

static void test_file_rules_and_app_rules(void **state)
{
	char buf[1024];

	add_file("config.yaml", NULL);
	add_file("notes.txt", NULL);
	add_file("services/api/main.py", NULL);
	add_file("services/worker/main.py", NULL);
	add_file("sub/notes.txt", NULL);
	fake_host_set_option(&fh, "support", "*.txt");
	fake_host_set_option(&fh, "app", "services/*");
	discover();
	assert_string_equal(units_summary(buf, sizeof(buf)),
			    "notes.txt:support:,api:app:,worker:app:,app:app:");
	/* '*' does not cross '/': sub/notes.txt is not a top-level file. */
	assert_string_equal(unit_name_of("sub/notes.txt"), "app");
}

/* Two matched paths with one name: both take their path as name. */
static void test_name_clash(void **state)
{
	char buf[1024];

	add_file("node_modules/foo/index.js", NULL);
	add_file("vendor/foo/foo.go", NULL);
	add_file("vendor/app/app.go", NULL);
	add_file("main.go", NULL);
	fake_host_set_option(&fh, "read_versions", "false");
	discover();
	assert_string_equal(units_summary(buf, sizeof(buf)),
			    "node_modules/foo:package:,app:package:,vendor/foo:package:,"
			    "app-rest:app:");
}

static void test_everything_is_app_without_matches(void **state)
{
	char buf[256];

	add_file("a.txt", NULL);
	add_file("b/c.txt", NULL);
	assert_int_equal(discover(), LK_OK);
	assert_string_equal(units_summary(buf, sizeof(buf)), "app:app:");
	assert_int_equal(fh.units[0].n_files, 2);
	assert_int_equal(fh.units[0].bytes, 200);
}

static void test_hostile_package_json(void **state)
{
	static const char *const docs[] = {
		"{\"version\": \"1.0.0\\\"; rm -rf /\"}",	/* escapes: refused */
		"{\"version\": 3}",				/* not a string */
		"{\"version\": \"",				/* truncated */
		"[\"version\", \"1\"]",				/* not an object */
		"{\"a\": \"\\\\\", \"version\": \"2.0.0\"}",	/* escaped backslash first */
		"{\"version\": \"0123456789012345678901234567890123456789012345678901234567"
		"8901234567890123456789\"}",			/* too long */
		"",
		"{{{{{{{{{{\"version\": \"1\"",
	};
	static const char *const want[] = { "", "", "", "", "2.0.0", "", "", "" };
	char path[64];

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		snprintf(path, sizeof(path), "node_modules/p%zu/package.json", i);
		add_file(path, docs[i]);
	}
	discover();
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		char name[16];

		snprintf(name, sizeof(name), "p%zu", i);
		assert_non_null(fake_unit_named(&fh, name));
		assert_string_equal(fake_unit_named(&fh, name)->version, want[i]);
	}
}

static void test_big_package_json_is_not_read(void **state)
{
	add_file("node_modules/huge/index.js", NULL);
	fake_tree_add(&tree, "node_modules/huge/package.json", LK_FILE_REGULAR,
		      64ULL << 20, NULL);
	discover();
	assert_string_equal(fake_unit_named(&fh, "huge")->version, "");
	assert_int_equal(fh.n_warnings, 0);
}

static void test_deterministic(void **state)
{
	char first[2048], second[2048];

	build_node_tree();
	discover();
	units_summary(first, sizeof(first));
	assert_int_equal(fake_run_discovery(&fh, &plugin, &tree.tree,
					    (const char *const *)tree.contents), LK_OK);
	assert_string_equal(units_summary(second, sizeof(second)), first);
}

/* Many files: each directory is matched once, so this stays quick. */
static void test_many_files(void **state)
{
	char path[128];

	for (int p = 0; p < 400; p++)
		for (int f = 0; f < 50; f++) {
			snprintf(path, sizeof(path), "node_modules/pkg%03d/lib/sub/f%02d.js", p, f);
			fake_tree_add(&tree, path, LK_FILE_REGULAR, 10, NULL);
		}
	for (int f = 0; f < 5000; f++) {
		snprintf(path, sizeof(path), "src/mod%02d/f%04d.js", f % 40, f);
		fake_tree_add(&tree, path, LK_FILE_REGULAR, 10, NULL);
	}
	discover();
	assert_int_equal(fh.n_units, 401);
	assert_int_equal(fake_unit_named(&fh, "pkg123")->n_files, 50);
	assert_int_equal(fake_unit_named(&fh, "app")->n_files, 5000);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults_on_a_node_tree, reset, release_tree),
		cmocka_unit_test_setup_teardown(test_rules_per_kind, reset, release_tree),
		cmocka_unit_test_setup_teardown(test_first_match_wins, reset, release_tree),
		cmocka_unit_test_setup_teardown(test_file_rules_and_app_rules, reset, release_tree),
		cmocka_unit_test_setup_teardown(test_name_clash, reset, release_tree),
		cmocka_unit_test_setup_teardown(test_everything_is_app_without_matches, reset,
						release_tree),
		cmocka_unit_test_setup_teardown(test_hostile_package_json, reset, release_tree),
		cmocka_unit_test_setup_teardown(test_big_package_json_is_not_read, reset,
						release_tree),
		cmocka_unit_test_setup_teardown(test_deterministic, reset, release_tree),
		cmocka_unit_test_setup_teardown(test_many_files, reset, release_tree),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH/lk-discovery-generic-dir.so\n", argv[0]);
		return 2;
	}
	plugin_path = argv[1];
	return cmocka_run_group_tests_name("generic-dir", tests, setup, teardown);
}
