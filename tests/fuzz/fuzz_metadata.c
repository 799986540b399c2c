/*
 * fuzz_metadata.c - libFuzzer target for the python-runfiles header
 * parsers: METADATA (pyrf_metadata_parse), patchlevel.h
 * (pyrf_patchlevel_version) and dist-info directory names.  The input is
 * not NUL-terminated, as a mapped file is not.
 */
#include "pyrf.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct pyrf_metadata md;
	char version[64], name[PYRF_NAME_MAX + 1], dist_version[PYRF_VERSION_MAX + 1];
	char *dirname;
	int status;

	memset(&md, 0xa5, sizeof(md));
	status = pyrf_metadata_parse((const char *)data, size, &md);
	if (status == PYRF_META_OK) {
		/* What it accepted must be a valid name and a NUL-terminated version. */
		if (!pyrf_dist_name_valid(md.name, strlen(md.name)))
			abort();
		if (memchr(md.version, '\0', sizeof(md.version)) == NULL)
			abort();
	}
	if (pyrf_metadata_strerror(status) == NULL)
		abort();

	if (pyrf_patchlevel_version((const char *)data, size, version, sizeof(version)) == 0 &&
	    memchr(version, '\0', sizeof(version)) == NULL)
		abort();

	/* The same bytes as a directory name (up to the first NUL). */
	dirname = malloc(size + 1);
	if (!dirname)
		return 0;
	memcpy(dirname, data, size);
	dirname[size] = '\0';
	if (pyrf_distinfo_dirname_parse(dirname, name, sizeof(name),
					dist_version, sizeof(dist_version)) == 0 &&
	    (strlen(name) >= sizeof(name) || strlen(dist_version) >= sizeof(dist_version)))
		abort();
	free(dirname);
	return 0;
}
