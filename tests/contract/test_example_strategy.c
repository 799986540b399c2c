/*
 * test_example_strategy - examples/strategies/largest-first, built out of
 * tree by build_example.sh, loaded through the fake host.
 *
 * Usage: test_example_strategy PATH/lk-strategy-largest-first.so
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strategy_fixture.h"

static void plan_names(const struct synth_app *app, uint32_t max_layers, const char *want)
{
	struct fake_unit_set set;
	struct fake_plan p;
	char err[1024], buf[2048];

	synth_unit_set(&set, app, max_layers);
	if (synth_plan(&fixture_host, &fixture_plugin, &set, &p, err, sizeof(err)) == LK_FAILED)
		fail_msg("%s", err);
	assert_string_equal(synth_layer_names(&p, buf, sizeof(buf)), want);
	fake_plan_release(&p);
	fake_unit_set_release(&set);
}

static void test_descriptor(void **state)
{
	assert_int_equal(fixture_plugin.kind, FAKE_STRATEGY);
	assert_string_equal(fixture_plugin.name, "largest-first");
	assert_int_equal(fixture_plugin.abi_major, LK_ABI_MAJOR);
	assert_int_equal(fixture_plugin.struct_size, sizeof(struct lk_strategy));
}

static void test_largest_alone_rest_together(void **state)
{
	static struct synth_app app;
	struct fake_unit_set set;
	struct fake_plan p;
	char err[1024], buf[2048];

	synth_fastapi(&app);
	plan_names(&app, 100, "alone-python3.11,alone-pydantic-core,alone-uvloop,rest");
	synth_unit_set(&set, &app, 100);
	assert_int_not_equal(synth_plan(&fixture_host, &fixture_plugin, &set, &p, err, sizeof(err)), LK_FAILED);
	/* "rest" holds every other unit, the app among them. */
	assert_int_equal(p.layers[3].n_units, app.n - 3);
	assert_non_null(strstr(synth_layer_units(&p, &set.set, 3, buf, sizeof(buf)), "app"));
	fake_plan_release(&p);
	fake_unit_set_release(&set);
}

static void test_count_option_and_budget(void **state)
{
	static struct synth_app app;

	synth_fastapi(&app);
	fake_host_set_option(&fixture_host, "count", "0");
	plan_names(&app, 100, "rest");
	fake_host_set_option(&fixture_host, "count", "1");
	plan_names(&app, 100, "alone-python3.11,rest");
	/* The budget wins: 2 layers leave one unit alone. */
	fake_host_set_option(&fixture_host, "count", "5");
	plan_names(&app, 2, "alone-python3.11,rest");
	/* Every unit alone: no rest layer. */
	memset(&app, 0, sizeof(app));
	synth_add(&app, LK_UNIT_PACKAGE, "a", "1", 10);
	synth_add(&app, LK_UNIT_APP, "b", "", 20);
	plan_names(&app, 100, "alone-b,alone-a");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_descriptor),
		cmocka_unit_test_setup(test_largest_alone_rest_together, fixture_reset_options),
		cmocka_unit_test_setup(test_count_option_and_budget, fixture_reset_options),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH/lk-strategy-largest-first.so\n", argv[0]);
		return 2;
	}
	fixture_plugin_path = argv[1];
	return cmocka_run_group_tests_name("largest-first (out of tree)", tests, fixture_setup, fixture_teardown);
}
