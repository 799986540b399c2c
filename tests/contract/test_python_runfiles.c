/*
 * test_python_runfiles - the python-runfiles discovery through the fake
 * host: unit assignment on runfiles trees of every shape and naming style,
 * virtualenvs and pip --target trees, the options, and bad input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_host.h"

static const char *plugin_path;
static struct fake_plugin plugin;
static struct fake_host fh;
static struct fake_tree tree;

static int setup(void **state)
{
	char err[1024];

	if (fake_plugin_open(&plugin, plugin_path, err, sizeof(err)) != 0) {
		print_error("%s\n", err);
		return -1;
	}
	fake_host_init(&fh);
	return 0;
}

static int teardown(void **state)
{
	fake_host_release(&fh);
	fake_plugin_close(&plugin);
	return 0;
}

/* Each test names its own root (its basename matters to the plugin). */
static void start(const char *root)
{
	fake_host_release(&fh);
	fake_host_init(&fh);
	fake_tree_init(&tree, root);
}

static int release_tree(void **state)
{
	fake_tree_release(&tree);
	return 0;
}

static void add(const char *path, const char *content)
{
	fake_tree_add(&tree, path, LK_FILE_REGULAR, content ? 0 : 100, content);
}

/* A kept relative link (the fake tree gives every link the same target). */
static void add_link(const char *path)
{
	fake_tree_add(&tree, path, LK_FILE_SYMLINK, 0, NULL);
}

/* Runs discovery and checks the contract: every file in exactly one unit,
 * no breach.  Returns the plugin's code. */
static int discover(void)
{
	size_t total = 0;
	int rc;

	fake_tree_finish(&tree);
	rc = fake_run_discovery(&fh, &plugin, &tree.tree, (const char *const *)tree.contents);
	if (fh.n_violations)
		fail_msg("contract: %s", fh.violation);
	if (rc != LK_OK && rc != LK_WARN)
		return rc;
	for (size_t f = 0; f < tree.n_files; f++)
		if (fh.unit_of_file[f] < 0)
			fail_msg("%s is in no unit", tree.files[f].path);
	for (size_t u = 0; u < fh.n_units; u++) {
		total += fh.units[u].n_files;
		if (!fh.units[u].n_files)
			fail_msg("unit %s has no file", fh.units[u].name);
	}
	assert_int_equal(total, tree.n_files);
	return rc;
}

/* "name:kind:version,..." of the units, in the order they were made. */
static const char *units_summary(char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t u = 0; u < fh.n_units && used < len; u++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s:%s:%s", u ? "," : "",
					 fh.units[u].name, lk_unit_kind_name(fh.units[u].kind),
					 fh.units[u].version);
	return buf;
}

static const char *unit_of(const char *path)
{
	const struct lk_unit *u = fake_unit_of_path(&fh, path);

	if (!u)
		fail_msg("no unit holds %s", path);
	return u ? u->name : "(none)";
}

static const char *metadata(const char *name, const char *version, char *buf, size_t len)
{
	snprintf(buf, len, "Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: x\n\nBody\n",
		 name, version);
	return buf;
}

/* A hermetic interpreter repo under prefix (e.g. "x.runfiles/python_3_11/"). */
static void add_interpreter(const char *prefix)
{
	char p[512];

	snprintf(p, sizeof(p), "%sbin/python3", prefix);
	add_link(p);
	snprintf(p, sizeof(p), "%sbin/python3.11", prefix);
	add(p, NULL);
	snprintf(p, sizeof(p), "%slib/libpython3.11.so.1.0", prefix);
	add(p, NULL);
	snprintf(p, sizeof(p), "%slib/python3.11/os.py", prefix);
	add(p, NULL);
	snprintf(p, sizeof(p), "%slib/python3.11/json/__init__.py", prefix);
	add(p, NULL);
	snprintf(p, sizeof(p), "%sinclude/python3.11/patchlevel.h", prefix);
	add(p, "#define PY_VERSION \"3.11.9\"\n");
	/* Its own site-packages belongs to it, dist-info and all. */
	snprintf(p, sizeof(p), "%slib/python3.11/site-packages/pip/__init__.py", prefix);
	add(p, NULL);
	snprintf(p, sizeof(p), "%slib/python3.11/site-packages/pip-24.0.dist-info/METADATA", prefix);
	add(p, "Name: pip\nVersion: 24.0\n");
}

/* A rules_python pip repo with one distribution. */
static void add_pip_repo(const char *repo_prefix, const char *name, const char *version,
			 const char *module, const char *script)
{
	char p[1024], md[256], rec[1024], di[256];

	snprintf(di, sizeof(di), "%s-%s.dist-info", module, version);
	snprintf(p, sizeof(p), "%ssite-packages/%s/__init__.py", repo_prefix, module);
	add(p, NULL);
	snprintf(p, sizeof(p), "%ssite-packages/%s/core.py", repo_prefix, module);
	add(p, NULL);
	snprintf(p, sizeof(p), "%ssite-packages/%s/METADATA", repo_prefix, di);
	add(p, metadata(name, version, md, sizeof(md)));
	snprintf(rec, sizeof(rec), "%s/__init__.py,sha256=a,100\n%s/core.py,sha256=b,100\n"
		 "%s/METADATA,,\n%s/RECORD,,\n%s%s%s", module, module, di, di,
		 script ? "../bin/" : "", script ? script : "", script ? ",sha256=c,100\n" : "");
	snprintf(p, sizeof(p), "%ssite-packages/%s/RECORD", repo_prefix, di);
	add(p, rec);
	snprintf(p, sizeof(p), "%ssite-packages/__init__.py", repo_prefix);
	add(p, NULL);
	if (script) {
		snprintf(p, sizeof(p), "%sbin/%s", repo_prefix, script);
		add(p, NULL);
	}
}

#define RF "server.runfiles/"
#define FASTAPI RF "rules_python~~pip~pypi_311_fastapi/"
#define CORE RF "rules_python~~pip~pypi_311_pydantic_core_cp311_cp311_manylinux_2_17_x86_64_0badf00d/"
#define INTERP RF "rules_python~~python~python_3_11_x86_64-unknown-linux-gnu/"

/* The launcher's directory, as locate() makes the core scan it. */
static void build_bzlmod_tree(void)
{
	add("server", "#!/usr/bin/env python3\n");
	add(RF "MANIFEST", "_main/app/main.py /abs/main.py\n");
	add(RF "_repo_mapping", ",__main__,_main\n");
	add(RF "_main/app/main.py", NULL);
	add(RF "_main/app/server", NULL);
	add_interpreter(INTERP);
	add_pip_repo(FASTAPI, "fastapi", "0.110.0", "fastapi", NULL);
	add_pip_repo(CORE, "pydantic_core", "2.16.3", "pydantic_core", NULL);
	add_pip_repo(RF "rules_python~~pip~pypi_311_uvicorn/", "uvicorn", "0.29.0", "uvicorn",
		     "uvicorn");
	add(RF "rules_python~/python/runfiles/runfiles.py", NULL);
}

static void test_bzlmod_launcher_tree(void **state)
{
	char buf[2048];

	start("/ws/bazel-bin/app");
	build_bzlmod_tree();
	assert_int_equal(discover(), LK_OK);
	/* Interpreter first, packages by name, support, the app last. */
	assert_string_equal(units_summary(buf, sizeof(buf)),
			    "python3.11:interpreter:3.11.9,fastapi:package:0.110.0,"
			    "pydantic-core:package:2.16.3,uvicorn:package:0.29.0,"
			    "rules_python~:support:,server:app:");
	assert_string_equal(unit_of(INTERP "lib/python3.11/site-packages/pip-24.0.dist-info/METADATA"),
			    "python3.11");
	assert_string_equal(unit_of(INTERP "bin/python3"), "python3.11");
	/* The rest of a pip repo is its package's; so are scripts. */
	assert_string_equal(unit_of(FASTAPI "site-packages/__init__.py"), "fastapi");
	assert_string_equal(unit_of(RF "rules_python~~pip~pypi_311_uvicorn/bin/uvicorn"), "uvicorn");
	/* An architecture word in a pip repo's name does not make it an interpreter. */
	assert_string_equal(unit_of(CORE "site-packages/pydantic_core/core.py"), "pydantic-core");
	assert_string_equal(unit_of("server"), "server");
	assert_string_equal(unit_of(RF "MANIFEST"), "server");
	assert_string_equal(unit_of(RF "_repo_mapping"), "server");
	assert_string_equal(unit_of(RF "_main/app/main.py"), "server");
	assert_string_equal(fake_unit_named(&fh, "fastapi")->origin,
			    "dist-info rules_python~~pip~pypi_311_fastapi/site-packages/"
			    "fastapi-0.110.0.dist-info");
	assert_non_null(strstr(fake_unit_named(&fh, "python3.11")->origin,
			       "rules_python~~python~python_3_11_x86_64-unknown-linux-gnu"));
	assert_int_equal(fh.n_warnings, 0);
}

static void test_workspace_runfiles_dir(void **state)
{
	char buf[2048], md[256];

	/* The NAME.runfiles directory itself, WORKSPACE names, no _main. */
	start("/ws/bazel-bin/app/server.runfiles");
	add("MANIFEST", "x\n");
	add("my_ws/app/main.py", NULL);
	add("my_ws/app/server", NULL);
	add("bazel_tools/tools/python/x.py", NULL);
	add_interpreter("python_3_11_x86_64-unknown-linux-gnu/");
	add_pip_repo("pip_fastapi/", "fastapi", "0.110.0", "fastapi", NULL);
	/* rules_python before 0.10: dist-info at the repo's top. */
	add("pypi__idna/idna/__init__.py", NULL);
	add("pypi__idna/idna-3.6.dist-info/METADATA", metadata("idna", "3.6", md, sizeof(md)));
	assert_int_equal(discover(), LK_OK);
	assert_string_equal(units_summary(buf, sizeof(buf)),
			    "python3.11:interpreter:3.11.9,fastapi:package:0.110.0,"
			    "idna:package:3.6,bazel_tools:support:,server:app:");
	assert_string_equal(unit_of("my_ws/app/main.py"), "server");
	assert_string_equal(unit_of("pypi__idna/idna/__init__.py"), "idna");
}

static void test_main_repo_option(void **state)
{
	start("/x/server.runfiles");
	add("my_ws/app/main.py", NULL);
	add("other_ws/lib.py", NULL);
	add("MANIFEST", "x\n");
	fake_host_set_option(&fh, "main_repo", "other_ws");
	assert_int_equal(discover(), LK_WARN);	/* no interpreter */
	assert_string_equal(unit_of("other_ws/lib.py"), "server");
	assert_string_equal(unit_of("my_ws/app/main.py"), "my_ws");
	assert_int_equal(fake_unit_named(&fh, "my_ws")->kind, LK_UNIT_SUPPORT);
	assert_true(fake_host_logged(&fh, LK_LOG_WARN, "no hermetic interpreter"));

	fake_tree_release(&tree);
	start("/x/server.runfiles");
	add("my_ws/app/main.py", NULL);
	add("MANIFEST", "x\n");
	fake_host_set_option(&fh, "main_repo", "nope");
	assert_int_equal(discover(), LK_FAILED);
	assert_non_null(strstr(fh.error, "main_repo = nope"));
	assert_non_null(strstr(fh.error, "no such repository"));
}

static void test_interpreter_repo_option(void **state)
{
	char buf[2048];

	start("/ws/bazel-bin/app");
	build_bzlmod_tree();
	fake_host_set_option(&fh, "interpreter_repo", "none");
	assert_int_equal(discover(), LK_OK);
	/* Without the interpreter rule, its repo is split like any other:
	 * pip's dist-info becomes a package, the rest goes with it. */
	assert_null(fake_unit_named(&fh, "python3.11"));
	assert_string_equal(unit_of(INTERP "lib/python3.11/os.py"), "pip");

	fake_tree_release(&tree);
	start("/ws/bazel-bin/app");
	build_bzlmod_tree();
	add(RF "my_python/bin/python", NULL);
	fake_host_set_option(&fh, "interpreter_repo", "my_python");
	assert_int_equal(discover(), LK_WARN);	/* named, but not one by content */
	assert_string_equal(unit_of(RF "my_python/bin/python"), "python3");
	assert_int_equal(fake_unit_named(&fh, "python3")->kind, LK_UNIT_INTERPRETER);
	assert_string_equal(unit_of(INTERP "lib/python3.11/os.py"), "pip");
	(void)buf;

	fake_tree_release(&tree);
	start("/ws/bazel-bin/app");
	build_bzlmod_tree();
	fake_host_set_option(&fh, "interpreter_repo", "missing");
	assert_int_equal(discover(), LK_FAILED);
	assert_non_null(strstr(fh.error, "interpreter_repo = missing"));
}

static void add_legacy_tree(void)
{
	add("MANIFEST", "x\n");
	add("_main/app/main.py", NULL);
	add_interpreter("rules_python~~python~python_3_11/");
	add_pip_repo("rules_python~~pip~pypi_311_fastapi/", "fastapi", "0.110.0", "fastapi", NULL);
	add_interpreter("_main/external/rules_python~~python~python_3_11/");
	add_pip_repo("_main/external/rules_python~~pip~pypi_311_fastapi/", "fastapi", "0.110.0",
		     "fastapi", NULL);
	/* Not a repo: the app's own directory named external. */
	add("_main/external/notarepo/x.py", NULL);
}

static void test_legacy_external(void **state)
{
	char buf[2048];

	start("/x/app.runfiles");
	add_legacy_tree();
	assert_int_equal(discover(), LK_OK);
	assert_string_equal(units_summary(buf, sizeof(buf)),
			    "python3.11:interpreter:3.11.9,fastapi:package:0.110.0,app:app:");
	assert_string_equal(unit_of("_main/external/rules_python~~pip~pypi_311_fastapi/"
				    "site-packages/fastapi/core.py"), "fastapi");
	assert_string_equal(unit_of("_main/external/rules_python~~python~python_3_11/"
				    "lib/python3.11/os.py"), "python3.11");
	assert_string_equal(unit_of("_main/external/notarepo/x.py"), "app");
	assert_true(fake_host_logged(&fh, LK_LOG_INFO, "duplicate external repos"));

	fake_tree_release(&tree);
	start("/x/app.runfiles");
	add_legacy_tree();
	fake_host_set_option(&fh, "legacy_external", "separate");
	assert_int_equal(discover(), LK_OK);
	assert_string_equal(unit_of("_main/external/rules_python~~pip~pypi_311_fastapi/"
				    "site-packages/fastapi/core.py"), "legacy-external");
	assert_int_equal(fake_unit_named(&fh, "legacy-external")->kind, LK_UNIT_OTHER);
	assert_string_equal(unit_of("rules_python~~pip~pypi_311_fastapi/site-packages/fastapi/core.py"),
			    "fastapi");

	fake_tree_release(&tree);
	start("/x/app.runfiles");
	add_legacy_tree();
	fake_host_set_option(&fh, "legacy_external", "drop");
	assert_int_equal(discover(), LK_FAILED);
	assert_non_null(strstr(fh.error, "exclude = _main/external/"));

	fake_tree_release(&tree);
	start("/x/app.runfiles");
	add_legacy_tree();
	fake_host_set_option(&fh, "legacy_external", "maybe");
	assert_int_equal(discover(), LK_FAILED);
	assert_non_null(strstr(fh.error, "keep, separate, drop"));
}

static void test_drop_without_duplicates_is_fine(void **state)
{
	start("/x/app.runfiles");
	add("_main/app/main.py", NULL);
	add_interpreter("python_3_11/");
	fake_host_set_option(&fh, "legacy_external", "drop");
	assert_int_equal(discover(), LK_OK);
}

static void test_shared_site_packages_split_by_record(void **state)
{
	char buf[2048], md[256];

	/* One repo, several distributions: RECORD tells them apart. */
	start("/x/app.runfiles");
	add("_main/m.py", NULL);
	add_interpreter("python_3_11/");
	add("pip_deps/site-packages/a/__init__.py", NULL);
	add("pip_deps/site-packages/b/__init__.py", NULL);
	add("pip_deps/site-packages/c/__init__.py", NULL);
	add("pip_deps/site-packages/stray.py", NULL);
	add("pip_deps/site-packages/a-1.0.dist-info/METADATA", metadata("a", "1.0", md, sizeof(md)));
	add("pip_deps/site-packages/a-1.0.dist-info/RECORD",
	    "a/__init__.py,,\n\"a-1.0.dist-info/METADATA\",,\n");
	add("pip_deps/site-packages/b-2.0.dist-info/METADATA", metadata("B", "2.0", md, sizeof(md)));
	add("pip_deps/site-packages/b-2.0.dist-info/RECORD", "b/__init__.py,,\n../bin/b-tool,,\n");
	add("pip_deps/bin/b-tool", NULL);
	/* c has no RECORD: its files cannot be told apart. */
	add("pip_deps/site-packages/c-3.0.dist-info/METADATA", metadata("c", "3.0", md, sizeof(md)));
	assert_int_equal(discover(), LK_WARN);
	assert_string_equal(units_summary(buf, sizeof(buf)),
			    "python3.11:interpreter:3.11.9,a:package:1.0,b:package:2.0,"
			    "c:package:3.0,pip_deps:support:,app:app:");
	assert_string_equal(unit_of("pip_deps/site-packages/a/__init__.py"), "a");
	assert_string_equal(unit_of("pip_deps/site-packages/b/__init__.py"), "b");
	assert_string_equal(unit_of("pip_deps/bin/b-tool"), "b");
	assert_string_equal(unit_of("pip_deps/site-packages/c-3.0.dist-info/METADATA"), "c");
	assert_string_equal(unit_of("pip_deps/site-packages/c/__init__.py"), "pip_deps");
	assert_string_equal(unit_of("pip_deps/site-packages/stray.py"), "pip_deps");
	assert_true(fake_host_logged(&fh, LK_LOG_WARN,
				     "pip_deps/site-packages/c-3.0.dist-info/RECORD: missing"));
}

static void test_main_package_takes_leftovers(void **state)
{
	char md[256];

	/* The repo is named for a; its unlisted files go to a. */
	start("/x/app.runfiles");
	add("_main/m.py", NULL);
	add_interpreter("python_3_11/");
	add("pip_a/site-packages/a/__init__.py", NULL);
	add("pip_a/site-packages/stray.py", NULL);
	add("pip_a/site-packages/a-1.0.dist-info/METADATA", metadata("A", "1.0", md, sizeof(md)));
	add("pip_a/site-packages/a-1.0.dist-info/RECORD", "a/__init__.py,,\n");
	add("pip_a/site-packages/vendored-0.1.dist-info/METADATA",
	    metadata("vendored", "0.1", md, sizeof(md)));
	add("pip_a/site-packages/vendored-0.1.dist-info/RECORD", "vendored.py,,\n");
	add("pip_a/site-packages/vendored.py", NULL);
	assert_int_equal(discover(), LK_OK);
	assert_string_equal(unit_of("pip_a/site-packages/stray.py"), "a");
	assert_string_equal(unit_of("pip_a/site-packages/vendored.py"), "vendored");
	assert_null(fake_unit_named(&fh, "pip_a"));
}

static void test_bad_metadata_and_record(void **state)
{
	char rec[8192];

	start("/x/app.runfiles");
	add("_main/m.py", NULL);
	add_interpreter("python_3_11/");
	/* METADATA without a Name: named from the directory. */
	add("pip_x/site-packages/x/__init__.py", NULL);
	add("pip_x/site-packages/Some_Thing-1.2.dist-info/METADATA",
	    "Metadata-Version: 2.1\nVersion: 9\n\nbody\n");
	/* A hostile RECORD: outside paths, absolute paths, a missing file,
	 * a huge field; none is followed, the rest still counts. */
	memset(rec, 'z', 5000);
	snprintf(rec + 5000, sizeof(rec) - 5000,
		 ",,\n../../../etc/passwd,,\n/etc/shadow,,\n../../pip_x/site-packages/x/__init__.py,,\n"
		 "y/gone.py,,\ny/here.py,,\ny/__pycache__/here.cpython-311.pyc,,\n\"open");
	add("pip_y/site-packages/y/here.py", NULL);
	add("pip_y/site-packages/y-1.0.dist-info/METADATA", "Name: y\nVersion: 1.0\n");
	add("pip_y/site-packages/y-1.0.dist-info/RECORD", rec);
	/* No METADATA at all, and a name the directory cannot give. */
	add("pip_z/site-packages/weird.dist-info/RECORD", "");
	/* Too big to read: not read, named from the directory. */
	fake_tree_add(&tree, "pip_w/site-packages/w-2.0.dist-info/METADATA", LK_FILE_REGULAR,
		      (uint64_t)64 << 20, NULL);
	assert_int_equal(discover(), LK_WARN);
	assert_string_equal(unit_of("pip_x/site-packages/x/__init__.py"), "some-thing");
	assert_string_equal(fake_unit_named(&fh, "some-thing")->version, "1.2");
	assert_true(fake_host_logged(&fh, LK_LOG_WARN,
				     "Some_Thing-1.2.dist-info/METADATA:3: no Name header"));
	assert_string_equal(unit_of("pip_y/site-packages/y/here.py"), "y");
	assert_true(fake_host_logged(&fh, LK_LOG_WARN, "y-1.0.dist-info/RECORD:2: 3 path(s) refused"));
	assert_true(fake_host_logged(&fh, LK_LOG_WARN, "'../../../etc/passwd'"));
	assert_true(fake_host_logged(&fh, LK_LOG_WARN, "RECORD:1: 2 malformed row(s)"));
	assert_true(fake_host_logged(&fh, LK_LOG_WARN, "RECORD:5: lists 1 file(s) that are not in "
				     "the tree, first 'y/gone.py'"));
	assert_false(fake_host_logged(&fh, LK_LOG_WARN, "here.cpython-311.pyc"));
	assert_string_equal(unit_of("pip_z/site-packages/weird.dist-info/RECORD"), "z");
	assert_true(fake_host_logged(&fh, LK_LOG_WARN, "weird.dist-info/METADATA: missing"));
	assert_string_equal(unit_of("pip_w/site-packages/w-2.0.dist-info/METADATA"), "w");
	assert_true(fake_host_logged(&fh, LK_LOG_WARN, "over the 16777216 bytes"));
}

static void test_virtualenv(void **state)
{
	char buf[2048], md[256];

	start("/srv/venv");
	add("pyvenv.cfg", "home = /usr/bin\n");
	add_link("bin/python3");
	add("bin/activate", NULL);
	add("bin/uvicorn", NULL);
	add_link("lib64");
	add("lib/python3.11/site-packages/uvicorn/__init__.py", NULL);
	add("lib/python3.11/site-packages/uvicorn-0.29.0.dist-info/METADATA",
	    metadata("uvicorn", "0.29.0", md, sizeof(md)));
	add("lib/python3.11/site-packages/uvicorn-0.29.0.dist-info/RECORD",
	    "uvicorn/__init__.py,,\n../../../bin/uvicorn,,\n");
	add("lib/python3.11/site-packages/setuptools/__init__.py", NULL);
	/* Vendored metadata inside a package is not a distribution. */
	add("lib/python3.11/site-packages/setuptools/_vendor/packaging-23.1.dist-info/METADATA",
	    metadata("packaging", "23.1", md, sizeof(md)));
	add("lib/python3.11/site-packages/setuptools-65.5.0.dist-info/METADATA",
	    metadata("setuptools", "65.5.0", md, sizeof(md)));
	add("lib/python3.11/site-packages/setuptools-65.5.0.dist-info/RECORD",
	    "setuptools/__init__.py,,\n"
	    "setuptools/_vendor/packaging-23.1.dist-info/METADATA,,\n");
	assert_int_equal(discover(), LK_OK);
	assert_string_equal(units_summary(buf, sizeof(buf)),
			    "setuptools:package:65.5.0,uvicorn:package:0.29.0,venv:support:");
	assert_string_equal(unit_of("bin/uvicorn"), "uvicorn");
	assert_string_equal(unit_of("bin/activate"), "venv");
	assert_string_equal(unit_of("pyvenv.cfg"), "venv");
	assert_string_equal(unit_of("lib/python3.11/site-packages/setuptools/_vendor/"
				    "packaging-23.1.dist-info/METADATA"), "setuptools");
	assert_true(fake_host_logged(&fh, LK_LOG_INFO, "no interpreter"));

	/* A venv one level down (lib64 spelling) beside the app's code: the
	 * scripts' "../../../bin" lands in the venv, not at the root. */
	fake_tree_release(&tree);
	start("/srv/site");
	add("main.py", NULL);
	add("venv/pyvenv.cfg", NULL);
	add("venv/bin/uvicorn", NULL);
	add("venv/lib64/python3.11/site-packages/uvicorn/__init__.py", NULL);
	add("venv/lib64/python3.11/site-packages/uvicorn-0.29.0.dist-info/METADATA",
	    metadata("uvicorn", "0.29.0", md, sizeof(md)));
	add("venv/lib64/python3.11/site-packages/uvicorn-0.29.0.dist-info/RECORD",
	    "uvicorn/__init__.py,,\n../../../bin/uvicorn,,\n");
	add("venv/lib64/python3.11/site-packages/idna/__init__.py", NULL);
	add("venv/lib64/python3.11/site-packages/idna-3.6.dist-info/METADATA",
	    metadata("idna", "3.6", md, sizeof(md)));
	add("venv/lib64/python3.11/site-packages/idna-3.6.dist-info/RECORD",
	    "idna/__init__.py,,\n../../../../main.py,,\n");
	assert_int_equal(discover(), LK_OK);
	assert_string_equal(unit_of("venv/bin/uvicorn"), "uvicorn");
	assert_string_equal(unit_of("venv/lib64/python3.11/site-packages/idna/__init__.py"), "idna");
	/* ".." may climb to the scanned root, not above it. */
	assert_string_equal(unit_of("main.py"), "idna");
	assert_string_equal(unit_of("venv/pyvenv.cfg"), "site");
}

static void test_pip_target_and_standalone_python(void **state)
{
	char md[256];

	/* pip install --target with one distribution: all of it is that one. */
	start("/opt/deps");
	add("fastapi/__init__.py", NULL);
	add("fastapi-0.110.0.dist-info/METADATA", metadata("fastapi", "0.110.0", md, sizeof(md)));
	add("bin/fastapi", NULL);
	assert_int_equal(discover(), LK_OK);
	assert_int_equal(fh.n_units, 1);
	assert_string_equal(unit_of("bin/fastapi"), "fastapi");

	/* A Python install with packages in its site-packages: outside
	 * Bazel they are the app's dependencies, so RECORD splits them off. */
	fake_tree_release(&tree);
	start("/opt/python");
	add_interpreter("");
	add("lib/python3.11/site-packages/pip-24.0.dist-info/RECORD", "pip/__init__.py,,\n");
	add("lib/python3.11/site-packages/idna/__init__.py", NULL);
	add("lib/python3.11/site-packages/idna-3.6.dist-info/METADATA",
	    metadata("idna", "3.6", md, sizeof(md)));
	add("lib/python3.11/site-packages/idna-3.6.dist-info/RECORD", "idna/__init__.py,,\n");
	assert_int_equal(discover(), LK_OK);
	assert_string_equal(unit_of("lib/python3.11/os.py"), "python3.11");
	assert_string_equal(unit_of("lib/python3.11/site-packages/idna/__init__.py"), "idna");
	assert_string_equal(unit_of("lib/python3.11/site-packages/pip/__init__.py"), "pip");
	assert_int_equal(fake_unit_named(&fh, "python3.11")->kind, LK_UNIT_INTERPRETER);
}

static void test_several_runfiles_trees(void **state)
{
	char buf[2048];

	/* bazel-bin/app scanned as it is: two binaries, one extra file. */
	start("/ws/bazel-bin/app");
	add("a", NULL);
	add("b", NULL);
	add("libfoo.so", NULL);
	add("a.runfiles/_main/app/a", NULL);
	add("b.runfiles/_main/app/b", NULL);
	add_interpreter("a.runfiles/python_3_11/");
	add_interpreter("b.runfiles/python_3_11/");
	add_pip_repo("a.runfiles/pip_idna/", "idna", "3.6", "idna", NULL);
	add_pip_repo("b.runfiles/pip_idna/", "idna", "3.6", "idna", NULL);
	assert_int_equal(discover(), LK_OK);
	/* The same distribution in both is one unit. */
	assert_string_equal(units_summary(buf, sizeof(buf)),
			    "python3.11:interpreter:3.11.9,idna:package:3.6,"
			    "outside-runfiles:other:,app:app:");
	assert_string_equal(unit_of("b"), "app");
	assert_string_equal(unit_of("libfoo.so"), "outside-runfiles");
	assert_int_equal(fake_unit_named(&fh, "idna")->n_files, 10);
}

static void test_edge_trees(void **state)
{
	start("/x/empty");
	assert_int_equal(discover(), LK_WARN);
	assert_int_equal(fh.n_units, 0);

	/* A file at the top of a runfiles tree, an empty repo, an empty dir. */
	fake_tree_release(&tree);
	start("/x/app.runfiles");
	add("_main/m.py", NULL);
	fake_tree_add(&tree, "empty_repo", LK_FILE_DIR, 0, NULL);
	fake_tree_add(&tree, "pip_a/site-packages/a-1.0.dist-info", LK_FILE_DIR, 0, NULL);
	add("_repo_mapping", "");
	assert_int_equal(discover(), LK_WARN);	/* no interpreter */
	assert_string_equal(unit_of("empty_repo"), "app");
	assert_string_equal(unit_of("pip_a/site-packages/a-1.0.dist-info"), "a");
}

static void test_deterministic(void **state)
{
	char first[2048], second[2048];
	int32_t owners[64];

	start("/ws/bazel-bin/app");
	build_bzlmod_tree();
	assert_int_equal(discover(), LK_OK);
	units_summary(first, sizeof(first));
	assert_true(tree.n_files <= 64);
	memcpy(owners, fh.unit_of_file, tree.n_files * sizeof(*owners));
	fake_host_reset(&fh);
	assert_int_equal(fake_run_discovery(&fh, &plugin, &tree.tree,
					    (const char *const *)tree.contents), LK_OK);
	assert_string_equal(units_summary(second, sizeof(second)), first);
	assert_memory_equal(owners, fh.unit_of_file, tree.n_files * sizeof(*owners));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_bzlmod_launcher_tree, release_tree),
		cmocka_unit_test_teardown(test_workspace_runfiles_dir, release_tree),
		cmocka_unit_test_teardown(test_main_repo_option, release_tree),
		cmocka_unit_test_teardown(test_interpreter_repo_option, release_tree),
		cmocka_unit_test_teardown(test_legacy_external, release_tree),
		cmocka_unit_test_teardown(test_drop_without_duplicates_is_fine, release_tree),
		cmocka_unit_test_teardown(test_shared_site_packages_split_by_record, release_tree),
		cmocka_unit_test_teardown(test_main_package_takes_leftovers, release_tree),
		cmocka_unit_test_teardown(test_bad_metadata_and_record, release_tree),
		cmocka_unit_test_teardown(test_virtualenv, release_tree),
		cmocka_unit_test_teardown(test_pip_target_and_standalone_python, release_tree),
		cmocka_unit_test_teardown(test_several_runfiles_trees, release_tree),
		cmocka_unit_test_teardown(test_edge_trees, release_tree),
		cmocka_unit_test_teardown(test_deterministic, release_tree),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH/lk-discovery-python-runfiles.so\n", argv[0]);
		return 2;
	}
	plugin_path = argv[1];
	return cmocka_run_group_tests_name("python-runfiles", tests, setup, teardown);
}
