/* test_writer.c - layers into a layout (digests, diff_ids, threads, failures) and a whole image checked by real tools. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <pthread.h>
#include <sys/wait.h>
#include <zlib.h>
#include <zstd.h>

#include "oci.h"
#include "writer.h"
#include "tree_fixture.h"

struct fixture {
	struct tree_fixture tree;
	char out[PATH_MAX];	/* a temporary directory for layouts and bundles */
	char layout_dir[PATH_MAX + 16];
};

/* A tree with what a Python app has: packages, an interpreter, links. */
static void app_tree(struct tree_fixture *t)
{
	/* Over three gzip blocks: the layer has several gzip members, which
	 * every reader (Go's in umoci and skopeo too) must join. */
	const size_t big_size = 3 * 1024 * 1024 + 12345;
	char *big = lk_xmalloc(big_size);
	char longname[200];
	uint32_t x = 1;

	for (size_t i = 0; i < big_size; i++) {
		x = x * 1103515245 + 12345;
		big[i] = (char)("abcdefgh\n"[i % 9] + ((x >> 16) % 7 == 0));
	}
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	tree_init(t);
	tree_text(t, "bin/python3.11", "#!/fake/interpreter\n", 0755);
	tree_symlink(t, "bin/python3", "python3.11");
	tree_file(t, "lib/libpython3.11.so", big, big_size, 0644);
	free(big);
	tree_text(t, "lib/python3.11/site-packages/fastapi/__init__.py", "__version__ = '0.110.0'\n", 0644);
	tree_text(t, "lib/python3.11/site-packages/fastapi-0.110.0.dist-info/RECORD", "fastapi/__init__.py,,\n", 0644);
	tree_hardlink(t, "lib/python3.11/site-packages/fastapi/copy.py",
		      "lib/python3.11/site-packages/fastapi/__init__.py");
	tree_text(t, "app/main.py", "print('hello')\n", 0644);
	tree_text(t, "app/caf\xc3\xa9.txt", "utf-8 name\n", 0600);
	tree_text(t, "app/raw\xff.bin", "non-utf-8 name\n", 0600);
	{
		char rel[256];

		snprintf(rel, sizeof(rel), "app/%s", longname);
		tree_text(t, rel, "long name\n", 0644);
	}
	tree_mkdirs(t, "app/data/empty");
	tree_symlink(t, "app/python", "../bin/python3");
	tree_scan(t);
}

static int setup(void **state)
{
	struct fixture *f = lk_xcalloc(1, sizeof(*f));

	app_tree(&f->tree);
	snprintf(f->out, sizeof(f->out), "%s/lk-writer-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(f->out))
		return -1;
	snprintf(f->layout_dir, sizeof(f->layout_dir), "%s/oci", f->out);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = lk_xasprintf("rm -rf '%s'", f->out);
	/* LK_TEST_KEEP=1 keeps the layouts, to look at them by hand. */
	int rc = getenv("LK_TEST_KEEP") ? 0 : system(cmd);

	free(cmd);
	tree_release(&f->tree);
	free(f);
	return rc == 0 ? 0 : -1;
}

static struct lk_layer_opts layer_opts(enum lk_compression c, unsigned threads)
{
	struct lk_layer_opts o = {
		.compression = c, .level = -1, .mtime = 0, .prefix = "app", .keep_setuid = 0,
		.threads = threads,
	};
	return o;
}

/* The files of the tree under top (e.g. "lib/"), or all when top is "". */
static uint32_t *files_under(struct fixture *f, const char *top, size_t *n)
{
	uint32_t *v = lk_xmalloc((f->tree.scan.n_files + 1) * sizeof(*v));

	*n = 0;
	for (size_t i = 0; i < f->tree.scan.n_files; i++)
		if (!strncmp(f->tree.scan.files[i].path, top, strlen(top)))
			v[(*n)++] = (uint32_t)i;
	return v;
}

static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *buf;
	long n;

	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = lk_xmalloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static void digest_of(const void *data, size_t len, char digest[LK_DIGEST_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char hex[LK_SHA256_HEX_LEN + 1];

	assert_int_equal(EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL), 1);
	lk_hex(md, md_len, hex);
	snprintf(digest, LK_DIGEST_LEN, "sha256:%s", hex);
}

static unsigned char *decompress(enum lk_compression c, const unsigned char *in, size_t len,
				 size_t *out_len)
{
	size_t cap = 1 << 20, n = 0;
	unsigned char *out = lk_xmalloc(cap);

	if (c == LK_COMPRESS_NONE) {
		out = lk_xrealloc(out, len + 1);
		memcpy(out, in, len);
		*out_len = len;
		return out;
	}
	if (c == LK_COMPRESS_GZIP) {
		z_stream z;

		memset(&z, 0, sizeof(z));
		/* 16 + MAX_WBITS: gzip; members are restarted by hand below. */
		assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
		z.next_in = (unsigned char *)in;
		z.avail_in = (uInt)len;
		for (;;) {
			int r;

			if (n == cap)
				out = lk_xrealloc(out, cap *= 2);
			z.next_out = out + n;
			z.avail_out = (uInt)(cap - n);
			r = inflate(&z, Z_NO_FLUSH);
			n = cap - z.avail_out;
			if (r == Z_STREAM_END) {
				if (!z.avail_in)
					break;
				assert_int_equal(inflateReset(&z), Z_OK);	/* next member */
				continue;
			}
			assert_int_equal(r, Z_OK);
		}
		inflateEnd(&z);
	} else {
		ZSTD_DStream *d = ZSTD_createDStream();
		ZSTD_inBuffer zin = { in, len, 0 };

		while (zin.pos < zin.size) {
			ZSTD_outBuffer zout;
			size_t r;

			if (n == cap)
				out = lk_xrealloc(out, cap *= 2);
			zout.dst = out + n;
			zout.size = cap - n;
			zout.pos = 0;
			r = ZSTD_decompressStream(d, &zout, &zin);
			assert_false(ZSTD_isError(r));
			n += zout.pos;
		}
		ZSTD_freeDStream(d);
	}
	*out_len = n;
	return out;
}

/* Number of entries in a tar, and whether name is among them. */
static size_t tar_count(const unsigned char *tar, size_t len, const char *name, int *found)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	size_t n = 0;

	*found = 0;
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_memory(a, tar, len), ARCHIVE_OK);
	for (;;) {
		int r = archive_read_next_header(a, &e);
		const char *s;

		/* ARCHIVE_WARN: a UTF-8 name the "C" locale cannot show. */
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			break;
		n++;
		s = archive_entry_pathname(e);
		if (!s)
			s = archive_entry_pathname_utf8(e);
		if (s && !strcmp(s, name))
			*found = 1;
	}
	archive_read_free(a);
	return n;
}

static int count_tmp(const char *dir)
{
	char *p = lk_xasprintf("%s/blobs/sha256", dir);
	DIR *d = opendir(p);
	struct dirent *de;
	int n = 0;

	free(p);
	assert_non_null(d);
	while ((de = readdir(d)))
		n += !strncmp(de->d_name, ".tmp-", 5);
	closedir(d);
	return n;
}

/* Digest = sha256 of the stored blob, diff_id = sha256 of the tar inside. */
static void check_layer(struct fixture *f, enum lk_compression c)
{
	struct lk_layout layout;
	struct lk_layer_opts o = layer_opts(c, 2);
	struct lk_blob_info info;
	struct lk_error err;
	unsigned char *blob, *tar;
	size_t n, blob_len, tar_len;
	uint32_t *files = files_under(f, "", &n);
	char want[LK_DIGEST_LEN], *path;
	int found;

	assert_int_equal(lk_layout_open(&layout, f->layout_dir, &err), LK_OK);
	assert_int_equal(lk_layer_write(&layout, &f->tree.scan, files, n, &o, &info, &err), LK_OK);
	path = lk_xasprintf("%s/blobs/sha256/%s", f->layout_dir, info.digest + 7);
	blob = read_file(path, &blob_len);
	digest_of(blob, blob_len, want);
	assert_string_equal(info.digest, want);
	assert_int_equal(info.size, blob_len);
	tar = decompress(c, blob, blob_len, &tar_len);
	digest_of(tar, tar_len, want);
	assert_string_equal(info.diff_id, want);
	assert_int_equal(info.tar_size, tar_len);
	if (c == LK_COMPRESS_NONE)
		assert_string_equal(info.digest, info.diff_id);
	else
		assert_true(blob_len < tar_len);
	/* Every file plus its parents, each once. */
	assert_true(tar_count(tar, tar_len, "app/lib/python3.11/site-packages/fastapi/__init__.py", &found) > n);
	assert_true(found);
	assert_int_equal(count_tmp(f->layout_dir), 0);
	lk_layout_release(&layout);
	free(path);
	free(blob);
	free(tar);
	free(files);
}

static void test_layer_gzip(void **state)
{
	check_layer(*state, LK_COMPRESS_GZIP);
}

static void test_layer_zstd(void **state)
{
	check_layer(*state, LK_COMPRESS_ZSTD);
}

static void test_layer_none(void **state)
{
	check_layer(*state, LK_COMPRESS_NONE);
}

static void test_media_types(void **state)
{
	assert_string_equal(lk_layer_media_type(LK_COMPRESS_GZIP), "application/vnd.oci.image.layer.v1.tar+gzip");
	assert_string_equal(lk_layer_media_type(LK_COMPRESS_ZSTD), "application/vnd.oci.image.layer.v1.tar+zstd");
	assert_string_equal(lk_layer_media_type(LK_COMPRESS_NONE), "application/vnd.oci.image.layer.v1.tar");
}

struct layer_job {
	struct lk_layout *layout;
	const struct lk_scan *scan;
	uint32_t *files;
	size_t n;
	struct lk_layer_opts opts;
	struct lk_blob_info info;
	struct lk_error err;
	int rc;
};

static void *layer_job_run(void *p)
{
	struct layer_job *j = p;

	j->rc = lk_layer_write(j->layout, j->scan, j->files, j->n, &j->opts, &j->info, &j->err);
	return NULL;
}

/* Several layers at once into one layout give what one at a time gives,
 * whatever the thread count of each. */
static void test_concurrent_layers(void **state)
{
	static const char *const tops[] = { "bin/", "lib/", "app/", "" };
	struct fixture *f = *state;
	struct layer_job jobs[4], seq[4];
	pthread_t threads[4];
	struct lk_layout layout;
	struct lk_error err;

	assert_int_equal(lk_layout_open(&layout, f->layout_dir, &err), LK_OK);
	for (int i = 0; i < 4; i++) {
		memset(&seq[i], 0, sizeof(seq[i]));
		seq[i].layout = &layout;
		seq[i].scan = &f->tree.scan;
		seq[i].files = files_under(f, tops[i], &seq[i].n);
		seq[i].opts = layer_opts(i == 3 ? LK_COMPRESS_ZSTD : LK_COMPRESS_GZIP, 1);
		layer_job_run(&seq[i]);
		assert_int_equal(seq[i].rc, LK_OK);
		jobs[i] = seq[i];
		jobs[i].opts.threads = 1 + (unsigned)i;
		memset(&jobs[i].info, 0, sizeof(jobs[i].info));
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, layer_job_run, &jobs[i]), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(jobs[i].rc, LK_OK);
		assert_string_equal(jobs[i].info.digest, seq[i].info.digest);
		assert_string_equal(jobs[i].info.diff_id, seq[i].info.diff_id);
		assert_int_equal(jobs[i].info.size, seq[i].info.size);
		free(seq[i].files);
	}
	assert_int_equal(layout.n_new_blobs, 8);
	assert_int_equal(count_tmp(f->layout_dir), 0);
	lk_layout_release(&layout);
}

static void test_changed_file_fails_layer(void **state)
{
	struct fixture *f = *state;
	struct lk_layout layout;
	struct lk_layer_opts o = layer_opts(LK_COMPRESS_GZIP, 2);
	struct lk_blob_info info;
	struct lk_error err;
	size_t n;
	uint32_t *files = files_under(f, "", &n);

	tree_text(&f->tree, "app/main.py", "print('hello, changed')\n", 0644);
	assert_int_equal(lk_layout_open(&layout, f->layout_dir, &err), LK_OK);
	lk_error_clear(&err);
	assert_int_equal(lk_layer_write(&layout, &f->tree.scan, files, n, &o, &info, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "app/main.py"));
	assert_non_null(strstr(err.msg, "changed while being read"));
	assert_string_equal(info.digest, "");
	/* Nothing half-written stays behind. */
	assert_int_equal(count_tmp(f->layout_dir), 0);
	assert_int_equal(layout.n_new_blobs, 0);
	lk_layout_abort(&layout);
	lk_layout_release(&layout);
	assert_int_equal(access(f->layout_dir, F_OK), -1);
	free(files);
}

static void test_bad_level_fails_cleanly(void **state)
{
	struct fixture *f = *state;
	struct lk_layout layout;
	struct lk_layer_opts o = layer_opts(LK_COMPRESS_GZIP, 1);
	struct lk_blob_info info;
	struct lk_error err;
	size_t n;
	uint32_t *files = files_under(f, "", &n);

	o.level = 42;
	assert_int_equal(lk_layout_open(&layout, f->layout_dir, &err), LK_OK);
	assert_int_equal(lk_layer_write(&layout, &f->tree.scan, files, n, &o, &info, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "level 42"));
	assert_int_equal(count_tmp(f->layout_dir), 0);
	lk_layout_release(&layout);
	free(files);
}

/* ---- a whole image, checked by the tools runtimes trust ---- */

static int tool_exists(const char *name)
{
	char *cmd = lk_xasprintf("command -v %s >/dev/null 2>&1", name);
	int r = system(cmd) == 0;

	free(cmd);
	return r;
}

static int run(const char *fmt, ...) LK_PRINTF(1, 2);
static int run(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int r;

	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) >= 0);
	va_end(ap);
	r = system(cmd);
	if (r != 0)
		print_message("command failed (%d): %s\n", r, cmd);
	free(cmd);
	return r;
}

/* Two layers (dependencies, app) + config + manifest + index, committed. */
static void image_write(struct fixture *f, enum lk_compression c, char manifest_digest[LK_DIGEST_LEN])
{
	struct lk_layout layout;
	struct lk_layer_opts o = layer_opts(c, 2);
	struct lk_oci_layer layers[2];
	struct lk_error err;
	struct lk_app app;
	char config_digest[LK_DIGEST_LEN];
	char *config, *manifest, *index;
	size_t n_deps = 0, n_app = 0, config_len, manifest_len, index_len;
	uint32_t *deps = lk_xmalloc(f->tree.scan.n_files * sizeof(*deps));
	uint32_t *appf = lk_xmalloc(f->tree.scan.n_files * sizeof(*appf));

	for (size_t i = 0; i < f->tree.scan.n_files; i++) {
		if (!strncmp(f->tree.scan.files[i].path, "app/", 4))
			appf[n_app++] = (uint32_t)i;
		else
			deps[n_deps++] = (uint32_t)i;
	}
	memset(layers, 0, sizeof(layers));
	memset(&app, 0, sizeof(app));
	app.has_cmd = 1;
	lk_string_list_push(&app.cmd, "/app/bin/python3");
	lk_string_list_push(&app.env, "PATH=/app/bin:/usr/bin");
	app.workdir = "/app";
	app.user = "65532:65532";

	assert_int_equal(lk_layout_open(&layout, f->layout_dir, &err), LK_OK);
	assert_int_equal(lk_layer_write(&layout, &f->tree.scan, deps, n_deps, &o, &layers[0].blob, &err), LK_OK);
	assert_int_equal(lk_layer_write(&layout, &f->tree.scan, appf, n_app, &o, &layers[1].blob, &err), LK_OK);
	layers[0].name = "dependencies";
	layers[0].created_by = "layerkit test: dependencies";
	layers[0].comment = "python3.11, fastapi";
	layers[1].name = "app";
	layers[1].created_by = "layerkit test: app";
	layers[1].comment = "app";
	layers[0].media_type = layers[1].media_type = lk_layer_media_type(c);

	config = lk_oci_config_json(&app, lk_oci_host_arch(), "linux", 0, layers, 2, &config_len);
	assert_int_equal(lk_layout_put_blob(&layout, config, config_len, config_digest, &err), LK_OK);
	manifest = lk_oci_manifest_json(config_digest, config_len, layers, 2, &manifest_len);
	assert_int_equal(lk_layout_put_blob(&layout, manifest, manifest_len, manifest_digest, &err), LK_OK);
	index = lk_oci_index_json(manifest_digest, manifest_len, "latest", lk_oci_host_arch(), "linux",
				  &index_len);
	assert_int_equal(lk_layout_commit(&layout, index, index_len, &err), LK_OK);
	lk_layout_release(&layout);
	free(config);
	free(manifest);
	free(index);
	free(deps);
	free(appf);
	lk_string_list_release(&app.cmd);
	lk_string_list_release(&app.env);
}

static void test_image_accepted_by_tools(void **state)
{
	struct fixture *f = *state;
	char manifest_digest[LK_DIGEST_LEN], again[LK_DIGEST_LEN];
	char *bundle = lk_xasprintf("%s/bundle", f->out);
	int checked = 0;

	image_write(f, LK_COMPRESS_GZIP, manifest_digest);
	/* Writing the same image again gives the same manifest (and so the same blobs). */
	image_write(f, LK_COMPRESS_GZIP, again);
	assert_string_equal(manifest_digest, again);

	if (tool_exists("oci-image-tool")) {
		assert_int_equal(run("oci-image-tool validate --type image '%s' >/dev/null", f->layout_dir), 0);
		checked++;
	}
	if (tool_exists("skopeo")) {
		assert_int_equal(run("skopeo inspect oci:'%s':latest >/dev/null", f->layout_dir), 0);
		/* copy reads every blob and checks its digest */
		assert_int_equal(run("skopeo copy -q oci:'%s':latest dir:'%s/skopeo-dir' >/dev/null",
				     f->layout_dir, f->out), 0);
		/* containers-storage refuses a layer with a path twice */
		if (geteuid() == 0)
			assert_int_equal(run("skopeo copy -q oci:'%s':latest "
					     "'containers-storage:[vfs@%s/cs-graph+%s/cs-run]localhost/lk-test:latest'",
					     f->layout_dir, f->out, f->out), 0);
		checked++;
	}
	if (tool_exists("umoci") && geteuid() == 0) {
		/* umoci checks every diff_id, with Go's gzip reader (multi-member). */
		assert_int_equal(run("umoci unpack --image '%s':latest '%s' >/dev/null", f->layout_dir, bundle), 0);
		/* The unpacked tree is the input: same names, bytes and link targets. */
		assert_int_equal(run("diff -r --no-dereference '%s' '%s/rootfs/app'", f->tree.root, bundle), 0);
		assert_int_equal(run("test -d '%s/rootfs/app/app/data/empty'", bundle), 0);
		assert_int_equal(run("test \"$(stat -c %%i '%s/rootfs/app/lib/python3.11/site-packages/fastapi/copy.py')\" = "
				     "\"$(stat -c %%i '%s/rootfs/app/lib/python3.11/site-packages/fastapi/__init__.py')\"",
				     bundle, bundle), 0);
		assert_int_equal(run("test \"$(stat -c %%a '%s/rootfs/app/bin/python3.11')\" = 755 && "
				     "test \"$(stat -c %%a '%s/rootfs/app/app/main.py')\" = 644",
				     bundle, bundle), 0);
		checked++;
	}
	if (!checked)
		print_message("no OCI tools on PATH: only the layout was checked\n");
	free(bundle);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_media_types),
		cmocka_unit_test_setup_teardown(test_layer_gzip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layer_zstd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layer_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_layers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changed_file_fails_layer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_level_fails_cleanly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_accepted_by_tools, setup, teardown),
	};

	return cmocka_run_group_tests_name("writer", tests, NULL, NULL);
}
