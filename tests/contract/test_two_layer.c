/* test_two_layer - the two-layer strategy through the fake host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "strategy_fixture.h"

static void test_dependencies_then_app(void **state)
{
	static struct synth_app app;
	struct fake_unit_set set;
	struct fake_plan p;
	char buf[4096];

	synth_fastapi(&app);
	assert_int_equal(fixture_plan(&app, 100, &set, &p), LK_OK);
	assert_string_equal(synth_layer_names(&p, buf, sizeof(buf)), "dependencies,app");
	/* Discovery order, interpreter and support included. */
	assert_string_equal(synth_layer_units(&p, &set.set, 0, buf, sizeof(buf)),
			    "python3.11,annotated-types,anyio,click,fastapi,h11,httptools,idna,"
			    "pydantic,pydantic-core,python-dotenv,pyyaml,sniffio,starlette,"
			    "typing-extensions,typing-inspection,uvicorn,uvloop,watchfiles,"
			    "websockets,rules_python,bazel_tools");
	assert_string_equal(synth_layer_units(&p, &set.set, 1, buf, sizeof(buf)), "app");
	assert_string_equal(p.layers[0].unit_reasons[1], "dependency (package)");
	assert_string_equal(p.layers[0].unit_reasons[0], "dependency (interpreter)");
	assert_string_equal(p.layers[0].unit_reasons[20], "dependency (support)");
	assert_string_equal(p.layers[1].unit_reasons[0], "app");
	fake_plan_release(&p);
	fake_unit_set_release(&set);
}

static void test_split_interpreter(void **state)
{
	static struct synth_app app;
	struct fake_unit_set set;
	struct fake_plan p;
	char buf[4096];

	synth_fastapi(&app);
	fake_host_set_option(&fixture_host, "split_interpreter", "yes");
	assert_int_equal(fixture_plan(&app, 100, &set, &p), LK_OK);
	assert_string_equal(synth_layer_names(&p, buf, sizeof(buf)), "interpreter,dependencies,app");
	assert_string_equal(synth_layer_units(&p, &set.set, 0, buf, sizeof(buf)), "python3.11");
	assert_null(strstr(synth_layer_units(&p, &set.set, 1, buf, sizeof(buf)), "python3.11"));
	fake_plan_release(&p);
	fake_unit_set_release(&set);
}

/* No empty layer: each layer appears only when something goes in it. */
static void test_no_empty_layer(void **state)
{
	static struct synth_app app;
	struct fake_unit_set set;
	struct fake_plan p;
	char buf[256];

	memset(&app, 0, sizeof(app));
	synth_add(&app, LK_UNIT_APP, "app", "", 1000);
	assert_int_equal(fixture_plan(&app, 100, &set, &p), LK_OK);
	assert_string_equal(synth_layer_names(&p, buf, sizeof(buf)), "app");
	fake_plan_release(&p);
	fake_unit_set_release(&set);

	memset(&app, 0, sizeof(app));
	synth_add(&app, LK_UNIT_PACKAGE, "left-pad", "1.3.0", 1000);
	synth_add(&app, LK_UNIT_OTHER, "assets", "", 1000);
	assert_int_equal(fixture_plan(&app, 100, &set, &p), LK_OK);
	assert_string_equal(synth_layer_names(&p, buf, sizeof(buf)), "dependencies");
	assert_string_equal(synth_layer_units(&p, &set.set, 0, buf, sizeof(buf)), "left-pad,assets");
	fake_plan_release(&p);
	fake_unit_set_release(&set);

	fake_host_set_option(&fixture_host, "split_interpreter", "true");
	memset(&app, 0, sizeof(app));
	synth_add(&app, LK_UNIT_INTERPRETER, "node", "20.1", 1000);
	synth_add(&app, LK_UNIT_APP, "app", "", 1000);
	assert_int_equal(fixture_plan(&app, 100, &set, &p), LK_OK);
	assert_string_equal(synth_layer_names(&p, buf, sizeof(buf)), "interpreter,app");
	fake_plan_release(&p);
	fake_unit_set_release(&set);
}

static void test_small_budget(void **state)
{
	static struct synth_app app;
	struct fake_unit_set set;
	struct fake_plan p;
	char buf[256];

	synth_fastapi(&app);
	/* Two layers allowed: the split is dropped with a warning. */
	fake_host_set_option(&fixture_host, "split_interpreter", "true");
	assert_int_equal(fixture_plan(&app, 2, &set, &p), LK_WARN);
	assert_string_equal(synth_layer_names(&p, buf, sizeof(buf)), "dependencies,app");
	assert_true(fake_host_logged(&fixture_host, LK_LOG_WARN, "split_interpreter ignored"));
	fake_plan_release(&p);
	fake_unit_set_release(&set);

	/* One layer allowed: a clear refusal. */
	synth_unit_set(&set, &app, 1);
	assert_int_equal(fake_run_strategy(&fixture_host, &fixture_plugin, &set.set), LK_FAILED);
	assert_non_null(strstr(fixture_host.error, "max_layers is 1"));
	assert_non_null(strstr(fixture_host.error, "at least 2"));
	fake_unit_set_release(&set);
}

static void test_bad_option_value_refused(void **state)
{
	static struct synth_app app;
	struct fake_unit_set set;

	synth_fastapi(&app);
	synth_unit_set(&set, &app, 100);
	fake_host_set_option(&fixture_host, "split_interpreter", "perhaps");
	assert_int_equal(fake_run_strategy(&fixture_host, &fixture_plugin, &set.set), LK_FAILED);
	assert_non_null(strstr(fixture_host.error, "split_interpreter"));
	fake_unit_set_release(&set);
}

/* One package changed, added or removed: only the dependency layer changes. */
static void test_stability(void **state)
{
	static struct synth_app apps[2];
	const char *names[2] = { "fastapi-19", "monorepo-120" };
	char err[1024];

	synth_fastapi(&apps[0]);
	synth_monorepo(&apps[1], 120);
	for (int split = 0; split < 2; split++) {
		fake_host_set_option(&fixture_host, "split_interpreter", split ? "true" : "false");
		for (int a = 0; a < 2; a++) {
			for (int c = 0; c < SYNTH_CHANGE_COUNT; c++) {
				struct stability st;

				if (stability_measure(&fixture_host, &fixture_plugin, &apps[a], 100, (enum synth_change)c,
						      &st, err, sizeof(err)) != 0)
					fail_msg("%s", err);
				if (!split)
					stability_print("two-layer", names[a], synth_change_name(c), &st);
				assert_true(st.cases >= 19);
				assert_int_equal(st.hist[1], st.cases);
			}
		}
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_dependencies_then_app, fixture_reset_options),
		cmocka_unit_test_setup(test_split_interpreter, fixture_reset_options),
		cmocka_unit_test_setup(test_no_empty_layer, fixture_reset_options),
		cmocka_unit_test_setup(test_small_budget, fixture_reset_options),
		cmocka_unit_test_setup(test_bad_option_value_refused, fixture_reset_options),
		cmocka_unit_test_setup(test_stability, fixture_reset_options),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH/lk-strategy-two-layer.so\n", argv[0]);
		return 2;
	}
	fixture_plugin_path = argv[1];
	return cmocka_run_group_tests_name("two-layer", tests, fixture_setup, fixture_teardown);
}
