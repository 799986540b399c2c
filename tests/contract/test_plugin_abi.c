/*
 * test_plugin_abi - the contract every plugin keeps, whoever wrote it.
 *
 * Usage: test_plugin_abi PATH/lk-<kind>-<name>.so   (NM names nm(1))
 *
 * The ABI: exactly one exported symbol, the entry of its kind; a static
 * descriptor with the right abi_major and struct_size, a valid name equal
 * to the file's; well-formed option specs whose defaults the host accepts.
 * The behaviour every plugin of a kind owes: a strategy plans the sample
 * apps into a valid plan, deterministically, without touching the tree and
 * without hidden state; a discovery puts every file of a tree in exactly
 * one unit, or fails with a message.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_host.h"
#include "synth.h"

static const char *plugin_path;
static char expected_kind[16];	/* from the file name: "strategy" or "discovery" */
static char expected_name[128];

static int setup_plugin(void **state)
{
	struct fake_plugin *p = calloc(1, sizeof(*p));
	char err[1024];

	if (fake_plugin_open(p, plugin_path, err, sizeof(err)) != 0) {
		print_error("%s\n", err);
		free(p);
		return -1;
	}
	*state = p;
	return 0;
}

static int teardown_plugin(void **state)
{
	if (!*state)
		return 0;
	fake_plugin_close(*state);
	free(*state);
	return 0;
}

static void test_exports_exactly_the_entry(void **state)
{
	const char *nm = getenv("NM") ? getenv("NM") : "nm";
	char cmd[4200], line[1024], sym[512];
	size_t n = 0;
	FILE *out;

	(void)state;
	snprintf(cmd, sizeof(cmd), "'%s' -D --defined-only '%s'", nm, plugin_path);
	out = popen(cmd, "r");
	assert_non_null(out);
	while (fgets(line, sizeof(line), out)) {
		char addr[64], type[8];

		if (sscanf(line, "%63s %7s %511s", addr, type, sym) != 3)
			continue;
		n++;
		print_message("exported: %s (%s)\n", sym, type);
	}
	assert_int_equal(pclose(out), 0);
	assert_int_equal(n, 1);
	assert_string_equal(sym, !strcmp(expected_kind, "strategy") ? LK_STRATEGY_ENTRY_SYMBOL :
			    LK_DISCOVERY_ENTRY_SYMBOL);
}

static int name_valid(const char *name)
{
	size_t n = strlen(name);

	return n >= 1 && n <= 64 && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static void test_descriptor(void **state)
{
	struct fake_plugin *p = *state;

	assert_int_equal(p->kind, !strcmp(expected_kind, "strategy") ? FAKE_STRATEGY :
			 FAKE_DISCOVERY);
	assert_int_equal(p->abi_major, LK_ABI_MAJOR);
	assert_true(p->abi_minor <= LK_ABI_MINOR);
	assert_int_equal(p->struct_size, p->kind == FAKE_STRATEGY ? sizeof(struct lk_strategy) :
			 sizeof(struct lk_discovery));
	assert_non_null(p->name);
	assert_true(name_valid(p->name));
	assert_string_equal(p->name, expected_name);
	assert_non_null(p->description);
	assert_true(strlen(p->description) > 0);
	assert_non_null(p->version);
	assert_true(strlen(p->version) > 0);
	if (p->kind == FAKE_STRATEGY) {
		assert_non_null(p->strategy->plan);
		/* init without release would leak the state on every build. */
		assert_true(!p->strategy->init || p->strategy->release);
	} else {
		assert_non_null(p->discovery->discover);
		assert_true(!p->discovery->init || p->discovery->release);
	}
}

/* The entry returns one static descriptor, not a fresh one per call. */
static void test_entry_returns_static_descriptor(void **state)
{
	struct fake_plugin *p = *state;
	struct fake_plugin again;
	char err[1024];

	assert_int_equal(fake_plugin_open(&again, plugin_path, err, sizeof(err)), 0);
	if (p->kind == FAKE_STRATEGY)
		assert_ptr_equal(again.strategy, p->strategy);
	else
		assert_ptr_equal(again.discovery, p->discovery);
	fake_plugin_close(&again);
}

static void test_option_specs(void **state)
{
	struct fake_plugin *p = *state;
	struct fake_host fh;
	size_t n = 0;

	for (const struct lk_option_spec *s = p->options; s && s->key; s++, n++) {
		size_t len = strlen(s->key);

		print_message("option %s (type %u) default %s\n", s->key, s->type,
			      s->default_value ? s->default_value : "(unset)");
		assert_true(len > 0 && len < 64);
		assert_int_equal(strspn(s->key, "abcdefghijklmnopqrstuvwxyz0123456789_"), len);
		assert_true(s->type <= LK_OPT_LIST);
		assert_non_null(s->help);
		assert_true(strlen(s->help) > 0);
		assert_true(s->min <= s->max);
		if (s->type != LK_OPT_INT && s->type != LK_OPT_SIZE)
			assert_true(s->min == 0 && s->max == 0);
		for (const struct lk_option_spec *t = p->options; t != s; t++)
			assert_string_not_equal(t->key, s->key);
	}
	/* Every default parses and is within its bounds, as the host checks. */
	fake_host_init(&fh);
	assert_int_equal(fake_host_check_options(&fh, p), 0);
	/* An unknown key is refused before the plugin runs. */
	fake_host_set_option(&fh, "no_such_option_anywhere", "1");
	assert_int_equal(fake_host_check_options(&fh, p), -1);
	assert_non_null(strstr(fh.error, "no_such_option_anywhere"));
	fake_host_release(&fh);
	print_message("%zu options\n", n);
}

/* ---- strategies -------------------------------------------------------- */

static void plan_or_fail(struct fake_host *fh, const struct fake_plugin *p,
			 const struct fake_unit_set *set, struct fake_plan *out)
{
	char why[512];
	int rc = fake_run_strategy(fh, p, &set->set);

	if (rc != LK_OK && rc != LK_WARN)
		fail_msg("%s failed (%d): %s", p->name, rc, fh->error);
	if (fh->n_violations)
		fail_msg("%s broke the contract: %s", p->name, fh->violation);
	assert_int_equal(fh->n_tree_reads, 0);
	fake_host_take_plan(fh, out);
	if (fake_plan_verify(out, &set->set, why, sizeof(why)) != 0)
		fail_msg("%s made an invalid plan: %s", p->name, why);
}

static void test_strategy_plans_are_valid_and_pure(void **state)
{
	struct fake_plugin *p = *state;
	static struct synth_app small, big;
	struct fake_unit_set a, b;
	struct fake_plan first, second, other, third;
	struct fake_host fh;

	assert_int_equal(p->kind, FAKE_STRATEGY);
	synth_fastapi(&small);
	synth_monorepo(&big, 120);
	synth_unit_set(&a, &small, LK_MAX_LAYERS_DEFAULT);
	synth_unit_set(&b, &big, LK_MAX_LAYERS_DEFAULT);
	fake_host_init(&fh);

	plan_or_fail(&fh, p, &a, &first);
	plan_or_fail(&fh, p, &a, &second);
	assert_true(fake_plan_equal(&first, &second));
	/* No state between builds: another app in between changes nothing. */
	plan_or_fail(&fh, p, &b, &other);
	plan_or_fail(&fh, p, &a, &third);
	assert_true(fake_plan_equal(&first, &third));
	print_message("%s: %zu layers for hello_fastapi, %zu for 120 packages\n", p->name,
		      first.n_layers, other.n_layers);

	fake_plan_release(&first);
	fake_plan_release(&second);
	fake_plan_release(&other);
	fake_plan_release(&third);
	fake_unit_set_release(&a);
	fake_unit_set_release(&b);
	fake_host_release(&fh);
}

static void test_strategy_small_budgets(void **state)
{
	struct fake_plugin *p = *state;
	static struct synth_app app;
	struct fake_host fh;

	assert_int_equal(p->kind, FAKE_STRATEGY);
	synth_fastapi(&app);
	fake_host_init(&fh);
	/* Any budget: a plan within it, or a clear refusal. */
	for (uint32_t budget = 1; budget <= 30; budget++) {
		struct fake_unit_set set;
		char why[512];
		int rc;

		synth_unit_set(&set, &app, budget);
		rc = fake_run_strategy(&fh, p, &set.set);
		if (fh.n_violations)
			fail_msg("budget %u: %s", budget, fh.violation);
		if (rc == LK_OK || rc == LK_WARN) {
			if (fake_plan_verify(&fh.plan, &set.set, why, sizeof(why)) != 0)
				fail_msg("budget %u: %s", budget, why);
		} else {
			assert_int_equal(rc, LK_FAILED);
			assert_true(fh.has_error && strlen(fh.error) > 10);
		}
		fake_unit_set_release(&set);
	}
	fake_host_release(&fh);
}

static void test_strategy_refuses_empty_input(void **state)
{
	struct fake_plugin *p = *state;
	struct fake_unit_set set;
	struct fake_host fh;

	assert_int_equal(p->kind, FAKE_STRATEGY);
	fake_unit_set_init(&set, NULL, 0, LK_MAX_LAYERS_DEFAULT);
	fake_host_init(&fh);
	assert_int_equal(fake_run_strategy(&fh, p, &set.set), LK_FAILED);
	assert_true(fh.has_error);
	assert_int_equal(fh.n_violations, 0);
	fake_host_release(&fh);
	fake_unit_set_release(&set);
}

/* ---- discovery --------------------------------------------------------- */

static void check_every_file_once(const struct fake_host *fh, const struct lk_tree *tree)
{
	size_t total = 0;

	for (size_t f = 0; f < tree->n_files; f++)
		if (fh->unit_of_file[f] < 0)
			fail_msg("file %s is in no unit", tree->files[f].path);
	for (size_t u = 0; u < fh->n_units; u++) {
		total += fh->units[u].n_files;
		assert_true(fh->units[u].kind < LK_UNIT_KIND_COUNT);
		assert_true(strlen(fh->units[u].name) > 0);
		assert_non_null(fh->units[u].version);
	}
	assert_int_equal(total, tree->n_files);
}

static void test_discovery_claims_every_file(void **state)
{
	struct fake_plugin *p = *state;
	static const char *const paths[] = {
		"README.md", "src/main.py", "src/util/helpers.py", "node_modules/x/index.js",
		"vendor/y/y.go", "lib/python3.11/site-packages/six.py", "bin/python3",
		"data/empty", "z",
	};
	struct fake_tree tree;
	struct fake_host fh;
	int rc;

	assert_int_equal(p->kind, FAKE_DISCOVERY);
	fake_tree_init(&tree, "/fake/mixed");
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		fake_tree_add(&tree, paths[i], !strcmp(paths[i], "data/empty") ? LK_FILE_DIR :
			      LK_FILE_REGULAR, 100 + i, NULL);
	fake_tree_finish(&tree);
	fake_host_init(&fh);
	rc = fake_run_discovery(&fh, p, &tree.tree, (const char *const *)tree.contents);
	if (fh.n_violations)
		fail_msg("%s", fh.violation);
	if (rc == LK_OK || rc == LK_WARN) {
		check_every_file_once(&fh, &tree.tree);
	} else {
		/* Some discoveries refuse a tree that is not theirs: with a reason. */
		assert_int_equal(rc, LK_FAILED);
		assert_true(fh.has_error);
		print_message("%s refuses a mixed tree: %s\n", p->name, fh.error);
	}
	fake_host_release(&fh);
	fake_tree_release(&tree);
}

static void test_discovery_empty_tree(void **state)
{
	struct fake_plugin *p = *state;
	struct fake_tree tree;
	struct fake_host fh;
	int rc;

	assert_int_equal(p->kind, FAKE_DISCOVERY);
	fake_tree_init(&tree, "/fake/empty");
	fake_tree_finish(&tree);
	fake_host_init(&fh);
	rc = fake_run_discovery(&fh, p, &tree.tree, NULL);
	assert_int_equal(fh.n_violations, 0);
	if (rc == LK_OK || rc == LK_WARN)
		assert_int_equal(fh.n_units, 0);
	else
		assert_true(rc == LK_FAILED && fh.has_error);
	fake_host_release(&fh);
	fake_tree_release(&tree);
}

int main(int argc, char **argv)
{
	/* The ABI checks, then what the plugin's kind owes. */
	const struct CMUnitTest strategy_tests[] = {
		cmocka_unit_test(test_exports_exactly_the_entry),
		cmocka_unit_test(test_descriptor),
		cmocka_unit_test(test_entry_returns_static_descriptor),
		cmocka_unit_test(test_option_specs),
		cmocka_unit_test(test_strategy_plans_are_valid_and_pure),
		cmocka_unit_test(test_strategy_small_budgets),
		cmocka_unit_test(test_strategy_refuses_empty_input),
	};
	const struct CMUnitTest discovery_tests[] = {
		cmocka_unit_test(test_exports_exactly_the_entry),
		cmocka_unit_test(test_descriptor),
		cmocka_unit_test(test_entry_returns_static_descriptor),
		cmocka_unit_test(test_option_specs),
		cmocka_unit_test(test_discovery_claims_every_file),
		cmocka_unit_test(test_discovery_empty_tree),
	};
	const char *base;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH/lk-<kind>-<name>.so\n", argv[0]);
		return 2;
	}
	plugin_path = argv[1];
	base = strrchr(plugin_path, '/') ? strrchr(plugin_path, '/') + 1 : plugin_path;
	if (sscanf(base, "lk-%15[a-z]-%127[a-z0-9-]", expected_kind, expected_name) != 2 ||
	    strcmp(base + strlen("lk--") + strlen(expected_kind) + strlen(expected_name), ".so")) {
		fprintf(stderr, "%s: not named lk-<kind>-<name>.so\n", plugin_path);
		return 2;
	}
	if (!strcmp(expected_kind, "strategy"))
		return cmocka_run_group_tests_name(base, strategy_tests, setup_plugin,
						   teardown_plugin);
	if (!strcmp(expected_kind, "discovery"))
		return cmocka_run_group_tests_name(base, discovery_tests, setup_plugin,
						   teardown_plugin);
	fprintf(stderr, "%s: unknown plugin kind '%s'\n", plugin_path, expected_kind);
	return 2;
}
