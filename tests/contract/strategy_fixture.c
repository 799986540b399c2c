/* strategy_fixture.c - see strategy_fixture.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "strategy_fixture.h"

const char *fixture_plugin_path;
struct fake_plugin fixture_plugin;
struct fake_host fixture_host;

int fixture_setup(void **state)
{
	char err[1024];

	if (fake_plugin_open(&fixture_plugin, fixture_plugin_path, err, sizeof(err)) != 0) {
		print_error("%s\n", err);
		return -1;
	}
	fake_host_init(&fixture_host);
	return 0;
}

int fixture_teardown(void **state)
{
	fake_host_release(&fixture_host);
	fake_plugin_close(&fixture_plugin);
	return 0;
}

int fixture_reset_options(void **state)
{
	fake_host_release(&fixture_host);
	fake_host_init(&fixture_host);
	return 0;
}

int fixture_plan(const struct synth_app *app, uint32_t max_layers, struct fake_unit_set *set,
		 struct fake_plan *out)
{
	char err[1024];
	int rc;

	synth_unit_set(set, app, max_layers);
	rc = synth_plan(&fixture_host, &fixture_plugin, set, out, err, sizeof(err));
	if (rc == LK_FAILED)
		fail_msg("%s", err);
	return rc;
}
