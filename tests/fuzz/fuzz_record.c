/*
 * fuzz_record.c - libFuzzer target for RECORD: every row the CSV reader
 * returns, each path resolved below a site-packages boundary with
 * pyrf_path_resolve.  Checks the promises of pyrf.h: the reader always
 * ends, rows are NUL-terminated, and a resolved path is never absolute and
 * never has a ".." component.
 */
#include "pyrf.h"

#include <stdlib.h>
#include <string.h>

static void check_resolved(const char *path)
{
	const char *p = path;

	if (path[0] == '/')
		abort();
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			abort();
		p += n;
		if (*p == '/')
			p++;
	}
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static struct pyrf_record_reader reader;
	struct pyrf_record_row row;
	char resolved[PYRF_PATH_MAX + 1];
	size_t rows = 0;
	int status;

	pyrf_record_init(&reader, (const char *)data, size);
	while ((status = pyrf_record_next(&reader, &row)) != PYRF_RECORD_END) {
		/* Every call consumes input, so there are never more rows than bytes. */
		if (++rows > size + 1)
			abort();
		if (status < 0) {
			if (pyrf_record_strerror(status) == NULL)
				abort();
			continue;
		}
		if (strlen(row.path) > PYRF_PATH_MAX)
			abort();
		if (pyrf_path_resolve("pkg/sub", row.path, resolved, sizeof(resolved)) ==
		    PYRF_PATH_OK)
			check_resolved(resolved);
		if (pyrf_path_resolve("", row.path, resolved, sizeof(resolved)) == PYRF_PATH_OK)
			check_resolved(resolved);
	}
	return 0;
}
