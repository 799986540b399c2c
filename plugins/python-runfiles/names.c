/*
 * names.c - Bazel repository names, PEP 503 names, dist-info directory names.
 *
 * Repository names only hint at what a repo holds: the interpreter and the
 * packages are recognised by content in discover.c.  The name still gives
 * a package's name when its METADATA is unusable, the Python version of an
 * interpreter, and the main repo.
 */
#include "pyrf.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Copies src[0..n) with a NUL; -1 when it does not fit. */
static int copy_part(char *dst, size_t dst_size, const char *src, size_t n)
{
	if (n >= dst_size) {
		dst[0] = '\0';
		return -1;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

static int all_digits(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return 0;
	return 1;
}

static int all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return 0;
	return n > 0;
}

int pyrf_pep503_normalise(const char *name, char *out, size_t out_size)
{
	size_t o = 0;
	int in_sep = 0;

	if (!name || !*name || out_size == 0)
		return -1;
	for (const char *p = name; *p; p++) {
		if (*p == '-' || *p == '_' || *p == '.') {
			in_sep = 1;
			continue;
		}
		if (in_sep && o > 0) {
			if (o + 1 >= out_size)
				goto out_clear;
			out[o++] = '-';
		}
		in_sep = 0;
		if (o + 1 >= out_size)
			goto out_clear;
		out[o++] = (char)tolower((unsigned char)*p);
	}
	/* A trailing separator is kept, as re.sub would keep it. */
	if (in_sep) {
		if (o + 1 >= out_size)
			goto out_clear;
		out[o++] = '-';
	}
	out[o] = '\0';
	return 0;

out_clear:
	out[0] = '\0';
	return -1;
}

int pyrf_dist_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > PYRF_NAME_MAX)
		return 0;
	if (!isalnum((unsigned char)name[0]) || !isalnum((unsigned char)name[len - 1]))
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c >= 0x80 || !(isalnum(c) || c == '.' || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

int pyrf_distinfo_dirname_parse(const char *dirname, char *name, size_t name_size,
				char *version, size_t version_size)
{
	static const char suffix[] = ".dist-info";
	size_t len = strlen(dirname), slen = sizeof(suffix) - 1;
	const char *dash;

	if (len <= slen || strcmp(dirname + len - slen, suffix) != 0)
		return -1;
	len -= slen;
	/* The wheel spec escapes '-' in both parts, so the first one splits. */
	dash = memchr(dirname, '-', len);
	if (!dash || dash == dirname || dash + 1 == dirname + len)
		return -1;
	if (!pyrf_dist_name_valid(dirname, (size_t)(dash - dirname)))
		return -1;
	if (copy_part(name, name_size, dirname, (size_t)(dash - dirname)) < 0 ||
	    copy_part(version, version_size, dash + 1, (size_t)(dirname + len - dash - 1)) < 0)
		return -1;
	return 0;
}

const char *pyrf_repo_style_name(enum pyrf_repo_style style)
{
	switch (style) {
	case PYRF_STYLE_WORKSPACE:
		return "workspace";
	case PYRF_STYLE_BAZEL6:
		return "bazel6";
	case PYRF_STYLE_BAZEL71:
		return "bazel7.1";
	case PYRF_STYLE_BAZEL8:
		return "bazel8";
	}
	return "unknown";
}

/* Python tags of wheel file names: py3, cp311, pp310, ... (PEP 425). */
static int is_python_tag(const char *s, size_t n)
{
	static const char *const impls[] = { "py", "cp", "pp", "ip", "jy", "graalpy" };

	for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
		size_t il = strlen(impls[i]);

		if (n > il && !strncmp(s, impls[i], il) && all_digits(s + il, n - il))
			return 1;
	}
	return 0;
}

/* ABI tags: none, abi3, cp311, cp37m, pypy310_pp73 starts with "pypy". */
static int is_abi_tag(const char *s, size_t n)
{
	size_t d = 2;

	if ((n == 4 && !strncmp(s, "none", 4)) || (n == 4 && !strncmp(s, "abi3", 4)))
		return 1;
	if (n > 4 && !strncmp(s, "pypy", 4))
		return 1;
	if (n < 3 || strncmp(s, "cp", 2) != 0)
		return 0;
	while (d < n && isdigit((unsigned char)s[d]))
		d++;
	if (d == 2)
		return 0;
	for (; d < n; d++)
		if (!strchr("dmu", s[d]))
			return 0;
	return 1;
}

struct token {
	const char *s;
	size_t n;
};

/* Splits s on '_' into at most max tokens; returns the count, or -1. */
static int split_tokens(const char *s, struct token *tok, int max)
{
	int n = 0;

	for (const char *p = s;; ) {
		const char *u = strchr(p, '_');
		size_t len = u ? (size_t)(u - p) : strlen(p);

		if (n == max)
			return -1;
		tok[n].s = p;
		tok[n].n = len;
		n++;
		if (!u)
			break;
		p = u + 1;
	}
	return n;
}

/*
 * The distribution part of a pip repo's local name, after the hub and the
 * Python version: "fastapi", or "argon2_cffi_bindings_cp36_abi3_manylinux_
 * 2_17_x86_64_b746dba8" where the wheel tags and the hash are cut off (an
 * architecture word there is part of the tags, not an interpreter).
 */
static void parse_pip_package(const char *rest, struct pyrf_repo_name *out)
{
	struct token tok[64];
	char joined[PYRF_NAME_MAX + 1];
	int n = split_tokens(rest, tok, 64), cut;
	size_t o = 0;

	if (n <= 0)
		return;
	cut = n;
	for (int i = 1; i < n; i++) {
		if (tok[i].n == 5 && !strncmp(tok[i].s, "sdist", 5)) {
			cut = i;
			break;
		}
		/* A Python tag followed by another ("py2_py3", from "py2.py3")
		 * or by an ABI tag ("cp311_cp311", "cp36_abi3", "py3_none"). */
		if (is_python_tag(tok[i].s, tok[i].n) && i + 1 < n &&
		    (is_python_tag(tok[i + 1].s, tok[i + 1].n) ||
		     is_abi_tag(tok[i + 1].s, tok[i + 1].n))) {
			cut = i;
			break;
		}
	}
	if (cut < n && n - 1 > cut && tok[n - 1].n >= 8 && tok[n - 1].n < sizeof(out->wheel_hash) &&
	    all_hex(tok[n - 1].s, tok[n - 1].n))
		copy_part(out->wheel_hash, sizeof(out->wheel_hash), tok[n - 1].s, tok[n - 1].n);
	for (int i = 0; i < cut; i++) {
		if (o + tok[i].n + 2 > sizeof(joined))
			return;
		if (i)
			joined[o++] = '_';
		memcpy(joined + o, tok[i].s, tok[i].n);
		o += tok[i].n;
	}
	joined[o] = '\0';
	if (!pyrf_dist_name_valid(joined, o))
		return;
	pyrf_pep503_normalise(joined, out->package, sizeof(out->package));
}

/* "311" -> "3.11", "39" -> "3.9". */
static void pip_python_version(const char *d, size_t n, struct pyrf_repo_name *out)
{
	if (n < 2 || n > 4 || d[0] != '3')
		return;
	snprintf(out->python_version, sizeof(out->python_version), "3.%.*s", (int)(n - 1), d + 1);
}

/* "<hub>_<NNN>_<package...>" as rules_python's pip extension and
 * pip_parse(python_version) write it; NNN has at least two digits, so
 * "python_3_11_..." is not mistaken for it. */
static int parse_hub_version_name(const char *local, struct pyrf_repo_name *out)
{
	const char *u1 = strchr(local, '_'), *u2;

	if (!u1 || u1 == local)
		return 0;
	u2 = strchr(u1 + 1, '_');
	if (!u2 || !all_digits(u1 + 1, (size_t)(u2 - u1 - 1)) || u2 - u1 - 1 < 2 || !u2[1])
		return 0;
	pip_python_version(u1 + 1, (size_t)(u2 - u1 - 1), out);
	parse_pip_package(u2 + 1, out);
	return 1;
}

/* python_3_11, python3_11, python_3_11_9_x86_64-unknown-linux-gnu, ... */
static int parse_python_name(const char *local, struct pyrf_repo_name *out)
{
	struct token tok[32];
	const char *p = local;
	int n, i = 0;

	if (strncmp(p, "python", 6) != 0)
		return 0;
	p += 6;
	if (*p == '_')
		p++;
	n = split_tokens(p, tok, 32);
	if (n < 2 || !(tok[0].n == 1 && tok[0].s[0] == '3') || !all_digits(tok[1].s, tok[1].n))
		return 0;
	i = 2;
	/* A third number is the patch level; "x86" or "aarch64" start the platform. */
	if (n > 2 && all_digits(tok[2].s, tok[2].n) && tok[2].n <= 3)
		i = 3;
	if (i == 3)
		snprintf(out->python_version, sizeof(out->python_version), "3.%.*s.%.*s",
			 (int)tok[1].n, tok[1].s, (int)tok[2].n, tok[2].s);
	else
		snprintf(out->python_version, sizeof(out->python_version), "3.%.*s",
			 (int)tok[1].n, tok[1].s);
	out->kind = PYRF_REPO_PYTHON;
	return 1;
}

static int extension_is_pip(const char *ext)
{
	return strstr(ext, "pip") || strstr(ext, "pypi");
}

static void classify_local(struct pyrf_repo_name *out)
{
	const char *local = out->local;

	if (!strcmp(local, "_main") || !strcmp(local, "__main__")) {
		out->kind = PYRF_REPO_MAIN;
		return;
	}
	/* Old pip_import: pypi__fastapi (also pypi__fastapi_0_110_0). */
	if (!strncmp(local, "pypi__", 6) && local[6]) {
		out->kind = PYRF_REPO_PIP;
		parse_pip_package(local + 6, out);
		return;
	}
	if (out->extension[0] && extension_is_pip(out->extension)) {
		out->kind = PYRF_REPO_PIP;
		/* The hub itself ("pypi") has no package part. */
		if (!parse_hub_version_name(local, out)) {
			const char *u = strchr(local, '_');

			if (u && u[1])
				parse_pip_package(u + 1, out);
		}
		return;
	}
	if (parse_python_name(local, out))
		return;
	if (!out->extension[0]) {
		/* pip_parse(name = "pip") writes pip_fastapi; a hub with a
		 * Python version writes pip_311_fastapi. */
		if (parse_hub_version_name(local, out) ||
		    !strncmp(local, "pip_", 4) || !strncmp(local, "pypi_", 5)) {
			out->kind = PYRF_REPO_PIP;
			if (!out->package[0])
				parse_pip_package(strchr(local, '_') + 1, out);
			return;
		}
	}
}

int pyrf_repo_name_parse(const char *name, struct pyrf_repo_name *out)
{
	const char *part[8];
	size_t part_len[8];
	int n = 0;
	char sep = 0;

	memset(out, 0, sizeof(*out));
	if (!name || !*name || strchr(name, '/'))
		return -1;
	if (strchr(name, '~'))
		sep = '~';
	else if (strchr(name, '+'))
		sep = '+';

	if (!sep) {
		out->style = PYRF_STYLE_WORKSPACE;
		if (copy_part(out->local, sizeof(out->local), name, strlen(name)) < 0)
			return -1;
		classify_local(out);
		return 0;
	}

	for (const char *p = name;; ) {
		const char *s = strchr(p, sep);
		size_t len = s ? (size_t)(s - p) : strlen(p);

		if (n == 8)
			return -1;
		part[n] = p;
		part_len[n] = len;
		n++;
		if (!s)
			break;
		p = s + 1;
	}

	if (sep == '+')
		out->style = PYRF_STYLE_BAZEL8;
	else if (n >= 2 && n != 3 && part_len[1] > 0)
		out->style = PYRF_STYLE_BAZEL6;
	else
		out->style = PYRF_STYLE_BAZEL71;

	if (copy_part(out->module, sizeof(out->module), part[0], part_len[0]) < 0)
		return -1;
	if (n == 2) {
		/* A module's own repo: rules_python~0.31.0, rules_python~, rules_python+. */
		if (copy_part(out->module_version, sizeof(out->module_version),
			      part[1], part_len[1]) < 0)
			return -1;
		return 0;
	}
	if (n >= 4 && copy_part(out->module_version, sizeof(out->module_version),
				part[1], part_len[1]) < 0)
		return -1;
	/* n == 3 is the root module's extension (_main~pip~x, +pip+x). */
	if (copy_part(out->extension, sizeof(out->extension),
		      part[n - 2], part_len[n - 2]) < 0 ||
	    copy_part(out->local, sizeof(out->local), part[n - 1], part_len[n - 1]) < 0)
		return -1;
	if (!out->module[0] && sep == '+')
		strcpy(out->module, "_main");
	classify_local(out);
	return 0;
}
