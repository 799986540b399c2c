/* test_per_package - the per-package strategy through the fake host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strategy_fixture.h"

static void test_one_layer_per_unit_in_cache_order(void **state)
{
	static struct synth_app app;
	struct fake_unit_set set;
	struct fake_plan p;
	char buf[4096];

	synth_fastapi(&app);
	assert_int_equal(fixture_plan(&app, 100, &set, &p), LK_OK);
	assert_string_equal(synth_layer_names(&p, buf, sizeof(buf)),
			    "interpreter-python3.11,pkg-annotated-types,pkg-anyio,pkg-click,"
			    "pkg-fastapi,pkg-h11,pkg-httptools,pkg-idna,pkg-pydantic,"
			    "pkg-pydantic-core,pkg-python-dotenv,pkg-pyyaml,pkg-sniffio,"
			    "pkg-starlette,pkg-typing-extensions,pkg-typing-inspection,pkg-uvicorn,"
			    "pkg-uvloop,pkg-watchfiles,pkg-websockets,support-bazel_tools,"
			    "support-rules_python,app");
	for (size_t i = 0; i < p.n_layers; i++)
		assert_int_equal(p.layers[i].n_units, 1);
	fake_plan_release(&p);
	fake_unit_set_release(&set);
}

/* Packages are sorted by name: the order discovery found them in does not
 * matter. */
static void test_order_does_not_follow_discovery(void **state)
{
	static struct synth_app app, reversed;
	struct fake_unit_set s1, s2;
	struct fake_plan p1, p2;
	char a[4096], b[4096];

	synth_fastapi(&app);
	memset(&reversed, 0, sizeof(reversed));
	for (size_t i = app.n; i-- > 0;)
		synth_add(&reversed, app.kind[i], app.name[i], app.version[i], app.bytes[i]);
	fixture_plan(&app, 100, &s1, &p1);
	fixture_plan(&reversed, 100, &s2, &p2);
	assert_string_equal(synth_layer_names(&p1, a, sizeof(a)), synth_layer_names(&p2, b, sizeof(b)));
	fake_plan_release(&p1);
	fake_plan_release(&p2);
	fake_unit_set_release(&s1);
	fake_unit_set_release(&s2);
}

static void test_namesakes_get_unique_layers(void **state)
{
	static struct synth_app app;
	struct fake_unit_set set;
	struct fake_plan p;
	char buf[256];

	memset(&app, 0, sizeof(app));
	synth_add(&app, LK_UNIT_PACKAGE, "six", "1.16.0", 1000);
	synth_add(&app, LK_UNIT_PACKAGE, "six", "1.15.0", 1000);
	synth_add(&app, LK_UNIT_APP, "main", "", 1000);
	synth_add(&app, LK_UNIT_APP, "web", "", 1000);
	assert_int_equal(fixture_plan(&app, 100, &set, &p), LK_OK);
	assert_string_equal(synth_layer_names(&p, buf, sizeof(buf)),
			    "pkg-six,pkg-six-2,app-main,app-web");
	fake_plan_release(&p);
	fake_unit_set_release(&set);
}

/* Over the budget: the smallest packages share merge_layers layers and the
 * total is exactly the budget or under it. */
static void test_merge_smallest_when_over_budget(void **state)
{
	static struct synth_app app;
	struct fake_unit_set set;
	struct fake_plan p;
	unsigned max_merged_tier = 0, min_solo_tier = 64;
	size_t shared = 0, merged = 0;

	synth_monorepo(&app, 120);
	assert_int_equal(fixture_plan(&app, 100, &set, &p), LK_OK);
	assert_true(p.n_layers <= 100);
	assert_true(p.n_layers >= 95);
	for (size_t i = 0; i < p.n_layers; i++) {
		const struct fake_layer *l = &p.layers[i];

		for (size_t u = 0; u < l->n_units; u++) {
			const struct lk_unit *unit = &set.set.units[l->units[u]];
			unsigned tier = 0;

			for (uint64_t b = unit->bytes; b >>= 1;)
				tier++;
			tier /= 2;
			if (unit->kind != LK_UNIT_PACKAGE)
				continue;
			if (!strncmp(l->name, "packages-", 9)) {
				merged++;
				assert_non_null(strstr(l->unit_reasons[u], "merged: over max_layers"));
				if (tier > max_merged_tier)
					max_merged_tier = tier;
			} else if (tier < min_solo_tier) {
				min_solo_tier = tier;
			}
		}
		shared += !strncmp(l->name, "packages-", 9);
	}
	print_message("120 packages in 100 layers: %zu merged into %zu shared layers\n",
		      merged, shared);
	assert_true(shared >= 1 && shared <= 8);
	/* 1 interpreter + 2 support + 1 app leave 96; 8 shared leave 88 alone. */
	assert_int_equal(merged, 120 - 88);
	/* Merged by size tier: none of them is in a bigger tier than a package
	 * that kept its own layer. */
	assert_true(max_merged_tier <= min_solo_tier);
	fake_plan_release(&p);
	fake_unit_set_release(&set);
}

static void test_max_layers_option(void **state)
{
	static struct synth_app app;
	struct fake_unit_set set;
	struct fake_plan p;
	char buf[256];

	synth_fastapi(&app);
	fake_host_set_option(&fixture_host, "max_layers", "10");
	fixture_plan(&app, 100, &set, &p);
	assert_int_equal(p.n_layers, 10);
	fake_plan_release(&p);
	fake_unit_set_release(&set);

	/* The option never raises the app's budget. */
	fake_host_set_option(&fixture_host, "max_layers", "50");
	fixture_plan(&app, 12, &set, &p);
	assert_int_equal(p.n_layers, 12);
	fake_plan_release(&p);
	fake_unit_set_release(&set);

	/* 4 layers: support units collapse into one, every package shares one. */
	fake_host_set_option(&fixture_host, "max_layers", "4");
	fixture_plan(&app, 100, &set, &p);
	assert_string_equal(synth_layer_names(&p, buf, sizeof(buf)),
			    "interpreter-python3.11,packages-1,support,app");
	fake_plan_release(&p);
	fake_unit_set_release(&set);

	/* 3 layers cannot hold interpreter, packages, support and app. */
	fake_host_set_option(&fixture_host, "max_layers", "3");
	synth_unit_set(&set, &app, 100);
	assert_int_equal(fake_run_strategy(&fixture_host, &fixture_plugin, &set.set), LK_FAILED);
	assert_non_null(strstr(fixture_host.error, "raise max_layers"));
	fake_unit_set_release(&set);

	fake_host_set_option(&fixture_host, "max_layers", "500");
	synth_unit_set(&set, &app, 100);
	assert_int_equal(fake_run_strategy(&fixture_host, &fixture_plugin, &set.set), LK_FAILED);
	assert_non_null(strstr(fixture_host.error, "max_layers"));
	fake_unit_set_release(&set);
}

static void measure(const struct synth_app *app, const char *name, enum synth_change c,
		    struct stability *st)
{
	char err[1024];

	if (stability_measure(&fixture_host, &fixture_plugin, app, 100, c, st, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	stability_print("per-package", name, synth_change_name(c), st);
}

/* Within the budget every change touches one layer; over it, a version
 * change still does, and a size change or an add/remove moves at most the
 * changed package and one neighbour in rank. */
static void test_stability(void **state)
{
	static struct synth_app fastapi, mono;
	struct stability st;

	synth_fastapi(&fastapi);
	synth_monorepo(&mono, 120);
	for (int c = 0; c < SYNTH_CHANGE_COUNT; c++) {
		measure(&fastapi, "fastapi-19", (enum synth_change)c, &st);
		assert_int_equal(st.cases, 19);
		assert_int_equal(st.hist[1], st.cases);
	}
	for (int c = 0; c < SYNTH_CHANGE_COUNT; c++) {
		measure(&mono, "monorepo-120", (enum synth_change)c, &st);
		assert_int_equal(st.cases, 120);
		switch (c) {
		case SYNTH_VERSION:
			assert_int_equal(st.hist[1], st.cases);
			break;
		case SYNTH_BUMP_UP:
		case SYNTH_BUMP_DOWN:
			assert_true(st.max <= 4);
			assert_true(stability_exactly_one(&st) >= 90.0);
			break;
		default:
			assert_true(st.max <= 3);
		}
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_one_layer_per_unit_in_cache_order, fixture_reset_options),
		cmocka_unit_test_setup(test_order_does_not_follow_discovery, fixture_reset_options),
		cmocka_unit_test_setup(test_namesakes_get_unique_layers, fixture_reset_options),
		cmocka_unit_test_setup(test_merge_smallest_when_over_budget, fixture_reset_options),
		cmocka_unit_test_setup(test_max_layers_option, fixture_reset_options),
		cmocka_unit_test_setup(test_stability, fixture_reset_options),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH/lk-strategy-per-package.so\n", argv[0]);
		return 2;
	}
	fixture_plugin_path = argv[1];
	return cmocka_run_group_tests_name("per-package", tests, fixture_setup, fixture_teardown);
}
