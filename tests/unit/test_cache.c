/* test_cache.c - layer fingerprints, racy stamps, the cache's hit, corruption and prune paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache.h"

#define N 3

/* Three real files in a temp dir and a hand-made scan of them. */
struct fixture {
	char dir[64];
	struct lk_scan scan;
	struct lk_file files[N];
	struct lk_file_stat stats[N];
	uint32_t all[N];
	struct lk_layer_opts opts;
};

static const char *const names[N] = { "a.txt", "b/c.py", "b/d.sh" };

static void write_file(const char *dir, const char *name, const char *text)
{
	char *path = lk_xasprintf("%s/%s", dir, name);
	char *slash = strrchr(path, '/');
	FILE *f;

	*slash = '\0';
	mkdir(path, 0755);
	*slash = '/';
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	free(path);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	strcpy(fx->dir, "/tmp/lk-test-cache-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	for (int i = 0; i < N; i++) {
		write_file(fx->dir, names[i], names[i]);
		fx->files[i].path = names[i];
		fx->files[i].size = strlen(names[i]);
		fx->files[i].mode = i == 2 ? 0755 : 0644;
		fx->files[i].type = LK_FILE_REGULAR;
		fx->stats[i].dev = 1;
		fx->stats[i].ino = 100 + (uint64_t)i;
		fx->stats[i].mtime_ns = 1000000000LL * (10 + i);
		fx->stats[i].ctime_ns = 1000000000LL * (20 + i);
		fx->stats[i].nlink = 1;
		fx->all[i] = (uint32_t)i;
	}
	fx->scan.files = fx->files;
	fx->scan.stats = fx->stats;
	fx->scan.n_files = N;
	fx->scan.root = fx->dir;
	fx->scan.root_fd = open(fx->dir, O_RDONLY | O_DIRECTORY);
	fx->scan.tree.files = fx->files;
	fx->scan.tree.n_files = N;
	fx->opts.compression = LK_COMPRESS_GZIP;
	fx->opts.level = -1;
	fx->opts.prefix = "app";
	fx->opts.threads = 1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char *cmd = lk_xasprintf("rm -rf '%s'", fx->dir);

	close(fx->scan.root_fd);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(fx);
	return 0;
}

static void fp_of(struct fixture *fx, enum lk_verify verify, char out[65], int *cacheable)
{
	lk_layer_fingerprint(&fx->scan, fx->all, N, &fx->opts, verify, INT64_MAX, out, cacheable);
}

/* Every input that decides the layer's bytes changes the fingerprint. */
static void test_fingerprint_inputs(void **state)
{
	struct fixture *fx = *state;
	char base[65], fp[65];
	int ok;

	fp_of(fx, LK_VERIFY_STAT, base, &ok);
	assert_true(ok);
	fp_of(fx, LK_VERIFY_STAT, fp, &ok);
	assert_string_equal(base, fp);

#define CHANGES(stmt, undo) do { \
		stmt; fp_of(fx, LK_VERIFY_STAT, fp, &ok); \
		if (!strcmp(base, fp)) fail_msg("fingerprint ignores: %s", #stmt); \
		undo; fp_of(fx, LK_VERIFY_STAT, fp, &ok); assert_string_equal(base, fp); \
	} while (0)
	CHANGES(fx->files[1].path = "b/x.py", fx->files[1].path = names[1]);
	CHANGES(fx->files[0].size++, fx->files[0].size--);
	CHANGES(fx->files[0].mode = 0600, fx->files[0].mode = 0644);
	CHANGES(fx->files[2].type = LK_FILE_SYMLINK; fx->files[2].link_target = "a.txt",
		fx->files[2].type = LK_FILE_REGULAR; fx->files[2].link_target = NULL);
	CHANGES(fx->stats[0].mtime_ns++, fx->stats[0].mtime_ns--);
	CHANGES(fx->stats[0].ctime_ns++, fx->stats[0].ctime_ns--);
	CHANGES(fx->stats[0].ino++, fx->stats[0].ino--);
	CHANGES(fx->opts.compression = LK_COMPRESS_ZSTD, fx->opts.compression = LK_COMPRESS_GZIP);
	CHANGES(fx->opts.level = 9, fx->opts.level = -1);
	CHANGES(fx->opts.mtime = 1, fx->opts.mtime = 0);
	CHANGES(fx->opts.prefix = "srv", fx->opts.prefix = "app");
	CHANGES(fx->opts.keep_setuid = 1, fx->opts.keep_setuid = 0);
#undef CHANGES
	/* What does not decide the bytes does not change it. */
	fx->opts.threads = 8;
	fx->scan.root = (char *)"/elsewhere";
	fp_of(fx, LK_VERIFY_STAT, fp, &ok);
	assert_string_equal(base, fp);
	/* A layer of fewer files is another layer. */
	lk_layer_fingerprint(&fx->scan, fx->all, N - 1, &fx->opts, LK_VERIFY_STAT, INT64_MAX, fp,
			     &ok);
	assert_string_not_equal(base, fp);
}

/* A stamp at or after the racy limit makes the layer uncacheable. */
static void test_racy_stamp(void **state)
{
	struct fixture *fx = *state;
	char fp[65];
	int ok;

	lk_layer_fingerprint(&fx->scan, fx->all, N, &fx->opts, LK_VERIFY_STAT,
			     1000000000LL * 30, fp, &ok);
	assert_true(ok);
	lk_layer_fingerprint(&fx->scan, fx->all, N, &fx->opts, LK_VERIFY_STAT,
			     1000000000LL * 22, fp, &ok);	/* file 2's ctime is 22 s */
	assert_false(ok);
	lk_layer_fingerprint(&fx->scan, fx->all, N, &fx->opts, LK_VERIFY_STAT,
			     1000000000LL * 12, fp, &ok);	/* file 2's mtime is 12 s */
	assert_false(ok);
}

/* verify = content: same stamps, other bytes -> another fingerprint. */
static void test_verify_content(void **state)
{
	struct fixture *fx = *state;
	char before[65], after[65], stat_before[65], stat_after[65];
	int ok;

	fp_of(fx, LK_VERIFY_CONTENT, before, &ok);
	assert_true(ok);
	fp_of(fx, LK_VERIFY_STAT, stat_before, &ok);
	write_file(fx->dir, "a.txt", "A.TXT");		/* same size, stamps untouched in fx */
	fp_of(fx, LK_VERIFY_CONTENT, after, &ok);
	assert_string_not_equal(before, after);
	fp_of(fx, LK_VERIFY_STAT, stat_after, &ok);
	assert_string_equal(stat_before, stat_after);	/* why stat mode needs the racy rule */
	assert_string_not_equal(before, stat_before);	/* the two modes never share entries */
	/* Two files sharing an inode are stored as a hard link: another layer. */
	fp_of(fx, LK_VERIFY_CONTENT, before, &ok);
	fx->stats[1].ino = fx->stats[0].ino;
	fp_of(fx, LK_VERIFY_CONTENT, after, &ok);
	assert_string_not_equal(before, after);
	fx->stats[1].ino = 101;
	/* ... but not the inode numbers themselves, in content mode. */
	fx->stats[0].ino = 900;
	fx->stats[1].ino = 901;
	fp_of(fx, LK_VERIFY_CONTENT, after, &ok);
	assert_string_equal(before, after);
}

static void open_layout(struct lk_layout *layout, const char *dir)
{
	struct lk_error err;

	lk_error_clear(&err);
	if (lk_layout_open(layout, dir, &err) != LK_OK)
		fail_msg("%s", err.msg);
}

/* Stores a small "layer" blob and returns its info. */
static void store_blob(struct lk_cache *cache, struct lk_layout *layout, const char *fp,
		       const char *content, struct lk_blob_info *blob)
{
	struct lk_error err;

	memset(blob, 0, sizeof(*blob));
	assert_int_equal(lk_layout_put_blob(layout, content, strlen(content), blob->digest, &err),
			 LK_OK);
	memcpy(blob->diff_id, blob->digest, sizeof(blob->digest));
	blob->size = blob->tar_size = strlen(content);
	lk_cache_store(cache, fp, layout, blob);
}

static void test_store_fetch_corrupt(void **state)
{
	struct fixture *fx = *state;
	char *cdir = lk_xasprintf("%s/cache", fx->dir);
	char *out1 = lk_xasprintf("%s/out1", fx->dir), *out2 = lk_xasprintf("%s/out2", fx->dir);
	char *out3 = lk_xasprintf("%s/out3", fx->dir);
	const char *fp = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct lk_cache cache;
	struct lk_layout l1, l2, l3;
	struct lk_blob_info blob, got;
	struct lk_error err;
	struct stat a, b;
	char *path;
	int fd;

	assert_int_equal(lk_cache_open(&cache, cdir, &err), LK_OK);
	open_layout(&l1, out1);
	store_blob(&cache, &l1, fp, "layer bytes", &blob);

	/* A hit links the blob into another layout: same inode, same info. */
	open_layout(&l2, out2);
	assert_int_equal(lk_cache_fetch(&cache, fp, &l2, &got), 1);
	assert_string_equal(got.digest, blob.digest);
	assert_int_equal(got.size, blob.size);
	path = lk_xasprintf("%s/blobs/sha256/%s", cdir, blob.digest + 7);
	assert_int_equal(stat(path, &a), 0);
	free(path);
	path = lk_xasprintf("%s/blobs/sha256/%s", out2, blob.digest + 7);
	assert_int_equal(stat(path, &b), 0);
	free(path);
	assert_true(a.st_ino == b.st_ino);
	/* An unknown fingerprint is a miss. */
	assert_int_equal(lk_cache_fetch(&cache, "ff", &l2, &got), 0);

	/* The same size with other bytes: caught by the digest check when linked. */
	path = lk_xasprintf("%s/blobs/sha256/%s", cdir, blob.digest + 7);
	unlink(path);			/* break the hard link, then write wrong bytes */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_int_equal(write(fd, "LAYER BYTES", 11), 11);
	close(fd);
	open_layout(&l3, out3);
	assert_int_equal(lk_cache_fetch(&cache, fp, &l3, &got), 0);
	assert_int_not_equal(access(path, F_OK), 0);	/* the bad entry is gone */

	/* A truncated blob: caught by its size, entry dropped. */
	store_blob(&cache, &l1, fp, "layer bytes", &blob);
	assert_int_equal(truncate(path, 3), 0);
	assert_int_equal(lk_cache_fetch(&cache, fp, &l3, &got), 0);
	assert_int_equal(lk_cache_fetch(&cache, fp, &l3, &got), 0);
	free(path);

	lk_layout_abort(&l3);
	lk_layout_release(&l3);
	lk_layout_abort(&l2);
	lk_layout_release(&l2);
	lk_layout_abort(&l1);
	lk_layout_release(&l1);
	lk_cache_release(&cache);
	free(cdir);
	free(out1);
	free(out2);
	free(out3);
}

static void test_prune(void **state)
{
	struct fixture *fx = *state;
	char *cdir = lk_xasprintf("%s/cache2", fx->dir), *out = lk_xasprintf("%s/o", fx->dir);
	const char *fp1 = "1111111111111111111111111111111111111111111111111111111111111111";
	const char *fp2 = "2222222222222222222222222222222222222222222222222222222222222222";
	struct lk_cache cache;
	struct lk_layout layout;
	struct lk_blob_info b1, b2;
	struct lk_cache_stats st;
	struct lk_error err;
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };

	assert_int_equal(lk_cache_open(&cache, cdir, &err), LK_OK);
	open_layout(&layout, out);
	store_blob(&cache, &layout, fp1, "old layer, used long ago", &b1);
	store_blob(&cache, &layout, fp2, "new layer", &b2);
	utimensat(cache.layers_fd, fp1, old, 0);
	assert_int_equal(lk_cache_stat(&cache, &st, &err), LK_OK);
	assert_int_equal(st.n_records, 2);
	assert_int_equal(st.n_blobs, 2);

	/* By size: the least recently used goes first. */
	assert_int_equal(lk_cache_prune(&cache, 20, -1, &st, &err), LK_OK);
	assert_int_equal(st.removed_blobs, 1);
	assert_int_equal(st.n_records, 1);
	assert_int_not_equal(faccessat(cache.layers_fd, fp1, F_OK, 0), 0);
	assert_int_equal(faccessat(cache.layers_fd, fp2, F_OK, 0), 0);

	/* By age: an hour-long limit keeps the layer used just now. */
	assert_int_equal(lk_cache_prune(&cache, UINT64_MAX, 3600, &st, &err), LK_OK);
	assert_int_equal(st.n_records, 1);
	assert_int_equal(lk_cache_prune(&cache, 0, -1, &st, &err), LK_OK);
	assert_int_equal(st.n_records, 0);
	assert_int_equal(lk_cache_stat(&cache, &st, &err), LK_OK);
	assert_int_equal(st.n_blobs, 0);

	lk_layout_abort(&layout);
	lk_layout_release(&layout);
	lk_cache_release(&cache);
	free(cdir);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fingerprint_inputs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_racy_stamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_fetch_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
	};

	return cmocka_run_group_tests_name("cache", tests, NULL, NULL);
}
