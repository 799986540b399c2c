/* test_diff.c - diff: reading OCI layouts, and what B adds to A. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diff.h"
#include "oci.h"

/* ---- images by hand, for the arithmetic ---- */

struct fake_layer {
	const char *digest_seed;	/* the digest is sha256:<seed padded with 0> */
	uint64_t size;
	const char *name;
};

static char *fake_digest(const char *seed)
{
	char hex[LK_SHA256_HEX_LEN + 1];

	memset(hex, '0', LK_SHA256_HEX_LEN);
	hex[LK_SHA256_HEX_LEN] = '\0';
	memcpy(hex, seed, strlen(seed));
	return lk_xasprintf("sha256:%s", hex);
}

static void fake_image(struct lk_image *img, const char *manifest, const char *config,
		       const struct fake_layer *layers, size_t n)
{
	memset(img, 0, sizeof(*img));
	img->source = lk_xstrdup(manifest);
	img->manifest_digest = fake_digest(manifest);
	img->manifest_size = 1000;
	img->config_digest = fake_digest(config);
	img->config_size = 200;
	img->layers = lk_xcalloc(n + 1, sizeof(*img->layers));
	img->n_layers = n;
	for (size_t i = 0; i < n; i++) {
		img->layers[i].digest = fake_digest(layers[i].digest_seed);
		img->layers[i].size = layers[i].size;
		img->layers[i].name = lk_xstrdup(layers[i].name);
		img->layers[i].units = lk_xstrdup("");
		img->layers[i].diff_id = lk_xstrdup("");
		img->layers[i].media_type = lk_xstrdup("");
	}
}

static const struct fake_layer base[] = {
	{ "a1", 5000, "interpreter" },
	{ "b1", 300, "pkg-fastapi" },
	{ "c1", 700, "pkg-pydantic" },
	{ "d1", 40, "app" },
};

static void test_identical(void **state)
{
	struct lk_image a, b;
	struct lk_image_diff d;

	fake_image(&a, "aa", "cc", base, 4);
	fake_image(&b, "aa", "cc", base, 4);
	lk_image_diff(&a, &b, &d);
	assert_int_equal(d.n_shared, 4);
	assert_int_equal(d.n_missing, 0);
	assert_int_equal(d.shared_bytes, 6040);
	assert_true(d.config_shared && d.manifest_shared);
	assert_int_equal(d.transfer_bytes, 0);
	assert_int_equal(d.a_bytes, 6040 + 200 + 1000);
	assert_int_equal(d.both_bytes, d.a_bytes);
	assert_int_equal(d.n_removed, 0);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(d.layers[i].status, LK_DIFF_SHARED);
		assert_int_equal(d.layers[i].a_index, (long)i);
	}
	lk_image_diff_release(&d);
	lk_image_release(&a);
	lk_image_release(&b);
}

static void test_one_layer_changed(void **state)
{
	struct fake_layer changed[4];
	struct lk_image a, b;
	struct lk_image_diff d;

	memcpy(changed, base, sizeof(changed));
	changed[2].digest_seed = "c2";
	changed[2].size = 710;
	fake_image(&a, "aa", "ca", base, 4);
	fake_image(&b, "ab", "cb", changed, 4);
	lk_image_diff(&a, &b, &d);
	assert_int_equal(d.n_shared, 3);
	assert_int_equal(d.n_missing, 1);
	assert_int_equal(d.missing_bytes, 710);
	assert_int_equal(d.layers[2].status, LK_DIFF_CHANGED);
	assert_int_equal(d.layers[2].a_index, 2);
	assert_int_equal(d.layers[3].status, LK_DIFF_SHARED);
	/* The new layer, a new config and a new manifest move. */
	assert_false(d.config_shared);
	assert_false(d.manifest_shared);
	assert_int_equal(d.transfer_bytes, 710 + 200 + 1000);
	assert_int_equal(d.both_bytes, d.a_bytes + 1910);
	assert_int_equal(d.n_removed, 1);
	assert_int_equal(d.removed[0], 2);
	lk_image_diff_release(&d);
	lk_image_release(&a);
	lk_image_release(&b);
}

static void test_disjoint(void **state)
{
	static const struct fake_layer other[] = {
		{ "e1", 100, "dependencies" },
		{ "f1", 50, "app-other" },
	};
	struct lk_image a, b;
	struct lk_image_diff d;

	fake_image(&a, "aa", "ca", base, 4);
	fake_image(&b, "ab", "cb", other, 2);
	lk_image_diff(&a, &b, &d);
	assert_int_equal(d.n_shared, 0);
	assert_int_equal(d.n_missing, 2);
	assert_int_equal(d.layers[0].status, LK_DIFF_NEW);
	assert_int_equal(d.layers[0].a_index, -1);
	assert_int_equal(d.layers[1].status, LK_DIFF_NEW);
	assert_int_equal(d.transfer_bytes, d.b_bytes);
	assert_int_equal(d.b_bytes, 150 + 200 + 1000);
	assert_int_equal(d.n_removed, 4);
	lk_image_diff_release(&d);
	lk_image_release(&a);
	lk_image_release(&b);
}

static void test_repeated_layer_counts_once(void **state)
{
	static const struct fake_layer twice[] = {
		{ "e1", 100, "x" },
		{ "e1", 100, "y" },
		{ "a1", 5000, "interpreter" },
	};
	struct lk_image a, b;
	struct lk_image_diff d;

	fake_image(&a, "aa", "ca", base, 4);
	fake_image(&b, "ab", "ca", twice, 3);
	lk_image_diff(&a, &b, &d);
	assert_int_equal(d.n_missing, 1);
	assert_int_equal(d.missing_bytes, 100);
	assert_true(d.layers[1].repeat);
	assert_int_equal(d.n_shared, 1);
	/* Same config: only the layer and the manifest move. */
	assert_true(d.config_shared);
	assert_int_equal(d.transfer_bytes, 100 + 1000);
	assert_int_equal(d.b_bytes, 100 + 5000 + 200 + 1000);
	lk_image_diff_release(&d);
	lk_image_release(&a);
	lk_image_release(&b);
}

/* ---- layouts on disk ---- */

static char tmpdir[256];

static int setup_dir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "%s/lk-diff-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Stores data as a blob of the layout; returns its digest (malloc'ed). */
static char *blob_put(const char *layout, const void *data, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char hex[LK_SHA256_HEX_LEN + 1];
	char *path;

	EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL);
	lk_hex(md, md_len, hex);
	path = lk_xasprintf("%s/blobs/sha256/%s", layout, hex);
	write_file(path, data, len);
	free(path);
	return lk_xasprintf("sha256:%s", hex);
}

static char *json_blob_put(const char *layout, json_t *doc, size_t *len)
{
	char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	char *digest;

	*len = strlen(text);
	digest = blob_put(layout, text, *len);
	free(text);
	json_decref(doc);
	return digest;
}

/*
 * A layout at tmpdir/name with one image tagged tag: layers of the given
 * contents and names, an empty_layer history entry first (to check the
 * history mapping).  With nested, index.json points at an index.
 */
static char *layout_make(const char *name, const char *tag, const char *const *contents,
			 const char *const *names, size_t n, int nested)
{
	char *dir = lk_xasprintf("%s/%s", tmpdir, name), *sub;
	json_t *layers = json_array(), *diff_ids = json_array(), *history = json_array();
	char *cdigest, *mdigest;
	size_t clen, mlen;
	json_t *index;

	assert_int_equal(mkdir(dir, 0755), 0);
	sub = lk_xasprintf("%s/blobs", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	free(sub);
	sub = lk_xasprintf("%s/blobs/sha256", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	free(sub);
	sub = lk_xasprintf("%s/oci-layout", dir);
	write_file(sub, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	free(sub);
	json_array_append_new(history, json_pack("{s:s, s:b}", "created_by", "ENV x", "empty_layer", 1));
	for (size_t i = 0; i < n; i++) {
		char *d = blob_put(dir, contents[i], strlen(contents[i]));

		json_array_append_new(layers, json_pack("{s:s, s:s, s:I, s:{s:s}}",
			"mediaType", "application/vnd.oci.image.layer.v1.tar", "digest", d,
			"size", (json_int_t)strlen(contents[i]),
			"annotations", LK_ANNOTATION_LAYER_NAME, names[i]));
		json_array_append_new(diff_ids, json_string(d));
		json_array_append_new(history, json_pack("{s:s, s:s}", "created_by", "layerkit",
							 "comment", names[i]));
		free(d);
	}
	cdigest = json_blob_put(dir, json_pack("{s:s, s:s, s:{s:s, s:o}, s:o}", "architecture",
					       "amd64", "os", "linux", "rootfs", "type", "layers",
					       "diff_ids", diff_ids, "history", history), &clen);
	mdigest = json_blob_put(dir, json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}",
					       "schemaVersion", 2, "mediaType", LK_MT_MANIFEST,
					       "config", "mediaType", LK_MT_CONFIG, "digest", cdigest,
					       "size", (json_int_t)clen, "layers", layers), &mlen);
	if (nested) {
		char *idigest = json_blob_put(dir, json_pack("{s:i, s:s, s:[{s:s, s:s, s:I}]}",
			"schemaVersion", 2, "mediaType", LK_MT_INDEX, "manifests",
			"mediaType", LK_MT_MANIFEST, "digest", mdigest, "size", (json_int_t)mlen), &mlen);

		free(mdigest);
		mdigest = idigest;
	}
	index = json_pack("{s:i, s:[{s:s, s:s, s:I, s:{s:s}}]}", "schemaVersion", 2, "manifests",
			  "mediaType", nested ? LK_MT_INDEX : LK_MT_MANIFEST, "digest", mdigest,
			  "size", (json_int_t)mlen, "annotations", LK_ANNOTATION_REF_NAME, tag);
	sub = lk_xasprintf("%s/index.json", dir);
	assert_int_equal(json_dump_file(index, sub, JSON_COMPACT), 0);
	free(sub);
	json_decref(index);
	free(cdigest);
	free(mdigest);
	return dir;
}

static void test_load_and_diff_layouts(void **state)
{
	static const char *const names[] = { "deps", "app" };
	static const char *const v1[] = { "dependency bytes", "app v1" };
	static const char *const v2[] = { "dependency bytes", "app v2!" };
	char *a_dir = layout_make("a", "v1", v1, names, 2, 0);
	char *b_dir = layout_make("b", "v2", v2, names, 2, 1);
	char *a_src = lk_xasprintf("%s:v1", a_dir);
	struct lk_image a, b;
	struct lk_image_diff d;
	struct lk_error err;

	lk_error_clear(&err);
	if (lk_image_load(&a, a_src, &err) != LK_OK)
		fail_msg("%s", err.msg);
	assert_string_equal(a.tag, "v1");
	assert_int_equal(a.n_layers, 2);
	assert_string_equal(a.layers[1].name, "app");
	/* History: the empty_layer entry is skipped. */
	assert_string_equal(a.layers[0].units, "deps");
	assert_string_equal(a.layers[1].units, "app");
	assert_string_equal(a.layers[0].diff_id, a.layers[0].digest);
	assert_int_equal(a.layers[1].size, strlen("app v1"));
	/* No tag: the first image; through a nested index. */
	if (lk_image_load(&b, b_dir, &err) != LK_OK)
		fail_msg("%s", err.msg);
	assert_null(b.tag);
	assert_int_equal(b.n_layers, 2);
	lk_image_diff(&a, &b, &d);
	assert_int_equal(d.n_shared, 1);
	assert_int_equal(d.layers[1].status, LK_DIFF_CHANGED);
	assert_int_equal(d.missing_bytes, strlen("app v2!"));
	assert_int_equal(d.transfer_bytes, strlen("app v2!") + b.config_size + b.manifest_size);
	lk_image_diff_release(&d);
	lk_image_release(&b);
	lk_image_release(&a);
	free(a_src);
	free(a_dir);
	free(b_dir);
}

static void test_bad_layouts(void **state)
{
	static const char *const names[] = { "only" };
	static const char *const content[] = { "layer" };
	char *dir = layout_make("bad", "t", content, names, 1, 0);
	char *src, *path;
	struct lk_image img;
	struct lk_error err;
	json_t *index;

	/* No layout there. */
	lk_error_clear(&err);
	src = lk_xasprintf("%s/nothing", tmpdir);
	assert_int_equal(lk_image_load(&img, src, &err), LK_FAILED);
	assert_int_equal(err.exit_code, LK_EXIT_USAGE);
	assert_non_null(strstr(err.msg, "is not an OCI image layout"));
	lk_image_release(&img);
	free(src);

	/* A tag it does not have. */
	src = lk_xasprintf("%s:nope", dir);
	assert_int_equal(lk_image_load(&img, src, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "no image tagged 'nope'; its tags: t"));
	lk_image_release(&img);
	free(src);

	/* A manifest that does not hash to its name. */
	path = lk_xasprintf("%s/index.json", dir);
	index = json_load_file(path, 0, NULL);
	assert_non_null(index);
	{
		json_t *desc = json_array_get(json_object_get(index, "manifests"), 0);
		char *blob = lk_xasprintf("%s/blobs/sha256/%s", dir,
					  json_string_value(json_object_get(desc, "digest")) + 7);
		FILE *f = fopen(blob, "r+b");

		assert_non_null(f);
		assert_int_equal(fputc('X', f), 'X');
		fclose(f);
		free(blob);
	}
	json_decref(index);
	assert_int_equal(lk_image_load(&img, dir, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "does not hash to its name"));
	lk_image_release(&img);

	/* index.json that is not JSON. */
	write_file(path, "{ not json", 10);
	assert_int_equal(lk_image_load(&img, dir, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "index.json"));
	assert_int_equal(err.exit_code, LK_EXIT_USAGE);
	lk_image_release(&img);
	free(path);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identical),
		cmocka_unit_test(test_one_layer_changed),
		cmocka_unit_test(test_disjoint),
		cmocka_unit_test(test_repeated_layer_counts_once),
		cmocka_unit_test(test_load_and_diff_layouts),
		cmocka_unit_test(test_bad_layouts),
	};

	return cmocka_run_group_tests_name("diff", tests, setup_dir, teardown_dir);
}
