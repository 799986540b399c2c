/* test_grouped_by_size - the grouped-by-size strategy through the fake host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strategy_fixture.h"

static void print_plan(const struct fake_plan *p, const struct lk_unit_set *set)
{
	char buf[4096];

	for (size_t i = 0; i < p->n_layers; i++)
		print_message("  %-16s %s\n", p->layers[i].name,
			      synth_layer_units(p, set, (long)i, buf, sizeof(buf)));
}

/* The documented bin of a name: FNV-1a 64, fmix64, modulo the bins. */
static int bin_of(const char *name, int bins)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (int)(h % (uint64_t)bins) + 1;
}

static void test_default_layout(void **state)
{
	static struct synth_app app;
	struct fake_unit_set set;
	struct fake_plan p;
	char buf[256];
	long outlier;

	synth_fastapi(&app);
	assert_int_equal(fixture_plan(&app, 100, &set, &p), LK_OK);
	print_plan(&p, &set.set);
	/* At most 8 layers: interpreter, app, 4 bins, 2 outliers. */
	assert_true(p.n_layers <= 8);
	assert_string_equal(p.layers[0].name, "interpreter");
	assert_string_equal(synth_layer_units(&p, &set.set, 0, buf, sizeof(buf)), "python3.11");
	assert_string_equal(p.layers[p.n_layers - 1].name, "app");
	assert_string_equal(synth_layer_units(&p, &set.set, (long)p.n_layers - 1, buf,
					      sizeof(buf)), "app");
	/* pydantic-core (4.5 MiB) reaches the 4 MiB default: alone. */
	outlier = fake_plan_find(&p, "pkg-pydantic-core");
	assert_int_equal(outlier, 1);
	assert_string_equal(p.layers[outlier].unit_reasons[0],
			    "outlier: 4.5 MiB >= outlier_size 4 MiB");
	/* Everything else sits in the bin its name hashes to. */
	for (size_t i = 0; i < set.set.n_units; i++) {
		const struct lk_unit *u = &set.set.units[i];
		const struct fake_layer *l = &p.layers[fake_plan_layer_of(&p, (uint32_t)i)];
		char want[64];

		if (u->kind == LK_UNIT_INTERPRETER || u->kind == LK_UNIT_APP ||
		    !strcmp(u->name, "pydantic-core"))
			continue;
		if (!strcmp(l->name, "packages-small"))
			continue;
		snprintf(want, sizeof(want), "packages-%d", bin_of(u->name, 4));
		assert_string_equal(l->name, want);
		for (size_t k = 0; k < l->n_units; k++)
			if (l->units[k] == i) {
				snprintf(want, sizeof(want), "hash bin %d of 4", bin_of(u->name, 4));
				assert_string_equal(l->unit_reasons[k], want);
			}
	}
	fake_plan_release(&p);
	fake_unit_set_release(&set);
}

/* A bin's members do not depend on the other units: a plan of the same
 * app with half the packages gone keeps each survivor in its bin. */
static void test_bins_depend_on_names_only(void **state)
{
	static struct synth_app app, half;
	struct fake_unit_set s1, s2;
	struct fake_plan p1, p2;

	synth_monorepo(&app, 60);
	memset(&half, 0, sizeof(half));
	for (size_t i = 0; i < app.n; i++)
		if (app.kind[i] != LK_UNIT_PACKAGE || i % 2)
			synth_add(&half, app.kind[i], app.name[i], app.version[i], app.bytes[i]);
	fake_host_set_option(&fixture_host, "max_layers", "30");
	fake_host_set_option(&fixture_host, "min_layer_size", "0");
	fixture_plan(&app, 100, &s1, &p1);
	fixture_plan(&half, 100, &s2, &p2);
	for (size_t i = 0; i < half.n; i++) {
		long j = synth_find(&app, half.name[i]);
		long l1 = fake_plan_layer_of(&p1, (uint32_t)j);
		long l2 = fake_plan_layer_of(&p2, (uint32_t)i);

		assert_string_equal(p1.layers[l1].name, p2.layers[l2].name);
	}
	fake_plan_release(&p1);
	fake_plan_release(&p2);
	fake_unit_set_release(&s1);
	fake_unit_set_release(&s2);
}

static void test_min_layer_size_folds_small_bins(void **state)
{
	static struct synth_app app;
	struct fake_unit_set set;
	struct fake_plan p;
	long small;

	synth_fastapi(&app);
	fake_host_set_option(&fixture_host, "bins", "6");
	fake_host_set_option(&fixture_host, "max_layers", "10");
	fake_host_set_option(&fixture_host, "min_layer_size", "2MiB");
	fixture_plan(&app, 100, &set, &p);
	print_plan(&p, &set.set);
	small = fake_plan_find(&p, "packages-small");
	assert_true(small > 0);
	assert_non_null(strstr(p.layers[small].unit_reasons[0], "< min_layer_size 2 MiB"));
	/* Every bin still standing holds at least 2 MiB. */
	for (size_t i = 0; i < p.n_layers; i++) {
		uint64_t bytes = 0;

		if (strncmp(p.layers[i].name, "packages-", 9) || (long)i == small)
			continue;
		for (size_t u = 0; u < p.layers[i].n_units; u++)
			bytes += set.set.units[p.layers[i].units[u]].bytes;
		assert_true(bytes >= 2 * 1024 * 1024);
	}
	fake_plan_release(&p);
	fake_unit_set_release(&set);
}

static void test_too_many_outliers(void **state)
{
	static struct synth_app app;
	struct fake_unit_set set;
	struct fake_plan p;
	long l;

	synth_fastapi(&app);
	/* 1 MiB makes 9 outliers; 8 layers leave room for 2 of them. */
	fake_host_set_option(&fixture_host, "outlier_size", "1MiB");
	assert_int_equal(fixture_plan(&app, 100, &set, &p), LK_WARN);
	print_plan(&p, &set.set);
	assert_true(fake_host_logged(&fixture_host, LK_LOG_WARN, "raise max_layers or outlier_size"));
	assert_true(p.n_layers <= 8);
	/* The two largest keep their layers, the rest say why they did not. */
	assert_true(fake_plan_find(&p, "pkg-pydantic-core") >= 0);
	assert_true(fake_plan_find(&p, "pkg-uvloop") >= 0);
	assert_int_equal(fake_plan_find(&p, "pkg-pydantic"), -1);
	l = fake_plan_layer_of(&p, (uint32_t)synth_find(&app, "pydantic"));
	for (size_t k = 0; k < p.layers[l].n_units; k++)
		if (!strcmp(set.set.units[p.layers[l].units[k]].name, "pydantic"))
			assert_non_null(strstr(p.layers[l].unit_reasons[k],
					       "merged: over max_layers"));
	fake_plan_release(&p);
	fake_unit_set_release(&set);
}

static void test_budgets(void **state)
{
	static struct synth_app app;
	struct fake_unit_set set;
	struct fake_plan p;
	char buf[512];

	synth_fastapi(&app);
	/* The app's budget wins over the option. */
	fixture_plan(&app, 5, &set, &p);
	assert_true(p.n_layers <= 5);
	fake_plan_release(&p);
	fake_unit_set_release(&set);

	/* bins above what fits: clamped, with a warning. */
	fake_host_set_option(&fixture_host, "bins", "20");
	assert_int_equal(fixture_plan(&app, 100, &set, &p), LK_WARN);
	assert_true(p.n_layers <= 8);
	assert_true(fake_host_logged(&fixture_host, LK_LOG_WARN, "bins = 20"));
	fake_plan_release(&p);
	fake_unit_set_release(&set);
	fake_host_set_option(&fixture_host, "bins", NULL);

	/* 3 layers: interpreter, one shared layer, app. */
	fake_host_set_option(&fixture_host, "max_layers", "3");
	fixture_plan(&app, 100, &set, &p);
	assert_string_equal(synth_layer_names(&p, buf, sizeof(buf)), "interpreter,packages-1,app");
	fake_plan_release(&p);
	fake_unit_set_release(&set);

	/* 2 layers cannot hold the packages beside interpreter and app. */
	fake_host_set_option(&fixture_host, "max_layers", "2");
	synth_unit_set(&set, &app, 100);
	assert_int_equal(fake_run_strategy(&fixture_host, &fixture_plugin, &set.set), LK_FAILED);
	assert_non_null(strstr(fixture_host.error, "raise max_layers to at least 3"));
	fake_unit_set_release(&set);
}

static void test_without_interpreter(void **state)
{
	static struct synth_app app;
	struct fake_unit_set set;
	struct fake_plan p;
	char buf[512];

	memset(&app, 0, sizeof(app));
	synth_add(&app, LK_UNIT_PACKAGE, "react", "18.3.1", 300 * 1024);
	synth_add(&app, LK_UNIT_PACKAGE, "@babel/core", "7.24.0", 900 * 1024);
	synth_add(&app, LK_UNIT_APP, "app", "", 20 * 1024);
	fake_host_set_option(&fixture_host, "min_layer_size", "0");
	fixture_plan(&app, 100, &set, &p);
	assert_null(strstr(synth_layer_names(&p, buf, sizeof(buf)), "interpreter"));
	assert_int_equal(p.n_layers, 1 + (bin_of("react", 4) != bin_of("@babel/core", 4)) + 1);
	fake_plan_release(&p);
	fake_unit_set_release(&set);
}

static void measure(const struct synth_app *app, const char *name, enum synth_change c,
		    struct stability *st)
{
	char err[1024];

	if (stability_measure(&fixture_host, &fixture_plugin, app, 100, c, st, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	stability_print("grouped-by-size", name, synth_change_name(c), st);
}

/*
 * Asserts the target on one app: for each package in turn, a new
 * version with its size +20% or -20% changes exactly one layer in at least
 * 95% of those cases and never more than two; the same for adding or
 * removing a package; a version change alone always changes one layer.
 */
static void check_stability(const struct synth_app *app, const char *name, size_t n_packages)
{
	struct stability st, pooled;

	memset(&pooled, 0, sizeof(pooled));
	for (int c = 0; c < SYNTH_CHANGE_COUNT; c++) {
		measure(app, name, (enum synth_change)c, &st);
		assert_int_equal(st.cases, n_packages);
		assert_true(st.max <= 2);
		if (c == SYNTH_BUMP_UP || c == SYNTH_BUMP_DOWN)
			stability_add(&pooled, &st);
		else if (c == SYNTH_VERSION)
			assert_int_equal(st.hist[1], st.cases);
		else
			assert_true(stability_exactly_one(&st) >= 95.0);
	}
	stability_print("grouped-by-size", name, "version+size+-20%", &pooled);
	assert_true(stability_exactly_one(&pooled) >= 95.0);
}

static void test_stability(void **state)
{
	static struct synth_app fastapi, mono;
	struct stability st;

	synth_fastapi(&fastapi);
	synth_monorepo(&mono, 120);
	check_stability(&fastapi, "fastapi-19", 19);
	/* 120 packages want more than 8 layers: 16 leave 9 bins and room for
	 * 5 outliers. */
	fake_host_set_option(&fixture_host, "max_layers", "16");
	check_stability(&mono, "monorepo-120", 120);
	/* With the default 8 the outliers do not all fit (a configuration
	 * problem the plan warns about): a change may then also move the
	 * outlier it displaces, so up to 4 layers. */
	fake_host_set_option(&fixture_host, "max_layers", NULL);
	for (int c = 0; c < SYNTH_CHANGE_COUNT; c++) {
		measure(&mono, "mono-120/8", (enum synth_change)c, &st);
		assert_true(st.max <= 4);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_default_layout, fixture_reset_options),
		cmocka_unit_test_setup(test_bins_depend_on_names_only, fixture_reset_options),
		cmocka_unit_test_setup(test_min_layer_size_folds_small_bins, fixture_reset_options),
		cmocka_unit_test_setup(test_too_many_outliers, fixture_reset_options),
		cmocka_unit_test_setup(test_budgets, fixture_reset_options),
		cmocka_unit_test_setup(test_without_interpreter, fixture_reset_options),
		cmocka_unit_test_setup(test_stability, fixture_reset_options),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH/lk-strategy-grouped-by-size.so\n", argv[0]);
		return 2;
	}
	fixture_plugin_path = argv[1];
	return cmocka_run_group_tests_name("grouped-by-size", tests, fixture_setup, fixture_teardown);
}
