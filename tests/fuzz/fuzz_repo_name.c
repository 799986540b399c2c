/*
 * fuzz_repo_name.c - libFuzzer target for the runfiles repository-name
 * parser (pyrf_repo_name_parse) and PEP 503 normalisation: any name gives
 * a filled, NUL-terminated struct and never reads past the name.
 */
#include "pyrf.h"

#include <stdlib.h>
#include <string.h>

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct pyrf_repo_name parsed;
	char normal[PYRF_NAME_MAX + 1];
	char *name;

	/* Directory names are at most NAME_MAX bytes; keep the fuzzer there. */
	if (size > 4096)
		return 0;
	name = malloc(size + 1);
	if (!name)
		return 0;
	memcpy(name, data, size);
	name[size] = '\0';

	memset(&parsed, 0xa5, sizeof(parsed));
	if (pyrf_repo_name_parse(name, &parsed) != 0 && parsed.kind != PYRF_REPO_OTHER)
		abort();
	if (!TERMINATED(parsed.module) || !TERMINATED(parsed.module_version) ||
	    !TERMINATED(parsed.extension) || !TERMINATED(parsed.local) ||
	    !TERMINATED(parsed.package) || !TERMINATED(parsed.python_version) ||
	    !TERMINATED(parsed.wheel_hash))
		abort();
	if (pyrf_repo_style_name(parsed.style) == NULL)
		abort();

	if (pyrf_pep503_normalise(name, normal, sizeof(normal)) == 0 && !TERMINATED(normal))
		abort();
	free(name);
	return 0;
}
