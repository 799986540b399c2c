/*
 * test_runfiles.c - the python-runfiles plugin's parsers: Bazel repository
 * names of every style, PEP 503 names, METADATA, RECORD, RECORD paths,
 * interpreter detection by content and the launcher split.
 *
 * Built from the plugin's parser sources directly (the module hides them).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pyrf.h"

/* ---- repository names ---- */

static void parse_ok(const char *name, struct pyrf_repo_name *rn)
{
	assert_int_equal(pyrf_repo_name_parse(name, rn), 0);
}

static void test_repo_workspace(void **state)
{
	struct pyrf_repo_name rn;

	parse_ok("pip_fastapi", &rn);
	assert_int_equal(rn.style, PYRF_STYLE_WORKSPACE);
	assert_int_equal(rn.kind, PYRF_REPO_PIP);
	assert_string_equal(rn.package, "fastapi");
	assert_string_equal(rn.local, "pip_fastapi");
	assert_string_equal(rn.module, "");

	parse_ok("pypi__fastapi", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_PIP);
	assert_string_equal(rn.package, "fastapi");

	parse_ok("pip_typing_extensions", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_PIP);
	assert_string_equal(rn.package, "typing-extensions");

	/* pip_parse with a Python version in the hub. */
	parse_ok("pip_311_pydantic_core", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_PIP);
	assert_string_equal(rn.package, "pydantic-core");
	assert_string_equal(rn.python_version, "3.11");

	parse_ok("python_3_11_x86_64-unknown-linux-gnu", &rn);
	assert_int_equal(rn.style, PYRF_STYLE_WORKSPACE);
	assert_int_equal(rn.kind, PYRF_REPO_PYTHON);
	assert_string_equal(rn.python_version, "3.11");

	parse_ok("python_3_11_9_x86_64-unknown-linux-gnu", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_PYTHON);
	assert_string_equal(rn.python_version, "3.11.9");

	/* Other toolchains: underscores only. */
	parse_ok("python_3_12_aarch64_unknown_linux_gnu", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_PYTHON);
	assert_string_equal(rn.python_version, "3.12");

	parse_ok("__main__", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_MAIN);
	parse_ok("bazel_tools", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_OTHER);
	parse_ok("my_workspace", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_OTHER);
	assert_string_equal(rn.package, "");
}

static void test_repo_bazel6(void **state)
{
	struct pyrf_repo_name rn;

	parse_ok("rules_python~0.31.0~pip~pypi_311_fastapi", &rn);
	assert_int_equal(rn.style, PYRF_STYLE_BAZEL6);
	assert_int_equal(rn.kind, PYRF_REPO_PIP);
	assert_string_equal(rn.module, "rules_python");
	assert_string_equal(rn.module_version, "0.31.0");
	assert_string_equal(rn.extension, "pip");
	assert_string_equal(rn.local, "pypi_311_fastapi");
	assert_string_equal(rn.package, "fastapi");
	assert_string_equal(rn.python_version, "3.11");

	parse_ok("rules_python~0.31.0~python~python_3_11_x86_64-unknown-linux-gnu", &rn);
	assert_int_equal(rn.style, PYRF_STYLE_BAZEL6);
	assert_int_equal(rn.kind, PYRF_REPO_PYTHON);
	assert_string_equal(rn.extension, "python");
	assert_string_equal(rn.python_version, "3.11");

	/* A module's own repo. */
	parse_ok("rules_python~0.31.0", &rn);
	assert_int_equal(rn.style, PYRF_STYLE_BAZEL6);
	assert_int_equal(rn.kind, PYRF_REPO_OTHER);
	assert_string_equal(rn.module, "rules_python");
	assert_string_equal(rn.module_version, "0.31.0");

	parse_ok("_main", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_MAIN);
}

static void test_repo_bazel71(void **state)
{
	struct pyrf_repo_name rn;

	parse_ok("rules_python~~pip~pypi_311_fastapi", &rn);
	assert_int_equal(rn.style, PYRF_STYLE_BAZEL71);
	assert_int_equal(rn.kind, PYRF_REPO_PIP);
	assert_string_equal(rn.module, "rules_python");
	assert_string_equal(rn.module_version, "");
	assert_string_equal(rn.package, "fastapi");

	parse_ok("rules_python~~python~python_3_11_x86_64-unknown-linux-gnu", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_PYTHON);

	parse_ok("rules_python~", &rn);
	assert_int_equal(rn.style, PYRF_STYLE_BAZEL71);
	assert_int_equal(rn.kind, PYRF_REPO_OTHER);

	/* The root module's own extension. */
	parse_ok("_main~pip~pypi_312_annotated_types", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_PIP);
	assert_string_equal(rn.module, "_main");
	assert_string_equal(rn.package, "annotated-types");
	assert_string_equal(rn.python_version, "3.12");

	/* The hub has no package part. */
	parse_ok("rules_python~~pip~pypi", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_PIP);
	assert_string_equal(rn.package, "");
}

static void test_repo_bazel8(void **state)
{
	struct pyrf_repo_name rn;

	parse_ok("rules_python++pip+pypi_311_fastapi", &rn);
	assert_int_equal(rn.style, PYRF_STYLE_BAZEL8);
	assert_int_equal(rn.kind, PYRF_REPO_PIP);
	assert_string_equal(rn.module, "rules_python");
	assert_string_equal(rn.extension, "pip");
	assert_string_equal(rn.package, "fastapi");

	parse_ok("rules_python++python+python_3_11_x86_64-unknown-linux-gnu", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_PYTHON);
	assert_string_equal(rn.python_version, "3.11");

	parse_ok("rules_python+", &rn);
	assert_int_equal(rn.style, PYRF_STYLE_BAZEL8);
	assert_int_equal(rn.kind, PYRF_REPO_OTHER);
	assert_string_equal(rn.module, "rules_python");

	parse_ok("+pip+pypi_313_sniffio", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_PIP);
	assert_string_equal(rn.module, "_main");
	assert_string_equal(rn.package, "sniffio");
}

static void test_repo_wheel_tagged(void **state)
{
	struct pyrf_repo_name rn;

	/* An architecture word in a pip repo's name is not an interpreter. */
	parse_ok("rules_python++pip+pypi_313_argon2_cffi_bindings_cp36_abi3_"
		 "manylinux_2_17_x86_64_b746dba8", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_PIP);
	assert_string_equal(rn.package, "argon2-cffi-bindings");
	assert_string_equal(rn.python_version, "3.13");
	assert_string_equal(rn.wheel_hash, "b746dba8");

	parse_ok("rules_python~~pip~pypi_311_pydantic_core_cp311_cp311_"
		 "manylinux_2_17_x86_64_0123abcd", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_PIP);
	assert_string_equal(rn.package, "pydantic-core");
	assert_string_equal(rn.wheel_hash, "0123abcd");

	parse_ok("rules_python++pip+pypi_311_typing_extensions_py3_none_any_deadbeef", &rn);
	assert_string_equal(rn.package, "typing-extensions");

	/* "py2.py3" became py2_py3; the package named "py" survives. */
	parse_ok("rules_python++pip+pypi_311_py_py2_py3_none_any_cafe0123", &rn);
	assert_string_equal(rn.package, "py");

	parse_ok("rules_python++pip+pypi_311_pyyaml_sdist_1234abcd", &rn);
	assert_string_equal(rn.package, "pyyaml");
	assert_string_equal(rn.wheel_hash, "1234abcd");

	/* WORKSPACE pip_parse of an arm64 wheel: still pip. */
	parse_ok("pip_uvloop_cp311_cp311_manylinux_2_17_aarch64", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_PIP);
	assert_string_equal(rn.package, "uvloop");
	assert_string_equal(rn.wheel_hash, "");

	/* A package whose name starts like an interpreter's. */
	parse_ok("rules_python~~pip~pypi_311_python_dateutil", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_PIP);
	assert_string_equal(rn.package, "python-dateutil");
	parse_ok("pip_python_multipart", &rn);
	assert_int_equal(rn.kind, PYRF_REPO_PIP);
	assert_string_equal(rn.package, "python-multipart");
}

static void test_repo_bad(void **state)
{
	struct pyrf_repo_name rn;
	char huge[2048];

	assert_int_equal(pyrf_repo_name_parse("", &rn), -1);
	assert_int_equal(rn.kind, PYRF_REPO_OTHER);
	assert_int_equal(pyrf_repo_name_parse("a/b", &rn), -1);
	assert_int_equal(pyrf_repo_name_parse(NULL, &rn), -1);
	memset(huge, 'a', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	assert_int_equal(pyrf_repo_name_parse(huge, &rn), -1);
	assert_int_equal(rn.kind, PYRF_REPO_OTHER);
	/* Separators only, too many parts. */
	assert_int_equal(pyrf_repo_name_parse("~~~", &rn), 0);
	assert_int_equal(rn.kind, PYRF_REPO_OTHER);
	assert_int_equal(pyrf_repo_name_parse("a~b~c~d~e~f~g~h~i", &rn), -1);
	assert_string_equal(pyrf_repo_style_name(PYRF_STYLE_BAZEL8), "bazel8");
}

/* ---- PEP 503 and dist-info names ---- */

static void test_pep503(void **state)
{
	char out[64];

	assert_int_equal(pyrf_pep503_normalise("Foo.Bar_baz--Qux", out, sizeof(out)), 0);
	assert_string_equal(out, "foo-bar-baz-qux");
	assert_int_equal(pyrf_pep503_normalise("typing_extensions", out, sizeof(out)), 0);
	assert_string_equal(out, "typing-extensions");
	assert_int_equal(pyrf_pep503_normalise("PyYAML", out, sizeof(out)), 0);
	assert_string_equal(out, "pyyaml");
	assert_int_equal(pyrf_pep503_normalise("zope.interface", out, sizeof(out)), 0);
	assert_string_equal(out, "zope-interface");
	assert_int_equal(pyrf_pep503_normalise("a-_.b", out, sizeof(out)), 0);
	assert_string_equal(out, "a-b");
	assert_int_equal(pyrf_pep503_normalise("", out, sizeof(out)), -1);
	assert_int_equal(pyrf_pep503_normalise("abcdef", out, 4), -1);
	assert_string_equal(out, "");
	assert_int_equal(pyrf_pep503_normalise("abc", out, 4), 0);
	assert_string_equal(out, "abc");

	assert_true(pyrf_dist_name_valid("pydantic_core", 13));
	assert_true(pyrf_dist_name_valid("a", 1));
	assert_false(pyrf_dist_name_valid("-a", 2));
	assert_false(pyrf_dist_name_valid("a b", 3));
	assert_false(pyrf_dist_name_valid("caf\xc3\xa9", 5));
	assert_false(pyrf_dist_name_valid("", 0));
}

static void test_distinfo_dirname(void **state)
{
	char name[64], version[32];

	assert_int_equal(pyrf_distinfo_dirname_parse("fastapi-0.110.0.dist-info", name,
						     sizeof(name), version, sizeof(version)), 0);
	assert_string_equal(name, "fastapi");
	assert_string_equal(version, "0.110.0");
	assert_int_equal(pyrf_distinfo_dirname_parse("typing_extensions-4.10.0.dist-info", name,
						     sizeof(name), version, sizeof(version)), 0);
	assert_string_equal(name, "typing_extensions");
	assert_int_equal(pyrf_distinfo_dirname_parse("fastapi.dist-info", name, sizeof(name),
						     version, sizeof(version)), -1);
	assert_int_equal(pyrf_distinfo_dirname_parse("-1.0.dist-info", name, sizeof(name),
						     version, sizeof(version)), -1);
	assert_int_equal(pyrf_distinfo_dirname_parse("fastapi-.dist-info", name, sizeof(name),
						     version, sizeof(version)), -1);
	assert_int_equal(pyrf_distinfo_dirname_parse("fastapi-1.0.egg-info", name, sizeof(name),
						     version, sizeof(version)), -1);
	assert_int_equal(pyrf_distinfo_dirname_parse(".dist-info", name, sizeof(name),
						     version, sizeof(version)), -1);
	assert_int_equal(pyrf_distinfo_dirname_parse("fastapi-0.110.0.dist-info", name, 4,
						     version, sizeof(version)), -1);
}

/* ---- METADATA ---- */

static int meta(const char *text, struct pyrf_metadata *md)
{
	return pyrf_metadata_parse(text, strlen(text), md);
}

static void test_metadata_basic(void **state)
{
	struct pyrf_metadata md;

	assert_int_equal(meta("Metadata-Version: 2.1\nName: fastapi\nVersion: 0.110.0\n"
			      "Summary: FastAPI framework\n\nLong description\nName: nope\n",
			      &md), PYRF_META_OK);
	assert_string_equal(md.name, "fastapi");
	assert_string_equal(md.version, "0.110.0");

	/* CRLF, lower-case field names, spaces around the value. */
	assert_int_equal(meta("name:   Typing_Extensions  \r\nVERSION:\t4.10.0\r\n", &md),
			 PYRF_META_OK);
	assert_string_equal(md.name, "Typing_Extensions");
	assert_string_equal(md.version, "4.10.0");

	/* The first of a repeated field wins. */
	assert_int_equal(meta("Name: a\nName: b\nVersion: 1\n", &md), PYRF_META_OK);
	assert_string_equal(md.name, "a");

	/* No trailing newline at all. */
	assert_int_equal(meta("Name: x\nVersion: 2", &md), PYRF_META_OK);
	assert_string_equal(md.version, "2");
}

static void test_metadata_folded(void **state)
{
	struct pyrf_metadata md;

	/* A folded Summary between Name and Version does not confuse. */
	assert_int_equal(meta("Name: starlette\nSummary: The little ASGI\n  library that\n"
			      "\tshines.\nVersion: 0.36.3\n", &md), PYRF_META_OK);
	assert_string_equal(md.name, "starlette");
	assert_string_equal(md.version, "0.36.3");

	/* A folded Name is unfolded. */
	assert_int_equal(meta("Name:\n  idna\nVersion:\n 3.6\n", &md), PYRF_META_OK);
	assert_string_equal(md.name, "idna");
	assert_string_equal(md.version, "3.6");

	/* Folded into two words: no longer a valid name. */
	assert_int_equal(meta("Name: py\n yaml\nVersion: 6\n", &md), PYRF_META_BAD_NAME);
	assert_int_equal(md.line, 1);
}

static void test_metadata_bad(void **state)
{
	struct pyrf_metadata md;

	assert_int_equal(meta("Version: 1.0\nSummary: x\n", &md), PYRF_META_NO_NAME);
	assert_int_equal(md.line, 3);
	assert_int_equal(meta("Name: x\n", &md), PYRF_META_NO_VERSION);
	assert_int_equal(meta("", &md), PYRF_META_NO_NAME);
	assert_int_equal(meta("\n\nName: late\nVersion: 1\n", &md), PYRF_META_NO_NAME);
	/* A line that is not a header ends the headers. */
	assert_int_equal(meta("this is not metadata\nName: x\nVersion: 1\n", &md),
			 PYRF_META_NO_NAME);
	assert_int_equal(meta("Name: \nVersion: 1\n", &md), PYRF_META_BAD_NAME);
	assert_int_equal(meta("Name: bad name!\nVersion: 1\n", &md), PYRF_META_BAD_NAME);
	assert_string_equal(md.name, "");
	assert_int_equal(meta("Name: x\nVersion: 1 .0\n", &md), PYRF_META_BAD_VERSION);
	assert_int_equal(md.line, 2);
	assert_int_equal(pyrf_metadata_parse("Name: x\0\nVersion: 1\n", 20, &md),
			 PYRF_META_BINARY);
	assert_int_equal(md.line, 1);
	assert_non_null(strstr(pyrf_metadata_strerror(PYRF_META_NO_NAME), "Name"));
}

static void test_metadata_huge(void **state)
{
	struct pyrf_metadata md;
	size_t n = 4u << 20;
	char *buf = malloc(n + 128);
	int len;

	assert_non_null(buf);
	/* A huge header line before Name, then a huge body line. */
	len = sprintf(buf, "Summary: ");
	memset(buf + len, 'x', n / 2);
	len += (int)(n / 2);
	len += sprintf(buf + len, "\nName: big\nVersion: 1.0\n\n");
	memset(buf + len, 'y', n / 2 - 64);
	len += (int)(n / 2 - 64);
	assert_int_equal(pyrf_metadata_parse(buf, (size_t)len, &md), PYRF_META_OK);
	assert_string_equal(md.name, "big");

	/* A huge Name is refused, not truncated. */
	len = sprintf(buf, "Name: ");
	memset(buf + len, 'n', n);
	len += (int)n;
	len += sprintf(buf + len, "\nVersion: 1\n");
	assert_int_equal(pyrf_metadata_parse(buf, (size_t)len, &md), PYRF_META_BAD_NAME);
	assert_int_equal(md.line, 1);

	/* A huge Version too. */
	len = sprintf(buf, "Name: a\nVersion: ");
	memset(buf + len, '1', 1000);
	len += 1000;
	assert_int_equal(pyrf_metadata_parse(buf, (size_t)len, &md), PYRF_META_BAD_VERSION);
	free(buf);
}

static void test_patchlevel(void **state)
{
	const char *h = "/* Python version identification */\n"
			"#define PY_MAJOR_VERSION 3\n"
			"#define PY_VERSION_HEX 0x030b09f0\n"
			"#  define   PY_VERSION      \"3.11.9\"\n";
	char out[16];

	assert_int_equal(pyrf_patchlevel_version(h, strlen(h), out, sizeof(out)), 0);
	assert_string_equal(out, "3.11.9");
	assert_int_equal(pyrf_patchlevel_version("#define PY_VERSION 3\n", 21, out,
						 sizeof(out)), -1);
	assert_int_equal(pyrf_patchlevel_version("#define PY_VERSION \"3.11", 24, out,
						 sizeof(out)), -1);
	assert_int_equal(pyrf_patchlevel_version(h, strlen(h), out, 4), -1);
	assert_int_equal(pyrf_patchlevel_version("", 0, out, sizeof(out)), -1);
}

/* ---- RECORD ---- */

static void test_record_rows(void **state)
{
	const char *text =
		"fastapi/__init__.py,sha256=abc,1081\r\n"
		"\n"
		"\"fastapi/a,b.py\",sha256=def,12\n"
		"\"say \"\"hi\"\".py\",,\n"
		"fastapi-0.110.0.dist-info/RECORD,,\n"
		"only_path\n"
		"\"multi\nline\",x,1,extra,fields\n"
		"last,sha256=z,3";
	struct pyrf_record_reader r;
	struct pyrf_record_row row;

	pyrf_record_init(&r, text, strlen(text));
	assert_int_equal(pyrf_record_next(&r, &row), PYRF_RECORD_ROW);
	assert_string_equal(row.path, "fastapi/__init__.py");
	assert_string_equal(row.hash, "sha256=abc");
	assert_string_equal(row.size, "1081");
	assert_int_equal(row.n_fields, 3);
	assert_int_equal(row.line, 1);

	assert_int_equal(pyrf_record_next(&r, &row), PYRF_RECORD_ROW);
	assert_string_equal(row.path, "fastapi/a,b.py");
	assert_string_equal(row.size, "12");
	assert_int_equal(row.line, 3);

	assert_int_equal(pyrf_record_next(&r, &row), PYRF_RECORD_ROW);
	assert_string_equal(row.path, "say \"hi\".py");
	assert_string_equal(row.hash, "");

	assert_int_equal(pyrf_record_next(&r, &row), PYRF_RECORD_ROW);
	assert_string_equal(row.path, "fastapi-0.110.0.dist-info/RECORD");
	assert_string_equal(row.hash, "");
	assert_string_equal(row.size, "");

	assert_int_equal(pyrf_record_next(&r, &row), PYRF_RECORD_ROW);
	assert_string_equal(row.path, "only_path");
	assert_int_equal(row.n_fields, 1);
	assert_string_equal(row.hash, "");

	assert_int_equal(pyrf_record_next(&r, &row), PYRF_RECORD_ROW);
	assert_string_equal(row.path, "multi\nline");
	assert_int_equal(row.n_fields, 5);
	assert_string_equal(row.size, "1");
	assert_int_equal(row.line, 7);

	assert_int_equal(pyrf_record_next(&r, &row), PYRF_RECORD_ROW);
	assert_string_equal(row.path, "last");
	assert_int_equal(row.line, 9);
	assert_int_equal(pyrf_record_next(&r, &row), PYRF_RECORD_END);
	assert_int_equal(pyrf_record_next(&r, &row), PYRF_RECORD_END);
}

static void test_record_bad_rows(void **state)
{
	struct pyrf_record_reader r;
	struct pyrf_record_row row;
	/* After the huge first field: a good row, a row with a NUL, a good
	 * row, and a quote never closed that swallows the rest. */
	static const char tail[] = ",h,1\ngood,h,2\n\"x\0y\",h,3\nafter,h,4\n"
				   "\"open,h,5\nlost,h,6\n";
	size_t n = PYRF_PATH_MAX + 100, len;
	char *buf = malloc(n + sizeof(tail));

	assert_non_null(buf);
	memset(buf, 'a', n);
	memcpy(buf + n, tail, sizeof(tail) - 1);
	len = n + sizeof(tail) - 1;
	pyrf_record_init(&r, buf, len);
	assert_int_equal(pyrf_record_next(&r, &row), PYRF_RECORD_TOO_LONG);
	assert_int_equal(row.line, 1);
	assert_int_equal(pyrf_record_next(&r, &row), PYRF_RECORD_ROW);
	assert_string_equal(row.path, "good");
	assert_int_equal(row.line, 2);
	assert_int_equal(pyrf_record_next(&r, &row), PYRF_RECORD_NUL);
	assert_int_equal(row.line, 3);
	assert_int_equal(pyrf_record_next(&r, &row), PYRF_RECORD_ROW);
	assert_string_equal(row.path, "after");
	assert_int_equal(pyrf_record_next(&r, &row), PYRF_RECORD_UNTERMINATED);
	assert_int_equal(row.line, 5);
	assert_int_equal(pyrf_record_next(&r, &row), PYRF_RECORD_END);
	assert_non_null(strstr(pyrf_record_strerror(PYRF_RECORD_TOO_LONG), "4096"));
	free(buf);

	/* Empty input, and blank lines only. */
	pyrf_record_init(&r, "", 0);
	assert_int_equal(pyrf_record_next(&r, &row), PYRF_RECORD_END);
	pyrf_record_init(&r, "\n\r\n\n", 4);
	assert_int_equal(pyrf_record_next(&r, &row), PYRF_RECORD_END);
}

static void test_record_paths(void **state)
{
	char out[PYRF_PATH_MAX + 1];

	assert_int_equal(pyrf_path_resolve("site-packages", "fastapi/__init__.py", out,
					   sizeof(out)), PYRF_PATH_OK);
	assert_string_equal(out, "site-packages/fastapi/__init__.py");
	/* Scripts of a wheel's .data in a rules_python repo and in a venv. */
	assert_int_equal(pyrf_path_resolve("site-packages", "../bin/uvicorn", out, sizeof(out)),
			 PYRF_PATH_OK);
	assert_string_equal(out, "bin/uvicorn");
	assert_int_equal(pyrf_path_resolve("lib/python3.11/site-packages",
					   "../../../bin/uvicorn", out, sizeof(out)),
			 PYRF_PATH_OK);
	assert_string_equal(out, "bin/uvicorn");
	assert_int_equal(pyrf_path_resolve("", "./a//b/./c", out, sizeof(out)), PYRF_PATH_OK);
	assert_string_equal(out, "a/b/c");

	/* Out of the repo: refused, and nothing is written. */
	assert_int_equal(pyrf_path_resolve("site-packages", "../../etc/passwd", out,
					   sizeof(out)), PYRF_PATH_ESCAPES);
	assert_string_equal(out, "");
	assert_int_equal(pyrf_path_resolve("lib/python3.11/site-packages",
					   "../../../../x", out, sizeof(out)), PYRF_PATH_ESCAPES);
	assert_int_equal(pyrf_path_resolve("", "..", out, sizeof(out)), PYRF_PATH_ESCAPES);
	assert_int_equal(pyrf_path_resolve("a", "b/../../../c", out, sizeof(out)),
			 PYRF_PATH_ESCAPES);
	assert_int_equal(pyrf_path_resolve("site-packages", "/etc/passwd", out, sizeof(out)),
			 PYRF_PATH_ABSOLUTE);
	assert_int_equal(pyrf_path_resolve("site-packages", "C:/Windows/x", out, sizeof(out)),
			 PYRF_PATH_ABSOLUTE);
	assert_int_equal(pyrf_path_resolve("site-packages", "\\\\server\\x", out, sizeof(out)),
			 PYRF_PATH_ABSOLUTE);
	assert_int_equal(pyrf_path_resolve("site-packages", "", out, sizeof(out)),
			 PYRF_PATH_EMPTY);
	assert_int_equal(pyrf_path_resolve("", "a/..", out, sizeof(out)), PYRF_PATH_EMPTY);
	assert_int_equal(pyrf_path_resolve("site-packages", "abcdefgh", out, 12),
			 PYRF_PATH_TOO_LONG);
	assert_string_equal(out, "");
	assert_non_null(strstr(pyrf_path_strerror(PYRF_PATH_ESCAPES), ".."));
}

/* ---- interpreter detection ---- */

static struct lk_tree make_tree(struct lk_file *files, size_t n)
{
	struct lk_tree t = { sizeof(struct lk_tree), "/t", n, files };

	return t;
}

static void test_interpreter_detect(void **state)
{
	struct lk_file interp[] = {
		{ "py/bin/python3", "python3.11", 0, 0777, LK_FILE_SYMLINK },
		{ "py/bin/python3.11", NULL, 10, 0755, LK_FILE_REGULAR },
		{ "py/lib/libpython3.11.so.1.0", NULL, 10, 0755, LK_FILE_REGULAR },
		{ "py/lib/python3.11/os.py", NULL, 10, 0644, LK_FILE_REGULAR },
		{ "py/lib/python3.11/site-packages/pip/__init__.py", NULL, 1, 0644, LK_FILE_REGULAR },
	};
	struct lk_file binary_only[] = {
		{ "r/bin/python3", NULL, 10, 0755, LK_FILE_REGULAR },
		{ "r/lib/python3.11/site-packages/x.py", NULL, 10, 0644, LK_FILE_REGULAR },
	};
	/* A pip repo named for an architecture, with an os.py of its own. */
	struct lk_file pip_repo[] = {
		{ "p/bin/python3-config", NULL, 10, 0755, LK_FILE_REGULAR },
		{ "p/site-packages/lib/python3.11/os.py", NULL, 10, 0644, LK_FILE_REGULAR },
		{ "p/site-packages/os.py", NULL, 10, 0644, LK_FILE_REGULAR },
	};
	struct lk_file os_is_dir[] = {
		{ "bin/python3.12", NULL, 10, 0755, LK_FILE_REGULAR },
		{ "lib/python3.12/os.py", NULL, 0, 0755, LK_FILE_DIR },
	};
	struct lk_file plain[] = {
		{ "bin/python3.12", NULL, 10, 0755, LK_FILE_REGULAR },
		{ "lib/python3.12/os.py", NULL, 10, 0644, LK_FILE_REGULAR },
	};
	struct lk_tree t;
	char v[16];

	t = make_tree(interp, 5);
	assert_int_equal(pyrf_interpreter_detect(&t, 0, 5, 3, v, sizeof(v)), 1);
	assert_string_equal(v, "3.11");
	/* Only the range counts. */
	assert_int_equal(pyrf_interpreter_detect(&t, 0, 3, 3, v, sizeof(v)), 0);
	assert_int_equal(pyrf_interpreter_detect(&t, 0, 5, 3, NULL, 0), 1);
	t = make_tree(binary_only, 2);
	assert_int_equal(pyrf_interpreter_detect(&t, 0, 2, 2, v, sizeof(v)), 0);
	t = make_tree(pip_repo, 3);
	assert_int_equal(pyrf_interpreter_detect(&t, 0, 3, 2, v, sizeof(v)), 0);
	t = make_tree(os_is_dir, 2);
	assert_int_equal(pyrf_interpreter_detect(&t, 0, 2, 0, v, sizeof(v)), 0);
	t = make_tree(plain, 2);
	assert_int_equal(pyrf_interpreter_detect(&t, 0, 2, 0, v, sizeof(v)), 1);
	assert_string_equal(v, "3.12");
	/* An end past the tree is clamped. */
	assert_int_equal(pyrf_interpreter_detect(&t, 0, 99, 0, v, sizeof(v)), 1);
}

/* ---- the launcher ---- */

static void test_launcher_split(void **state)
{
	char dir[] = "/tmp/test_runfiles.XXXXXX";
	char path[PATH_MAX], d[PATH_MAX], b[256], cwd[PATH_MAX];
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/server", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0755);
	assert_true(fd >= 0);
	close(fd);
	/* No runfiles beside it yet: not a launcher. */
	assert_int_equal(pyrf_launcher_split(path, d, sizeof(d), b, sizeof(b)), 0);
	snprintf(path, sizeof(path), "%s/server.runfiles", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/server", dir);
	assert_int_equal(pyrf_launcher_split(path, d, sizeof(d), b, sizeof(b)), 1);
	assert_string_equal(d, dir);
	assert_string_equal(b, "server");
	/* The runfiles directory itself, and the launcher's directory: as they are. */
	snprintf(path, sizeof(path), "%s/server.runfiles", dir);
	assert_int_equal(pyrf_launcher_split(path, d, sizeof(d), b, sizeof(b)), 0);
	assert_int_equal(pyrf_launcher_split(dir, d, sizeof(d), b, sizeof(b)), 0);
	assert_int_equal(pyrf_launcher_split("/nonexistent/x", d, sizeof(d), b, sizeof(b)), 0);
	assert_int_equal(pyrf_launcher_split("", d, sizeof(d), b, sizeof(b)), 0);
	/* Too small for the directory. */
	snprintf(path, sizeof(path), "%s/server", dir);
	assert_int_equal(pyrf_launcher_split(path, d, 4, b, sizeof(b)), -1);
	/* A bare name in the current directory. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(pyrf_launcher_split("server", d, sizeof(d), b, sizeof(b)), 1);
	assert_string_equal(d, ".");
	assert_string_equal(b, "server");
	assert_int_equal(chdir(cwd), 0);

	snprintf(path, sizeof(path), "%s/server.runfiles", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/server", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repo_workspace),
		cmocka_unit_test(test_repo_bazel6),
		cmocka_unit_test(test_repo_bazel71),
		cmocka_unit_test(test_repo_bazel8),
		cmocka_unit_test(test_repo_wheel_tagged),
		cmocka_unit_test(test_repo_bad),
		cmocka_unit_test(test_pep503),
		cmocka_unit_test(test_distinfo_dirname),
		cmocka_unit_test(test_metadata_basic),
		cmocka_unit_test(test_metadata_folded),
		cmocka_unit_test(test_metadata_bad),
		cmocka_unit_test(test_metadata_huge),
		cmocka_unit_test(test_patchlevel),
		cmocka_unit_test(test_record_rows),
		cmocka_unit_test(test_record_bad_rows),
		cmocka_unit_test(test_record_paths),
		cmocka_unit_test(test_interpreter_detect),
		cmocka_unit_test(test_launcher_split),
	};

	return cmocka_run_group_tests_name("runfiles", tests, NULL, NULL);
}
