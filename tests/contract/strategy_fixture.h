/*
 * strategy_fixture.h - one strategy plugin under test through the fake host:
 * the setup, teardown and planning steps every strategy test program shares.
 * The program sets fixture_plugin_path (from argv) before running its group.
 */
#ifndef STRATEGY_FIXTURE_H
#define STRATEGY_FIXTURE_H

#include "fake_host.h"
#include "synth.h"

extern const char *fixture_plugin_path;
extern struct fake_plugin fixture_plugin;
extern struct fake_host fixture_host;

/* Group setup: opens the plugin and a fresh fake host; -1 (with the reason
 * printed) when the plugin cannot be opened. */
int fixture_setup(void **state);
/* Group teardown: releases the host and closes the plugin. */
int fixture_teardown(void **state);
/* Per test: a fresh host, so options set by one test do not leak. */
int fixture_reset_options(void **state);
/* Plans app with budget max_layers; fails the test on LK_FAILED.  set and
 * out stay with the caller (fake_unit_set_release, fake_plan_release). */
int fixture_plan(const struct synth_app *app, uint32_t max_layers, struct fake_unit_set *set,
		 struct fake_plan *out);

#endif
