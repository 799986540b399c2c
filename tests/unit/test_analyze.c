/* test_analyze.c - analyze: tar bytes computed without writing, plan arithmetic, the recommendation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "analyze.h"
#include "tar.h"
#include "tree_fixture.h"

/* ---- the real tar's length, for comparison ---- */

static int count_sink(void *opaque, const void *data, size_t len, struct lk_error *err)
{
	*(uint64_t *)opaque += len;
	return LK_OK;
}

static uint64_t real_tar_bytes(const struct lk_scan *scan, const uint32_t *files, size_t n,
			       const char *prefix)
{
	struct lk_tar_opts opts = { .mtime = 0, .prefix = prefix };
	struct lk_error err;
	uint64_t len = 0;

	lk_error_clear(&err);
	if (lk_tar_write(scan, files, n, &opts, count_sink, &len, &err) != LK_OK)
		fail_msg("lk_tar_write: %s", err.msg);
	return len;
}

/* A name of exactly len bytes: dir/ + 'x' * (len - 4). */
static char *name_of_length(const char *dir, size_t len)
{
	size_t d = strlen(dir) + 1;
	char *s = lk_xmalloc(len + 1);

	snprintf(s, len + 1, "%s/", dir);
	memset(s + d, 'x', len - d);
	s[len] = '\0';
	return s;
}

/* Names around every ustar limit, links, hard links, empty dirs and files. */
static void odd_tree(struct tree_fixture *t)
{
	static const size_t lengths[] = { 99, 100, 101, 154, 155, 156, 200, 254, 255, 256 };
	char seg[80], deep[600] = "";
	unsigned char big[1537];

	tree_init(t);
	memset(big, 'a', sizeof(big));
	tree_text(t, "a.txt", "hello\n", 0644);
	tree_file(t, "blocks/exact", big, 512, 0644);
	tree_file(t, "blocks/over", big, 513, 0755);
	tree_file(t, "blocks/three", big, sizeof(big), 0644);
	tree_text(t, "empty", "", 0644);
	tree_mkdirs(t, "emptydir/inner");
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		char *n = name_of_length("long", lengths[i]);

		tree_text(t, n, "x", 0644);
		free(n);
	}
	/* A name with one component over 100: ustar cannot split it. */
	memset(seg, 'y', sizeof(seg) - 1);
	seg[sizeof(seg) - 1] = '\0';
	for (int i = 0; i < 3; i++) {
		strcat(deep, seg);
		strcat(deep, "/");
	}
	strcat(deep, "f");
	tree_text(t, deep, "deep", 0644);
	tree_text(t, "u/caf\xc3\xa9.txt", "utf-8 name", 0644);
	tree_text(t, "u/bad\xff.txt", "not utf-8", 0644);
	tree_symlink(t, "links/short", "../a.txt");
	tree_symlink(t, "links/long",
		     "../long/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	tree_symlink(t, "links/caf\xc3\xa9", "../a.txt");
	tree_text(t, "hard/one", "same inode", 0644);
	tree_hardlink(t, "hard/two", "hard/one");
	tree_hardlink(t, "z/far/away/with/a/rather/long/directory/name/that/goes/on/and/on/and/on/to/pass/one/hundred/bytes", "hard/one");
	tree_scan(t);
}

static void test_tar_bytes_match_the_writer(void **state)
{
	static const char *const prefixes[] = { "", "app", "srv/some/much/longer/prefix/than/usual" };
	struct tree_fixture t;
	uint32_t *all;

	odd_tree(&t);
	all = tree_all(&t);
	for (size_t p = 0; p < 3; p++) {
		uint64_t want = real_tar_bytes(&t.scan, all, t.scan.n_files, prefixes[p]);
		uint64_t got = lk_analyze_layer_tar_bytes(&t.scan, all, t.scan.n_files, prefixes[p]);

		if (want != got)
			fail_msg("prefix '%s': computed %llu tar bytes, the writer made %llu",
				 prefixes[p], (unsigned long long)got, (unsigned long long)want);
	}
	/* Every other file: other parents, a hard link whose first is absent. */
	{
		uint32_t *half = lk_xmalloc(t.scan.n_files * sizeof(*half));
		size_t n = 0;

		for (size_t i = 1; i < t.scan.n_files; i += 2)
			half[n++] = (uint32_t)i;
		assert_int_equal(lk_analyze_layer_tar_bytes(&t.scan, half, n, "app"),
				 real_tar_bytes(&t.scan, half, n, "app"));
		free(half);
	}
	/* An empty layer is the two end blocks. */
	assert_int_equal(lk_analyze_layer_tar_bytes(&t.scan, all, 0, "app"), 1024);
	free(all);
	tree_release(&t);
}

static void test_median(void **state)
{
	const uint64_t odd[] = { 1, 5, 100 };
	const uint64_t even[] = { 10, 20, 31, 1000 };
	const uint64_t huge[] = { UINT64_MAX - 2, UINT64_MAX };

	assert_int_equal(lk_analyze_median(NULL, 0), 0);
	assert_int_equal(lk_analyze_median(odd, 1), 1);
	assert_int_equal(lk_analyze_median(odd, 3), 5);
	assert_int_equal(lk_analyze_median(even, 4), 25);	/* (20 + 31) / 2, rounded down */
	assert_true(lk_analyze_median(huge, 2) == UINT64_MAX - 1);	/* no overflow */
}

/* ---- a plan measured ---- */

struct fixture_app {
	struct tree_fixture t;
	struct lk_unit_table units;
	struct lk_plan plan;
};

static void unit_of_dir(struct fixture_app *f, uint32_t kind, const char *name,
			const char *version, const char *dir)
{
	int u = lk_unit_table_add(&f->units, kind, name, version, dir);

	assert_true(u >= 0);
	for (size_t i = 0; i < f->t.scan.n_files; i++) {
		const char *p = f->t.scan.files[i].path;

		if (!strncmp(p, dir, strlen(dir)) && p[strlen(dir)] == '/')
			assert_int_equal(lk_unit_table_claim(&f->units, u, (uint32_t)i,
							     f->t.scan.files[i].size), LK_OK);
	}
}

/* interp, three packages of 1, 3 and 8 KiB, an app; the layers as asked. */
static void app_init(struct fixture_app *f)
{
	static char kib[8192];

	memset(kib, 'k', sizeof(kib));
	tree_init(&f->t);
	tree_file(&f->t, "interp/bin/python", kib, 4096, 0755);
	tree_file(&f->t, "pkgs/aaa/a.py", kib, 1024, 0644);
	tree_file(&f->t, "pkgs/bbb/b.py", kib, 3072, 0644);
	tree_file(&f->t, "pkgs/ccc/c.py", kib, 8192, 0644);
	tree_text(&f->t, "src/main.py", "print('hi')\n", 0644);
	tree_scan(&f->t);
	lk_unit_table_init(&f->units, f->t.scan.n_files);
	unit_of_dir(f, LK_UNIT_INTERPRETER, "python", "3.11", "interp");
	unit_of_dir(f, LK_UNIT_PACKAGE, "aaa", "1", "pkgs/aaa");
	unit_of_dir(f, LK_UNIT_PACKAGE, "bbb", "1", "pkgs/bbb");
	unit_of_dir(f, LK_UNIT_PACKAGE, "ccc", "1", "pkgs/ccc");
	unit_of_dir(f, LK_UNIT_APP, "main", "", "src");
}

static void app_release(struct fixture_app *f)
{
	lk_plan_release(&f->plan);
	lk_unit_table_release(&f->units);
	tree_release(&f->t);
}

/* Layer groups: for each unit (table order), the layer it goes to. */
static void app_plan(struct fixture_app *f, const int *layer_of_unit, size_t n_layers)
{
	struct lk_error err;
	char name[16];

	lk_plan_init(&f->plan, "test");
	for (size_t l = 0; l < n_layers; l++) {
		snprintf(name, sizeof(name), "l%zu", l);
		assert_int_equal(lk_plan_add_layer(&f->plan, name, "test"), (int)l);
	}
	for (uint32_t u = 0; u < f->units.n_units; u++)
		assert_int_equal(lk_plan_add_unit(&f->plan, layer_of_unit[u], u, "why"), LK_OK);
	lk_error_clear(&err);
	if (lk_plan_check(&f->plan, &f->units, &f->t.scan.tree, 100, &err) != LK_OK)
		fail_msg("plan check: %s", err.msg);
}

static uint64_t layer_tar(struct fixture_app *f, size_t l)
{
	return lk_analyze_layer_tar_bytes(&f->t.scan, f->plan.layers[l].files,
					  f->plan.layers[l].n_files, "app");
}

static void test_measure_one_layer_per_unit(void **state)
{
	static const int layers[] = { 0, 1, 2, 3, 4 };
	struct fixture_app f;
	struct lk_analyze_plan m = { 0 };
	uint64_t total = 0;

	app_init(&f);
	app_plan(&f, layers, 5);
	lk_analyze_plan_measure(&m, &f.t.scan, &f.units, &f.plan, "app");
	for (size_t l = 0; l < 5; l++)
		total += layer_tar(&f, l);
	assert_int_equal(m.n_layers, 5);
	assert_int_equal(m.tar_bytes, total);
	assert_int_equal(m.n_packages, 3);
	/* Bumps are the three package layers; the median is the middle one. */
	assert_int_equal(m.bump_median, layer_tar(&f, 2));
	assert_int_equal(m.bump_max, layer_tar(&f, 3));
	assert_string_equal(m.bump_max_package, "ccc");
	assert_int_equal(m.bump_layers_max, 1);
	assert_int_equal(m.app_bytes, layer_tar(&f, 4));
	assert_int_equal(m.app_layers, 1);
	free(m.bump_max_package);
	app_release(&f);
}

static void test_measure_two_layers(void **state)
{
	static const int layers[] = { 0, 0, 0, 0, 1 };
	struct fixture_app f;
	struct lk_analyze_plan m = { 0 };

	app_init(&f);
	app_plan(&f, layers, 2);
	lk_analyze_plan_measure(&m, &f.t.scan, &f.units, &f.plan, "app");
	/* Every bump rebuilds the whole dependency layer, interpreter included. */
	assert_int_equal(m.bump_median, layer_tar(&f, 0));
	assert_int_equal(m.bump_max, layer_tar(&f, 0));
	assert_true(m.bump_median > 4096 + 1024 + 3072 + 8192);
	assert_int_equal(m.app_bytes, layer_tar(&f, 1));
	assert_int_equal(m.tar_bytes, layer_tar(&f, 0) + layer_tar(&f, 1));
	free(m.bump_max_package);
	app_release(&f);
}

static void test_measure_app_with_a_package(void **state)
{
	/* bbb shares the app's layer: an app change rebuilds it too. */
	static const int layers[] = { 0, 1, 2, 1, 2 };
	struct fixture_app f;
	struct lk_analyze_plan m = { 0 };

	app_init(&f);
	app_plan(&f, layers, 3);
	lk_analyze_plan_measure(&m, &f.t.scan, &f.units, &f.plan, "app");
	assert_int_equal(m.app_bytes, layer_tar(&f, 2));
	assert_int_equal(m.bump_max, layer_tar(&f, 1));	/* aaa and ccc share l1 */
	assert_int_equal(m.bump_median, layer_tar(&f, 1));
	free(m.bump_max_package);
	app_release(&f);
}

/* ---- the recommendation ---- */

static struct lk_analyze_plan row(const char *name, size_t layers, size_t packages,
				  uint64_t median, uint64_t max)
{
	struct lk_analyze_plan p = { 0 };

	p.strategy = (char *)name;
	p.n_layers = layers;
	p.n_packages = packages;
	p.bump_median = median;
	p.bump_max = max;
	p.tar_bytes = max * 2;
	p.app_bytes = 1000;
	return p;
}

static long recommend(struct lk_analyze_plan *plans, size_t n, uint32_t budget)
{
	struct lk_analysis a = { .plans = plans, .n_plans = n };
	long pick;

	lk_analyze_recommend(&a, budget);
	assert_non_null(a.reason);
	pick = a.recommended;
	free(a.reason);
	return pick;
}

#define MIB (1024ull * 1024)

static void test_recommend_small_tree(void **state)
{
	struct lk_analyze_plan plans[] = {
		row("few", 2, 19, 6 * MIB, 6 * MIB),
		row("many", 22, 19, 30000, 140000),
	};

	/* The whole dependency layer is under LK_ANALYZE_SMALL_DEPS. */
	assert_int_equal(recommend(plans, 2, 100), 0);
}

static void test_recommend_few_packages(void **state)
{
	struct lk_analyze_plan plans[] = {
		row("many", 5, 2, 1 * MIB, 2 * MIB),
		row("few", 2, 2, 300 * MIB, 300 * MIB),
	};

	assert_int_equal(recommend(plans, 2, 100), 1);
}

static void test_recommend_churn(void **state)
{
	struct lk_analyze_plan plans[] = {
		row("grouped", 7, 19, 5 * MIB, 9 * MIB),
		row("per-unit", 23, 19, 1 * MIB, 5 * MIB),
		row("two", 2, 19, 270 * MIB, 270 * MIB),
	};

	assert_int_equal(recommend(plans, 3, 100), 1);
}

static void test_recommend_over_budget(void **state)
{
	/* The per-unit plan sits at the budget (it had to merge): the next
	 * smallest bump wins. */
	struct lk_analyze_plan plans[] = {
		row("grouped", 8, 120, 40 * MIB, 90 * MIB),
		row("per-unit", 100, 120, 2 * MIB, 20 * MIB),
		row("two", 2, 120, 400 * MIB, 400 * MIB),
	};

	assert_int_equal(recommend(plans, 3, 100), 0);
	/* With a higher budget it fits again. */
	assert_int_equal(recommend(plans, 3, 127), 1);
}

static void test_recommend_close_prefers_fewer_layers(void **state)
{
	struct lk_analyze_plan plans[] = {
		row("fine", 30, 19, 100 * MIB, 200 * MIB),
		row("coarse", 6, 19, 105 * MIB, 300 * MIB),	/* within 10% */
		row("two", 2, 19, 270 * MIB, 270 * MIB),
	};

	assert_int_equal(recommend(plans, 3, 100), 1);
}

static void test_recommend_errors(void **state)
{
	struct lk_analyze_plan plans[] = {
		row("broken", 0, 0, 0, 0),
		row("ok", 3, 19, 50 * MIB, 60 * MIB),
	};

	plans[0].error = (char *)"cannot plan";
	assert_int_equal(recommend(plans, 2, 100), 1);
	plans[1].error = (char *)"cannot plan either";
	assert_int_equal(recommend(plans, 2, 100), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tar_bytes_match_the_writer),
		cmocka_unit_test(test_median),
		cmocka_unit_test(test_measure_one_layer_per_unit),
		cmocka_unit_test(test_measure_two_layers),
		cmocka_unit_test(test_measure_app_with_a_package),
		cmocka_unit_test(test_recommend_small_tree),
		cmocka_unit_test(test_recommend_few_packages),
		cmocka_unit_test(test_recommend_churn),
		cmocka_unit_test(test_recommend_over_budget),
		cmocka_unit_test(test_recommend_close_prefers_fewer_layers),
		cmocka_unit_test(test_recommend_errors),
	};

	return cmocka_run_group_tests_name("analyze", tests, NULL, NULL);
}
