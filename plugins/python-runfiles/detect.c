/*
 * detect.c - what a directory holds, judged by its content: a hermetic
 * interpreter, or a Bazel launcher with its runfiles beside it.
 *
 * rules_py's users were bitten by a name regex that took pip repos with
 * "x86_64" in their names for the interpreter; here only the files count.
 */
#include "pyrf.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* "python3" or "python3.N" (N digits); the rest of a bin/ name. */
static int is_python3_binary(const char *name)
{
	if (strncmp(name, "python3", 7) != 0)
		return 0;
	name += 7;
	if (!*name)
		return 1;
	if (*name++ != '.' || !*name)
		return 0;
	for (; *name; name++)
		if (!isdigit((unsigned char)*name))
			return 0;
	return 1;
}

/* "lib/python3.N/os.py": writes "3.N" to version. */
static int is_stdlib_os(const char *path, char *version, size_t version_size)
{
	const char *p = path, *minor;
	size_t n;

	if (strncmp(p, "lib/python3.", 12) != 0)
		return 0;
	minor = p + 12;
	for (n = 0; isdigit((unsigned char)minor[n]); n++)
		;
	if (n == 0 || n > 3 || strcmp(minor + n, "/os.py") != 0)
		return 0;
	if (version && version_size > 0)
		snprintf(version, version_size, "3.%.*s", (int)n, minor);
	return 1;
}

int pyrf_interpreter_detect(const struct lk_tree *tree, size_t begin, size_t end,
			    size_t offset, char *version, size_t version_size)
{
	char found_version[16] = "";
	int has_binary = 0, has_stdlib = 0;

	if (end > tree->n_files)
		end = tree->n_files;
	for (size_t i = begin; i < end; i++) {
		const struct lk_file *f = &tree->files[i];
		const char *rel;

		if (strlen(f->path) <= offset)
			continue;	/* the repo directory itself */
		rel = f->path + offset;
		if (!strncmp(rel, "bin/", 4) && !strchr(rel + 4, '/') &&
		    f->type != LK_FILE_DIR && is_python3_binary(rel + 4))
			has_binary = 1;
		else if (f->type == LK_FILE_REGULAR && !has_stdlib &&
			 is_stdlib_os(rel, found_version, sizeof(found_version)))
			has_stdlib = 1;
		if (has_binary && has_stdlib)
			break;
	}
	if (!has_binary || !has_stdlib)
		return 0;
	if (version && version_size > 0)
		snprintf(version, version_size, "%s", found_version);
	return 1;
}

int pyrf_launcher_split(const char *root, char *dir, size_t dir_size,
			char *base, size_t base_size)
{
	char path[4096 + 16];
	const char *slash;
	struct stat st;
	size_t len;

	if (!root)
		return 0;
	len = strlen(root);
	while (len > 1 && root[len - 1] == '/')
		len--;
	if (len == 0 || len >= 4096)
		return len == 0 ? 0 : -1;
	if (stat(root, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	snprintf(path, sizeof(path), "%.*s.runfiles", (int)len, root);
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
		return 0;

	slash = NULL;
	for (size_t i = len; i > 0; i--) {
		if (root[i - 1] == '/') {
			slash = root + i - 1;
			break;
		}
	}
	if (!slash) {
		if (dir_size < 2 || len >= base_size)
			return -1;
		strcpy(dir, ".");
		memcpy(base, root, len);
		base[len] = '\0';
		return 1;
	}
	/* "/app" keeps "/" as its directory. */
	size_t dlen = slash == root ? 1 : (size_t)(slash - root);
	size_t blen = len - (size_t)(slash - root) - 1;

	if (dlen >= dir_size || blen >= base_size || blen == 0)
		return -1;
	memcpy(dir, root, dlen);
	dir[dlen] = '\0';
	memcpy(base, slash + 1, blen);
	base[blen] = '\0';
	return 1;
}
