/*
 * fuzz_config.c - libFuzzer target for layering.ini: lk_config_load() on
 * the input written to a temporary file (the loader reads files only, as
 * the CLI does).  Any input must give LK_OK or an error message; never a
 * crash, a leak or an out-of-bounds access.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char config_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd;

	(void)argc;
	(void)argv;
	/* Quiet: SOURCE_DATE_EPOCH and unknown-key warnings are not findings. */
	lk_verbosity = -1;
	snprintf(config_path, sizeof(config_path), "/tmp/lk-fuzz-config-XXXXXX");
	fd = mkstemp(config_path);
	if (fd < 0) {
		perror("mkstemp");
		abort();
	}
	close(fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	struct lk_config cfg;
	struct lk_error err;
	FILE *f;
	int rc;

	f = fopen(config_path, "wb");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);

	lk_config_init(&cfg);
	lk_error_clear(&err);
	rc = lk_config_load(&cfg, config_path, &err);
	/* A refused file must say why. */
	if (rc != LK_OK && err.msg[0] == '\0')
		abort();
	lk_config_release(&cfg);
	return 0;
}
