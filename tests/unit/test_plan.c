/* test_plan.c - the unit table, the plan builder and every plan-check rejection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "model.h"

/* A small tree in tree order: 0..7. */
static const struct lk_file tree_files[] = {
	{ "bin/python3", NULL, 1000, 0755, LK_FILE_REGULAR },
	{ "lib/libpython.so", NULL, 5000, 0644, LK_FILE_REGULAR },
	{ "main.py", NULL, 10, 0644, LK_FILE_REGULAR },
	{ "site/a/__init__.py", NULL, 100, 0644, LK_FILE_REGULAR },
	{ "site/a/core.py", NULL, 200, 0644, LK_FILE_REGULAR },
	{ "site/b/__init__.py", NULL, 300, 0644, LK_FILE_REGULAR },
	{ "site/b/link", "__init__.py", 0, 0777, LK_FILE_SYMLINK },
	{ "var/empty", NULL, 0, 0755, LK_FILE_DIR },
};

#define N_FILES (sizeof(tree_files) / sizeof(tree_files[0]))

static const struct lk_tree tree = {
	.struct_size = sizeof(struct lk_tree),
	.root = "/fake",
	.n_files = N_FILES,
	.files = tree_files,
};

enum { U_PY, U_A, U_B, U_APP };

/* interpreter {0,1}, a {3,4}, b {5,6}, app {2,7}; claimed out of order. */
static void make_units(struct lk_unit_table *t)
{
	lk_unit_table_init(t, N_FILES);
	assert_int_equal(lk_unit_table_add(t, LK_UNIT_INTERPRETER, "python3.11", "3.11.9", "rule"), U_PY);
	assert_int_equal(lk_unit_table_add(t, LK_UNIT_PACKAGE, "a", NULL, NULL), U_A);
	assert_int_equal(lk_unit_table_add(t, LK_UNIT_PACKAGE, "b", "2.0", "site/b"), U_B);
	assert_int_equal(lk_unit_table_add(t, LK_UNIT_APP, "app", "", ""), U_APP);
	static const struct { int unit; uint32_t file; } claims[] = {
		{ U_PY, 1 }, { U_PY, 0 }, { U_APP, 7 }, { U_APP, 2 },
		{ U_A, 4 }, { U_A, 3 }, { U_B, 6 }, { U_B, 5 },
	};
	for (size_t i = 0; i < sizeof(claims) / sizeof(claims[0]); i++)
		assert_int_equal(lk_unit_table_claim(t, claims[i].unit, claims[i].file,
						     tree_files[claims[i].file].size), LK_OK);
}

static void test_unit_table(void **state)
{
	struct lk_unit_table t;

	make_units(&t);
	assert_int_equal(t.n_units, 4);
	assert_string_equal(t.units[U_PY].version, "3.11.9");
	assert_string_equal(t.units[U_A].version, "");	/* NULL becomes "" */
	assert_string_equal(t.units[U_A].origin, "");
	assert_int_equal(t.units[U_PY].kind, LK_UNIT_INTERPRETER);
	/* files kept ascending whatever the claim order */
	assert_int_equal(t.units[U_PY].n_files, 2);
	assert_int_equal(t.units[U_PY].files[0], 0);
	assert_int_equal(t.units[U_PY].files[1], 1);
	assert_int_equal(t.units[U_APP].files[0], 2);
	assert_int_equal(t.units[U_APP].files[1], 7);
	assert_int_equal(t.units[U_PY].bytes, 6000);
	assert_int_equal(t.units[U_B].bytes, 300);
	assert_int_equal(t.unit_of_file[5], U_B);
	/* refusals */
	assert_int_equal(lk_unit_table_claim(&t, U_A, 0, 1), LK_FAILED);	/* claimed twice */
	assert_int_equal(lk_unit_table_claim(&t, 9, 0, 1), LK_FAILED);	/* no such unit */
	assert_int_equal(lk_unit_table_claim(&t, -1, 0, 1), LK_FAILED);
	assert_int_equal(lk_unit_table_claim(&t, U_A, N_FILES, 1), LK_FAILED);
	assert_int_equal(lk_unit_table_add(&t, LK_UNIT_KIND_COUNT, "x", "", ""), LK_FAILED);
	assert_int_equal(lk_unit_table_add(&t, LK_UNIT_OTHER, "", "", ""), LK_FAILED);
	assert_int_equal(lk_unit_table_add(&t, LK_UNIT_OTHER, NULL, "", ""), LK_FAILED);
	assert_int_equal(t.n_units, 4);
	lk_unit_table_release(&t);

	/* many units and many claims, in reverse */
	lk_unit_table_init(&t, 1000);
	for (int u = 0; u < 100; u++) {
		char name[16];

		snprintf(name, sizeof(name), "u%d", u);
		assert_int_equal(lk_unit_table_add(&t, LK_UNIT_PACKAGE, name, "", ""), u);
	}
	for (int f = 999; f >= 0; f--)
		assert_int_equal(lk_unit_table_claim(&t, f % 100, (uint32_t)f, 1), LK_OK);
	for (int u = 0; u < 100; u++) {
		assert_int_equal(t.units[u].n_files, 10);
		for (size_t k = 1; k < 10; k++)
			assert_true(t.units[u].files[k - 1] < t.units[u].files[k]);
	}
	lk_unit_table_release(&t);
}

static void test_plan_builder(void **state)
{
	struct lk_plan plan;

	lk_plan_init(&plan, "two-layer");
	assert_string_equal(plan.strategy, "two-layer");
	assert_int_equal(lk_plan_add_layer(&plan, "deps", "interpreter and packages"), 0);
	assert_int_equal(lk_plan_add_layer(&plan, "app", NULL), 1);
	assert_string_equal(plan.layers[1].reason, "");
	assert_int_equal(lk_plan_add_layer(&plan, NULL, "x"), LK_FAILED);
	assert_int_equal(lk_plan_add_unit(&plan, 0, U_PY, "the interpreter"), LK_OK);
	assert_int_equal(lk_plan_add_unit(&plan, 0, U_A, NULL), LK_OK);
	assert_int_equal(lk_plan_add_unit(&plan, 2, U_A, NULL), LK_FAILED);
	assert_int_equal(lk_plan_add_unit(&plan, -1, U_A, NULL), LK_FAILED);
	assert_int_equal(lk_plan_add_file(&plan, 1, 2), LK_OK);
	assert_int_equal(lk_plan_add_file(&plan, 5, 2), LK_FAILED);
	assert_int_equal(plan.layers[0].n_units, 2);
	assert_string_equal(plan.layers[0].unit_reasons[0], "the interpreter");
	assert_null(plan.layers[0].unit_reasons[1]);
	assert_int_equal(plan.layers[1].n_extra_files, 1);
	lk_plan_release(&plan);
}

/* A good plan: deps = {py, b, a}, app = {app unit} + nothing; the check
 * fills files in tree order and bytes. */
static void test_check_fills(void **state)
{
	struct lk_unit_table t;
	struct lk_plan plan;
	struct lk_error err;

	make_units(&t);
	lk_plan_init(&plan, "two-layer");
	lk_plan_add_layer(&plan, "dependencies", "");
	lk_plan_add_layer(&plan, "app", "");
	lk_plan_add_unit(&plan, 0, U_B, NULL);
	lk_plan_add_unit(&plan, 0, U_PY, NULL);
	lk_plan_add_unit(&plan, 0, U_A, NULL);
	lk_plan_add_unit(&plan, 1, U_APP, NULL);
	assert_int_equal(lk_plan_check(&plan, &t, &tree, 100, &err), LK_OK);
	{
		static const uint32_t deps[] = { 0, 1, 3, 4, 5, 6 };
		static const uint32_t app[] = { 2, 7 };

		assert_int_equal(plan.layers[0].n_files, 6);
		assert_memory_equal(plan.layers[0].files, deps, sizeof(deps));
		assert_int_equal(plan.layers[0].bytes, 1000 + 5000 + 100 + 200 + 300);
		assert_int_equal(plan.layers[1].n_files, 2);
		assert_memory_equal(plan.layers[1].files, app, sizeof(app));
		assert_int_equal(plan.layers[1].bytes, 10);
	}
	/* checking again refills (no leak, same result) */
	assert_int_equal(lk_plan_check(&plan, &t, &tree, 2, &err), LK_OK);
	assert_int_equal(plan.layers[0].n_files, 6);
	lk_plan_release(&plan);

	/* A unit split file by file over two layers, merged with a whole unit. */
	lk_plan_init(&plan, "splitter");
	lk_plan_add_layer(&plan, "one", "");
	lk_plan_add_layer(&plan, "two", "");
	lk_plan_add_file(&plan, 0, 4);		/* a/core.py */
	lk_plan_add_unit(&plan, 0, U_PY, NULL);
	lk_plan_add_file(&plan, 1, 3);		/* a/__init__.py */
	lk_plan_add_unit(&plan, 1, U_APP, NULL);
	lk_plan_add_unit(&plan, 1, U_B, NULL);
	assert_int_equal(lk_plan_check(&plan, &t, &tree, 0, &err), LK_OK);
	{
		static const uint32_t one[] = { 0, 1, 4 };
		static const uint32_t two[] = { 2, 3, 5, 6, 7 };

		assert_int_equal(plan.layers[0].n_files, 3);
		assert_memory_equal(plan.layers[0].files, one, sizeof(one));
		assert_int_equal(plan.layers[0].bytes, 6200);
		assert_int_equal(plan.layers[1].n_files, 5);
		assert_memory_equal(plan.layers[1].files, two, sizeof(two));
	}
	lk_plan_release(&plan);
	lk_unit_table_release(&t);
}

/* Builds a plan from a compact script, checks it and expects rejection
 * with want in the message. */
struct step {
	char op;		/* 'L' layer, 'U' unit, 'F' file */
	const char *name;	/* layer name for 'L' */
	int layer;
	uint32_t index;
};

static void expect_rejected(const struct step *steps, size_t n, uint32_t max_layers,
			    const char *want)
{
	struct lk_unit_table t;
	struct lk_plan plan;
	struct lk_error err;
	const char *prefix = "strategy 'tester' returned an invalid plan: ";

	make_units(&t);
	lk_plan_init(&plan, "tester");
	for (size_t i = 0; i < n; i++) {
		if (steps[i].op == 'L')
			assert_true(lk_plan_add_layer(&plan, steps[i].name, "") >= 0);
		else if (steps[i].op == 'U')
			assert_int_equal(lk_plan_add_unit(&plan, steps[i].layer, steps[i].index, NULL), LK_OK);
		else
			assert_int_equal(lk_plan_add_file(&plan, steps[i].layer, steps[i].index), LK_OK);
	}
	lk_error_clear(&err);
	assert_int_equal(lk_plan_check(&plan, &t, &tree, max_layers, &err), LK_FAILED);
	assert_int_equal(err.exit_code, LK_EXIT_BUILD);
	if (strncmp(err.msg, prefix, strlen(prefix)) || !strstr(err.msg, want))
		fail_msg("wanted \"%s...%s\"\ngot    \"%s\"", prefix, want, err.msg);
	lk_plan_release(&plan);
	lk_unit_table_release(&t);
}

#define ALL_UNITS_IN(l) { 'U', NULL, l, U_PY }, { 'U', NULL, l, U_A }, \
			{ 'U', NULL, l, U_B }, { 'U', NULL, l, U_APP }
#define REJECT(max, want, ...) do { \
		static const struct step s_[] = { __VA_ARGS__ }; \
		expect_rejected(s_, sizeof(s_) / sizeof(s_[0]), max, want); \
	} while (0)

static void test_check_rejects(void **state)
{
	/* no layer at all */
	expect_rejected(NULL, 0, 100, "no layers; a plan needs at least one layer");
	/* a unit index that does not exist */
	REJECT(100, "layer 'all' names unit 4, but there are only 4 units",
	       { 'L', "all", 0, 0 }, ALL_UNITS_IN(0), { 'U', NULL, 0, 4 });
	/* a file index that does not exist */
	REJECT(100, "layer 'all' names file 8, but the tree has only 8 files",
	       { 'L', "all", 0, 0 }, ALL_UNITS_IN(0), { 'F', NULL, 0, 8 });
	/* a unit in two layers */
	REJECT(100, "unit 'a' is in two layers ('x' and 'y')",
	       { 'L', "x", 0, 0 }, { 'L', "y", 0, 0 }, ALL_UNITS_IN(0), { 'U', NULL, 1, U_A });
	/* a unit twice in one layer */
	REJECT(100, "unit 'b' is twice in layer 'x'",
	       { 'L', "x", 0, 0 }, ALL_UNITS_IN(0), { 'U', NULL, 0, U_B });
	/* a file in two layers: its unit in one, the file alone in another */
	REJECT(100, "file 'main.py' (unit 'app') is in two layers ('x' and 'y')",
	       { 'L', "x", 0, 0 }, { 'L', "y", 0, 0 }, ALL_UNITS_IN(0), { 'F', NULL, 1, 2 });
	/* a file twice in one layer */
	REJECT(100, "file 'main.py' is twice in layer 'x'",
	       { 'L', "x", 0, 0 }, ALL_UNITS_IN(0), { 'F', NULL, 0, 2 });
	/* a unit in no layer: its files are missing */
	REJECT(100, "file 'site/a/__init__.py' (unit 'a') is in no layer (2 files missing)",
	       { 'L', "x", 0, 0 }, { 'U', NULL, 0, U_PY }, { 'U', NULL, 0, U_B },
	       { 'U', NULL, 0, U_APP });
	/* one file of a split unit missing */
	REJECT(100, "file 'site/a/core.py' (unit 'a') is in no layer (1 file missing)",
	       { 'L', "x", 0, 0 }, { 'U', NULL, 0, U_PY }, { 'U', NULL, 0, U_B },
	       { 'U', NULL, 0, U_APP }, { 'F', NULL, 0, 3 });
	/* an empty layer */
	REJECT(100, "layer 'nothing' is empty; leave out layers that would hold no files",
	       { 'L', "x", 0, 0 }, { 'L', "nothing", 0, 0 }, ALL_UNITS_IN(0));
	/* duplicate layer names */
	REJECT(100, "two layers are named 'x' (layers 1 and 3); layer names must be unique",
	       { 'L', "x", 0, 0 }, { 'L', "y", 0, 0 }, { 'L', "x", 0, 0 }, ALL_UNITS_IN(0));
	/* an empty layer name */
	REJECT(100, "layer 2 has an empty name",
	       { 'L', "x", 0, 0 }, { 'L', "", 0, 0 }, ALL_UNITS_IN(0));
	/* more layers than max_layers */
	REJECT(3, "4 layers, more than max_layers = 3; lower the strategy's layer count",
	       { 'L', "l1", 0, 0 }, { 'L', "l2", 0, 0 }, { 'L', "l3", 0, 0 }, { 'L', "l4", 0, 0 },
	       { 'U', NULL, 0, U_PY }, { 'U', NULL, 1, U_A }, { 'U', NULL, 2, U_B },
	       { 'U', NULL, 3, U_APP });
}

/* max_layers above the hard cap is capped at 127; 0 means the default 100. */
static void test_layer_limits(void **state)
{
	struct lk_unit_table t;
	struct lk_plan plan;
	struct lk_error err;
	static const struct lk_file many[200] = { [0 ... 199] = { "f", NULL, 1, 0644, LK_FILE_REGULAR } };
	struct lk_tree big = { sizeof(struct lk_tree), "/big", 128, many };

	lk_unit_table_init(&t, 128);
	for (uint32_t i = 0; i < 128; i++) {
		char name[16];

		snprintf(name, sizeof(name), "l%u", i);
		assert_int_equal(lk_unit_table_add(&t, LK_UNIT_PACKAGE, name, "", ""), (int)i);
		assert_int_equal(lk_unit_table_claim(&t, (int)i, i, 1), LK_OK);
	}
	lk_plan_init(&plan, "per-package");
	for (uint32_t i = 0; i < 128; i++) {
		char name[16];

		snprintf(name, sizeof(name), "l%u", i);
		lk_plan_add_unit(&plan, lk_plan_add_layer(&plan, name, ""), i, NULL);
	}
	assert_int_equal(lk_plan_check(&plan, &t, &big, 200, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "strategy 'per-package' returned an invalid plan: "
			       "128 layers, more than max_layers = 127"));
	assert_int_equal(lk_plan_check(&plan, &t, &big, 0, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "more than max_layers = 100"));

	/* 127 layers (the last holding two units) pass at the cap */
	lk_plan_release(&plan);
	lk_plan_init(&plan, "per-package");
	for (uint32_t i = 0; i < 127; i++) {
		char name[16];

		snprintf(name, sizeof(name), "l%u", i);
		lk_plan_add_unit(&plan, lk_plan_add_layer(&plan, name, ""), i, NULL);
	}
	lk_plan_add_unit(&plan, 126, 127, NULL);
	assert_int_equal(lk_plan_check(&plan, &t, &big, 127, &err), LK_OK);
	assert_int_equal(plan.layers[126].n_files, 2);
	lk_plan_release(&plan);
	lk_unit_table_release(&t);
}

/* An empty tree gives an empty layer, and the message says why. */
static void test_empty_tree(void **state)
{
	struct lk_unit_table t;
	struct lk_plan plan;
	struct lk_error err;
	struct lk_tree empty = { sizeof(struct lk_tree), "/empty", 0, NULL };

	lk_unit_table_init(&t, 0);
	lk_plan_init(&plan, "two-layer");
	lk_plan_add_layer(&plan, "app", "");
	assert_int_equal(lk_plan_check(&plan, &t, &empty, 100, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "layer 'app' is empty (the scanned tree has no files)"));
	lk_plan_release(&plan);
	lk_unit_table_release(&t);

	/* a layer holding only a unit without files is empty too */
	make_units(&t);
	assert_int_equal(lk_unit_table_add(&t, LK_UNIT_SUPPORT, "hollow", "", ""), 4);
	lk_plan_init(&plan, "two-layer");
	lk_plan_add_layer(&plan, "x", "");
	lk_plan_add_layer(&plan, "y", "");
	for (uint32_t u = 0; u < 4; u++)
		lk_plan_add_unit(&plan, 0, u, NULL);
	lk_plan_add_unit(&plan, 1, 4, NULL);
	assert_int_equal(lk_plan_check(&plan, &t, &tree, 100, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "layer 'y' is empty; leave out"));
	lk_plan_release(&plan);
	lk_unit_table_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unit_table),
		cmocka_unit_test(test_plan_builder),
		cmocka_unit_test(test_check_fills),
		cmocka_unit_test(test_check_rejects),
		cmocka_unit_test(test_layer_limits),
		cmocka_unit_test(test_empty_tree),
	};

	return cmocka_run_group_tests_name("plan", tests, NULL, NULL);
}
