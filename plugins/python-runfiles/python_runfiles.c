/*
 * python_runfiles.c - the python-runfiles discovery plugin: its descriptor,
 * options, locate() and discover().
 *
 * Input: a Bazel py_binary (the launcher or its NAME.runfiles directory), a
 * virtualenv, or a `pip install --target` tree.  Output: an interpreter
 * unit, one package unit per installed distribution, one support unit per
 * other repo, and the app.  The rules are in docs/python-runfiles.md.
 */
#include "pyrf.h"

#include <stdio.h>
#include <string.h>

static const struct lk_option_spec python_runfiles_options[] = {
	{ "legacy_external", LK_OPT_STRING, "keep",
	  "<main>/external/<repo>/ duplicates: keep (in the original's unit), separate "
	  "(own unit), drop (must be excluded)", 0, 0 },
	{ "main_repo", LK_OPT_STRING, NULL,
	  "the app's repo in the runfiles tree (default: _main, __main__, or detected)", 0, 0 },
	{ "interpreter_repo", LK_OPT_STRING, NULL,
	  "the interpreter's repo (default: detected by bin/python3 + lib/python3.N/os.py; "
	  "'none': there is none)", 0, 0 },
	{ NULL, 0, NULL, NULL, 0, 0 },
};

static int python_runfiles_locate(const struct lk_host *host, struct lk_ctx *ctx, void *state,
				  const char *root,
				  void (*set_scan_root)(struct lk_ctx *ctx, const char *dir),
				  void (*add_top_entry)(struct lk_ctx *ctx, const char *name))
{
	char dir[4096], base[1024], runfiles[1040];
	int rc = pyrf_launcher_split(root, dir, sizeof(dir), base, sizeof(base));

	if (rc < 0) {
		host->set_error(ctx, "%s: the path is too long for a launcher; name the "
				"NAME.runfiles directory instead", root);
		return LK_FAILED;
	}
	if (rc == 0)
		return LK_OK;	/* a runfiles dir, a venv, a target dir: as it is */
	/* A launcher: scan its directory, but only it and its runfiles. */
	snprintf(runfiles, sizeof(runfiles), "%s.runfiles", base);
	set_scan_root(ctx, dir);
	add_top_entry(ctx, base);
	add_top_entry(ctx, runfiles);
	host->log(ctx, LK_LOG_DEBUG, "%s is a launcher: scanning %s/{%s,%s}", root, dir,
		  base, runfiles);
	return LK_OK;
}

static int python_runfiles_discover(const struct lk_host *host, struct lk_ctx *ctx,
				    void *state, const struct lk_tree *tree)
{
	struct pyrf_settings set = { PYRF_LEGACY_KEEP, NULL, NULL };
	const char *legacy = host->opt_string(ctx, "legacy_external");
	const char *main_repo = host->opt_string(ctx, "main_repo");
	const char *interpreter_repo = host->opt_string(ctx, "interpreter_repo");

	if (!legacy || !strcmp(legacy, "keep")) {
		set.legacy = PYRF_LEGACY_KEEP;
	} else if (!strcmp(legacy, "separate")) {
		set.legacy = PYRF_LEGACY_SEPARATE;
	} else if (!strcmp(legacy, "drop")) {
		set.legacy = PYRF_LEGACY_DROP;
	} else {
		host->set_error(ctx, "legacy_external = %s: not one of keep, separate, drop",
				legacy);
		return LK_FAILED;
	}
	/* An empty value is the same as unset. */
	set.main_repo = main_repo && *main_repo ? main_repo : NULL;
	set.interpreter_repo = interpreter_repo && *interpreter_repo ? interpreter_repo : NULL;
	return pyrf_discover(host, ctx, &set, tree);
}

static const struct lk_discovery python_runfiles_discovery = {
	.abi_major = LK_ABI_MAJOR,
	.abi_minor = LK_ABI_MINOR,
	.struct_size = sizeof(struct lk_discovery),
	.name = "python-runfiles",
	.description = "Python apps: Bazel py_binary runfiles, virtualenvs, pip --target trees; "
		       "one unit per distribution",
	.version = "1.0.0",
	.options = python_runfiles_options,
	.locate = python_runfiles_locate,
	.discover = python_runfiles_discover,
};

LK_EXPORT const struct lk_discovery *layerkit_discovery_v1(void)
{
	return &python_runfiles_discovery;
}
