/*
 * push_driver.c - calls lk_push_layout for tests/e2e/test_push.sh and
 * prints its stats as "key=value" lines on stdout, so the test asserts on
 * exactly what the push did.
 *
 *   push_driver [--insecure] [-j N] [--auth-file F] [--from REPO]
 *               [--cache-dir DIR] [-q] DIR[:TAG] REF
 *
 * Exit status: the error's exit code (1 registry/network, 2 usage), else 0.
 */
#include "common.h"
#include "push.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

static const struct option long_options[] = {
	{ "insecure", no_argument, NULL, 'k' },
	{ "jobs", required_argument, NULL, 'j' },
	{ "auth-file", required_argument, NULL, 'a' },
	{ "from", required_argument, NULL, 'f' },
	{ "cache-dir", required_argument, NULL, 'c' },
	{ "quiet", no_argument, NULL, 'q' },
	{ NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	struct lk_push_opts opts = { 0 };
	struct lk_push_stats stats;
	struct lk_error err;
	char *dir, *tag;
	int c, rc;

	while ((c = getopt_long(argc, argv, "j:q", long_options, NULL)) != -1) {
		switch (c) {
		case 'k': opts.insecure = 1; break;
		case 'j': opts.jobs = (unsigned)atoi(optarg); break;
		case 'a': opts.auth_file = optarg; break;
		case 'f': opts.mount_from = optarg; break;
		case 'c': opts.cache_dir = optarg; break;
		case 'q': lk_verbosity = 0; break;
		default:
			fprintf(stderr, "usage: push_driver [--insecure] [-j N] [--auth-file F] [--from REPO] [--cache-dir DIR] DIR[:TAG] REF\n");
			return LK_EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: push_driver [options] DIR[:TAG] REF\n");
		return LK_EXIT_USAGE;
	}
	lk_error_clear(&err);
	lk_push_source_split(argv[optind], &dir, &tag);
	rc = lk_push_layout(dir, tag, argv[optind + 1], &opts, &stats, &err);
	printf("blobs_uploaded=%zu\nblobs_mounted=%zu\nblobs_skipped=%zu\n"
	       "bytes_uploaded=%llu\nbytes_mounted=%llu\nbytes_skipped=%llu\n",
	       stats.blobs_uploaded, stats.blobs_mounted, stats.blobs_skipped,
	       (unsigned long long)stats.bytes_uploaded, (unsigned long long)stats.bytes_mounted,
	       (unsigned long long)stats.bytes_skipped);
	if (rc == LK_OK)
		printf("digest=%s\n", stats.manifest_digest);
	free(dir);
	free(tag);
	if (rc != LK_OK) {
		fprintf(stderr, "layerkit: error: %s\n", err.msg);
		return err.exit_code ? err.exit_code : LK_EXIT_BUILD;
	}
	return LK_EXIT_OK;
}
