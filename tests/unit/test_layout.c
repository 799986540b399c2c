/* test_layout.c - OCI layout: blobs by digest, atomic index, garbage collection, abort, lock. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layout.h"

struct fixture {
	char base[PATH_MAX];	/* a temporary directory holding the layouts */
	char dir[PATH_MAX + 16];	/* base/out/oci: two levels that do not exist yet */
};

static int setup(void **state)
{
	struct fixture *f = lk_xcalloc(1, sizeof(*f));

	snprintf(f->base, sizeof(f->base), "%s/lk-layout-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(f->base))
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/out/oci", f->base);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = lk_xasprintf("rm -rf '%s'", f->base);
	int rc = system(cmd);

	free(cmd);
	free(f);
	return rc == 0 ? 0 : -1;
}

static char *path_in(const struct fixture *f, const char *rel)
{
	return lk_xasprintf("%s/%s", f->dir, rel);
}

static int exists(const struct fixture *f, const char *rel)
{
	char *p = path_in(f, rel);
	struct stat st;
	int r = lstat(p, &st) == 0;

	free(p);
	return r;
}

static char *read_text(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = lk_xmalloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static void write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

/* The sha256 digest of text, computed apart from the layout. */
static void digest_of(const char *text, char digest[LK_DIGEST_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char hex[LK_SHA256_HEX_LEN + 1];

	assert_int_equal(EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL), 1);
	lk_hex(md, len, hex);
	snprintf(digest, LK_DIGEST_LEN, "sha256:%s", hex);
}

static int blob_exists(const struct fixture *f, const char *digest)
{
	char *rel = lk_xasprintf("blobs/sha256/%s", digest + 7);
	int r = exists(f, rel);

	free(rel);
	return r;
}

/* Number of entries in blobs/sha256 whose name starts with prefix. */
static int count_blobs(const struct fixture *f, const char *prefix)
{
	char *p = path_in(f, "blobs/sha256");
	DIR *d = opendir(p);
	struct dirent *de;
	int n = 0;

	free(p);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' || !strncmp(prefix, ".", 1))
			n += !strncmp(de->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

/* An image: a config, a layer and a manifest naming them, as blobs, and
 * the index text naming the manifest (the caller frees it). */
struct image {
	char config[LK_DIGEST_LEN], layer[LK_DIGEST_LEN], manifest[LK_DIGEST_LEN];
	char *index;
};

static void image_put(struct lk_layout *layout, const char *tag, struct image *img)
{
	char *config_text = lk_xasprintf("{\"tag\":\"%s\"}", tag);
	char *layer_text = lk_xasprintf("layer of %s", tag);
	char *manifest_text;
	struct lk_error err;

	assert_int_equal(lk_layout_put_blob(layout, config_text, strlen(config_text), img->config, &err), LK_OK);
	assert_int_equal(lk_layout_put_blob(layout, layer_text, strlen(layer_text), img->layer, &err), LK_OK);
	manifest_text = lk_xasprintf("{\"schemaVersion\":2,\"config\":{\"digest\":\"%s\"},"
				     "\"layers\":[{\"digest\":\"%s\"}]}", img->config, img->layer);
	assert_int_equal(lk_layout_put_blob(layout, manifest_text, strlen(manifest_text), img->manifest, &err),
			 LK_OK);
	img->index = lk_xasprintf("{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"%s\"}]}", img->manifest);
	free(config_text);
	free(layer_text);
	free(manifest_text);
}

/* ---- tests ---- */

static void test_open_creates_layout(void **state)
{
	struct fixture *f = *state;
	struct lk_layout layout;
	struct lk_error err;
	char *text, *p;

	assert_int_equal(lk_layout_open(&layout, f->dir, &err), LK_OK);
	assert_true(layout.created_dir);
	p = path_in(f, "oci-layout");
	text = read_text(p);
	assert_string_equal(text, "{\"imageLayoutVersion\":\"1.0.0\"}");
	free(text);
	free(p);
	assert_true(exists(f, "blobs/sha256"));
	assert_true(exists(f, LK_LAYOUT_LOCK_NAME));
	lk_layout_release(&layout);

	/* Reopening an existing layout makes nothing new. */
	assert_int_equal(lk_layout_open(&layout, f->dir, &err), LK_OK);
	assert_false(layout.created_dir);
	assert_false(layout.created_oci_layout);
	lk_layout_release(&layout);
}

static void test_blobs_named_by_digest(void **state)
{
	struct fixture *f = *state;
	struct lk_layout layout;
	struct lk_blob_sink sink;
	struct lk_error err;
	char digest[LK_DIGEST_LEN], want[LK_DIGEST_LEN];
	uint64_t size = 0;
	char *p, *text;

	assert_int_equal(lk_layout_open(&layout, f->dir, &err), LK_OK);
	assert_int_equal(lk_layout_put_blob(&layout, "hello", 5, digest, &err), LK_OK);
	digest_of("hello", want);
	assert_string_equal(digest, want);
	p = lk_xasprintf("%s/blobs/sha256/%s", f->dir, digest + 7);
	text = read_text(p);
	assert_string_equal(text, "hello");
	free(text);
	free(p);

	/* Streamed in pieces: the same digest as in one piece. */
	assert_int_equal(lk_blob_sink_open(&layout, &sink, &err), LK_OK);
	assert_int_equal(count_blobs(f, ".tmp-"), 1);
	assert_int_equal(lk_blob_sink_write(&sink, "hello, ", 7, &err), LK_OK);
	assert_int_equal(lk_blob_sink_write(&sink, "world", 5, &err), LK_OK);
	assert_int_equal(lk_blob_sink_commit(&sink, digest, &size, &err), LK_OK);
	digest_of("hello, world", want);
	assert_string_equal(digest, want);
	assert_int_equal(size, 12);
	assert_int_equal(count_blobs(f, ".tmp-"), 0);
	assert_int_equal(layout.n_new_blobs, 2);

	/* An abandoned blob leaves nothing. */
	assert_int_equal(lk_blob_sink_open(&layout, &sink, &err), LK_OK);
	assert_int_equal(lk_blob_sink_write(&sink, "partial", 7, &err), LK_OK);
	lk_blob_sink_abort(&sink);
	lk_blob_sink_abort(&sink);	/* twice is harmless */
	assert_int_equal(count_blobs(f, ".tmp-"), 0);
	assert_int_equal(count_blobs(f, ""), 2);

	/* A sink whose caller hashes the bytes itself takes the caller's digest. */
	assert_int_equal(lk_blob_sink_open_unhashed(&layout, &sink, &err), LK_OK);
	assert_null(sink.sha);
	assert_int_equal(lk_blob_sink_write(&sink, "plain tar", 9, &err), LK_OK);
	digest_of("plain tar", want);
	assert_int_equal(lk_blob_sink_commit_as(&sink, want, &size, &err), LK_OK);
	assert_int_equal(size, 9);
	assert_true(blob_exists(f, want));
	assert_int_equal(lk_blob_sink_open_unhashed(&layout, &sink, &err), LK_OK);
	assert_int_equal(lk_blob_sink_commit_as(&sink, "sha256:../../etc", &size, &err), LK_FAILED);
	assert_int_equal(lk_blob_sink_open_unhashed(&layout, &sink, &err), LK_OK);
	assert_int_equal(lk_blob_sink_commit(&sink, digest, &size, &err), LK_FAILED);
	assert_int_equal(count_blobs(f, ".tmp-"), 0);
	assert_int_equal(count_blobs(f, ""), 3);
	lk_layout_release(&layout);
}

static void test_commit_collects_garbage(void **state)
{
	struct fixture *f = *state;
	struct lk_layout layout;
	struct lk_error err;
	struct image img;
	char junk[LK_DIGEST_LEN];
	char *p, *text;

	assert_int_equal(lk_layout_open(&layout, f->dir, &err), LK_OK);
	assert_int_equal(lk_layout_put_blob(&layout, "unreferenced", 12, junk, &err), LK_OK);
	image_put(&layout, "v1", &img);
	/* A stale temporary file from a killed build, and a file that is not a blob. */
	p = path_in(f, "blobs/sha256/.tmp-99999-1");
	write_text(p, "stale");
	free(p);
	p = path_in(f, "blobs/sha256/README");
	write_text(p, "not a blob name: left alone");
	free(p);

	assert_int_equal(lk_layout_commit(&layout, img.index, strlen(img.index), &err), LK_OK);
	p = path_in(f, "index.json");
	text = read_text(p);
	assert_string_equal(text, img.index);
	free(text);
	free(p);
	assert_true(blob_exists(f, img.config));
	assert_true(blob_exists(f, img.layer));
	assert_true(blob_exists(f, img.manifest));
	assert_false(blob_exists(f, junk));
	assert_false(exists(f, "blobs/sha256/.tmp-99999-1"));
	assert_true(exists(f, "blobs/sha256/README"));
	assert_false(exists(f, "index.json.tmp"));
	lk_layout_release(&layout);
	free(img.index);
}

static void test_abort_new_dir_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	struct lk_layout layout;
	struct lk_blob_sink sink;
	struct lk_error err;
	struct image img;
	char *out = lk_xasprintf("%s/out", f->base);
	struct stat st;

	assert_int_equal(lk_layout_open(&layout, f->dir, &err), LK_OK);
	image_put(&layout, "v1", &img);
	assert_int_equal(lk_blob_sink_open(&layout, &sink, &err), LK_OK);
	lk_layout_abort(&layout);	/* a build that failed mid-way */
	lk_blob_sink_abort(&sink);
	lk_layout_release(&layout);
	/* Both the layout and the parent this build made are gone. */
	assert_int_equal(stat(f->dir, &st), -1);
	assert_int_equal(stat(out, &st), -1);
	assert_int_equal(stat(f->base, &st), 0);
	free(out);
	free(img.index);
}

static void test_abort_keeps_previous_image(void **state)
{
	struct fixture *f = *state;
	struct lk_layout layout;
	struct lk_error err;
	struct image v1, v2;
	char shared[LK_DIGEST_LEN], *p, *before, *after;

	assert_int_equal(lk_layout_open(&layout, f->dir, &err), LK_OK);
	image_put(&layout, "v1", &v1);
	assert_int_equal(lk_layout_commit(&layout, v1.index, strlen(v1.index), &err), LK_OK);
	lk_layout_release(&layout);
	p = path_in(f, "index.json");
	before = read_text(p);

	/* The next build writes new blobs and one the old image has, then fails. */
	assert_int_equal(lk_layout_open(&layout, f->dir, &err), LK_OK);
	image_put(&layout, "v2", &v2);
	assert_int_equal(lk_layout_put_blob(&layout, "layer of v1", 11, shared, &err), LK_OK);
	assert_string_equal(shared, v1.layer);
	lk_layout_abort(&layout);
	lk_layout_release(&layout);

	after = read_text(p);
	assert_string_equal(before, after);
	assert_true(blob_exists(f, v1.config));
	assert_true(blob_exists(f, v1.layer));
	assert_true(blob_exists(f, v1.manifest));
	assert_false(blob_exists(f, v2.config));
	assert_false(blob_exists(f, v2.layer));
	assert_false(blob_exists(f, v2.manifest));
	assert_true(exists(f, "oci-layout"));
	assert_int_equal(count_blobs(f, ""), 3);
	free(before);
	free(after);
	free(p);
	free(v1.index);
	free(v2.index);
}

static void test_replace_image(void **state)
{
	struct fixture *f = *state;
	struct lk_layout layout;
	struct lk_error err;
	struct image v1, v2;

	assert_int_equal(lk_layout_open(&layout, f->dir, &err), LK_OK);
	image_put(&layout, "v1", &v1);
	assert_int_equal(lk_layout_commit(&layout, v1.index, strlen(v1.index), &err), LK_OK);
	lk_layout_release(&layout);

	assert_int_equal(lk_layout_open(&layout, f->dir, &err), LK_OK);
	image_put(&layout, "v2", &v2);
	assert_int_equal(lk_layout_commit(&layout, v2.index, strlen(v2.index), &err), LK_OK);
	lk_layout_release(&layout);
	/* Only the new image's blobs stay. */
	assert_false(blob_exists(f, v1.config));
	assert_false(blob_exists(f, v1.layer));
	assert_false(blob_exists(f, v1.manifest));
	assert_true(blob_exists(f, v2.config));
	assert_true(blob_exists(f, v2.layer));
	assert_true(blob_exists(f, v2.manifest));
	assert_int_equal(count_blobs(f, ""), 3);
	free(v1.index);
	free(v2.index);
}

/* An index naming a manifest that cannot be read: keep every blob. */
static void test_unknown_references_keep_blobs(void **state)
{
	struct fixture *f = *state;
	struct lk_layout layout;
	struct lk_error err;
	char junk[LK_DIGEST_LEN];
	const char *index = "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:"
			    "0000000000000000000000000000000000000000000000000000000000000000\"}]}";

	assert_int_equal(lk_layout_open(&layout, f->dir, &err), LK_OK);
	assert_int_equal(lk_layout_put_blob(&layout, "maybe used", 10, junk, &err), LK_OK);
	assert_int_equal(lk_layout_commit(&layout, index, strlen(index), &err), LK_OK);
	assert_true(blob_exists(f, junk));
	lk_layout_release(&layout);
}

static void test_refuses_foreign_dir(void **state)
{
	struct fixture *f = *state;
	struct lk_layout layout;
	struct lk_error err;
	char *p;

	/* A directory with files but no oci-layout is not ours to write. */
	p = lk_xasprintf("%s/out", f->base);
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	assert_int_equal(mkdir(f->dir, 0755), 0);
	p = path_in(f, "notes.txt");
	write_text(p, "mine");
	free(p);
	assert_int_equal(lk_layout_open(&layout, f->dir, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, f->dir));
	assert_non_null(strstr(err.msg, "not an OCI image layout"));
	assert_false(exists(f, "oci-layout"));
	assert_false(exists(f, "blobs"));
	assert_true(exists(f, "notes.txt"));
	lk_layout_release(&layout);	/* harmless after a failed open */

	/* An empty existing directory is fine; an abort keeps it, empty. */
	p = path_in(f, "notes.txt");
	unlink(p);
	free(p);
	assert_int_equal(lk_layout_open(&layout, f->dir, &err), LK_OK);
	assert_false(layout.created_dir);
	lk_layout_abort(&layout);
	lk_layout_release(&layout);
	assert_true(exists(f, "."));
	assert_false(exists(f, "oci-layout"));
	assert_false(exists(f, "blobs"));

	/* A file where the directory should be. */
	p = path_in(f, "file");
	write_text(p, "x");
	assert_int_equal(lk_layout_open(&layout, p, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, p));
	free(p);
	assert_int_equal(lk_layout_open(&layout, "", &err), LK_FAILED);
}

static void test_lock_excludes_others(void **state)
{
	struct fixture *f = *state;
	struct lk_layout layout;
	struct lk_error err;
	char *p;
	int fd;

	assert_int_equal(lk_layout_open(&layout, f->dir, &err), LK_OK);
	p = path_in(f, LK_LAYOUT_LOCK_NAME);
	fd = open(p, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	lk_layout_release(&layout);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	close(fd);
	free(p);
}

/*
 * A second build waits for the first; when the first aborts and removes
 * the directory it made, the second starts over in a new one and succeeds.
 */
static void test_waiting_build_survives_abort(void **state)
{
	struct fixture *f = *state;
	struct lk_layout layout;
	struct lk_error err;
	int status;
	pid_t pid;

	assert_int_equal(lk_layout_open(&layout, f->dir, &err), LK_OK);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct lk_layout second;
		struct image img;

		/* flock belongs to the open file: drop the parent's copy. */
		close(layout.lock_fd);
		if (lk_layout_open(&second, f->dir, &err) != LK_OK)
			_exit(2);
		image_put(&second, "second", &img);
		if (lk_layout_commit(&second, img.index, strlen(img.index), &err) != LK_OK)
			_exit(3);
		lk_layout_release(&second);
		_exit(0);
	}
	usleep(300 * 1000);	/* the child is waiting on the lock by now */
	lk_layout_abort(&layout);
	lk_layout_release(&layout);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(exists(f, "index.json"));
	assert_true(exists(f, "oci-layout"));
	assert_int_equal(count_blobs(f, ""), 3);
}

static void test_link_blob(void **state)
{
	struct fixture *f = *state;
	struct lk_layout layout;
	struct lk_error err;
	char digest[LK_DIGEST_LEN], *src, *dst;
	struct stat s1, s2;

	src = lk_xasprintf("%s/cached-blob", f->base);
	write_text(src, "cached layer");
	digest_of("cached layer", digest);
	assert_int_equal(lk_layout_open(&layout, f->dir, &err), LK_OK);
	assert_int_equal(lk_layout_link_blob(&layout, src, digest, 12, &err), LK_OK);
	dst = lk_xasprintf("%s/blobs/sha256/%s", f->dir, digest + 7);
	assert_int_equal(stat(src, &s1), 0);
	assert_int_equal(stat(dst, &s2), 0);
	assert_int_equal(s1.st_ino, s2.st_ino);		/* linked, not copied */
	/* Linking again (already there) is fine and leaves no temporary. */
	assert_int_equal(lk_layout_link_blob(&layout, src, digest, 12, &err), LK_OK);
	assert_int_equal(count_blobs(f, ".tmp-"), 0);
	/* A truncated source is refused. */
	assert_int_equal(lk_layout_link_blob(&layout, src, digest, 13, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, src));
	free(src);

	/* Across file systems it is copied, and the copy's digest checked. */
	if (access("/dev/shm", W_OK) == 0) {
		char bad[LK_DIGEST_LEN];

		src = lk_xasprintf("/dev/shm/lk-layout-test-%ld", (long)getpid());
		write_text(src, "other layer");
		digest_of("other layer", digest);
		assert_int_equal(lk_layout_link_blob(&layout, src, digest, 11, &err), LK_OK);
		assert_true(blob_exists(f, digest));
		digest_of("something else", bad);
		assert_int_equal(lk_layout_link_blob(&layout, src, bad, 11, &err), LK_FAILED);
		assert_non_null(strstr(err.msg, "corrupt"));
		assert_false(blob_exists(f, bad));
		assert_int_equal(count_blobs(f, ".tmp-"), 0);
		unlink(src);
		free(src);
	}
	/* Linked blobs are this build's: an abort takes them away. */
	lk_layout_abort(&layout);
	lk_layout_release(&layout);
	assert_false(exists(f, "."));
	free(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blobs_named_by_digest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_collects_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_new_dir_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_keeps_previous_image, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace_image, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_references_keep_blobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_foreign_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_excludes_others, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiting_build_survives_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_link_blob, setup, teardown),
	};

	return cmocka_run_group_tests_name("layout", tests, NULL, NULL);
}
