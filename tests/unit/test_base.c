/* test_base.c - base images from OCI layouts (platform pick, digests, config merge, layer
 * links) and the docker-archive writer (core/base.c, core/archive_out.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive_out.h"
#include "base.h"
#include "layout.h"
#include "oci.h"

struct fixture {
	char tmp[PATH_MAX];
	char layout[PATH_MAX + 16];	/* tmp/base: the base layout */
	char layer1[LK_DIGEST_LEN], layer2[LK_DIGEST_LEN];	/* amd64's layers */
	char arm_layer[LK_DIGEST_LEN];
	char amd64_manifest[LK_DIGEST_LEN];
};

static void sha256_of(const char *data, size_t len, char out[LK_DIGEST_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
	memcpy(out, "sha256:", 7);
	lk_hex(md, n, out + 7);
}

/* Writes data as a blob of the layout; its digest into out. */
static void put_blob(const struct fixture *f, const char *data, char out[LK_DIGEST_LEN])
{
	char *path;
	FILE *fp;

	sha256_of(data, strlen(data), out);
	path = lk_xasprintf("%s/blobs/sha256/%s", f->layout, out + 7);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(data, fp);
	fclose(fp);
	free(path);
}

static void put_file(const char *dir, const char *name, const char *data)
{
	char *path = lk_xasprintf("%s/%s", dir, name);
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(data, fp);
	fclose(fp);
	free(path);
}

/* One image's config + manifest; the manifest's digest and size out. */
static void put_image(const struct fixture *f, const char *arch, const char *layer_a,
		      const char *layer_b, const char *run_config, char digest[LK_DIGEST_LEN],
		      size_t *size)
{
	char cfg_digest[LK_DIGEST_LEN];
	char *cfg, *manifest;

	cfg = lk_xasprintf("{\"architecture\":\"%s\",\"os\":\"linux\",\"config\":%s,"
			   "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:%064d\"%s]},"
			   "\"history\":[{\"created_by\":\"base step 1\"}%s]}",
			   arch, run_config, 1, layer_b ? ",\"sha256:0000000000000000000000000000000000000000000000000000000000000002\"" : "",
			   layer_b ? ",{\"created_by\":\"base step 2\"}" : "");
	put_blob(f, cfg, cfg_digest);
	manifest = lk_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\","
				"\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu},"
				"\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\",\"digest\":\"%s\",\"size\":6}%s%s%s]}",
				LK_MT_MANIFEST, "application/vnd.oci.image.config.v1+json",
				cfg_digest, strlen(cfg), layer_a, layer_b ? ",{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" : "",
				layer_b ? layer_b : "", layer_b ? "\",\"size\":6}" : "");
	put_blob(f, manifest, digest);
	*size = strlen(manifest);
	free(cfg);
	free(manifest);
}

/*
 * A layout with tag "v1": an index of linux/amd64 (two layers, a run
 * config) and linux/arm64/v8 (one layer); tag "single": the amd64
 * manifest alone.
 */
static int setup(void **state)
{
	struct fixture *f = lk_xcalloc(1, sizeof(*f));
	char arm_manifest[LK_DIGEST_LEN], nested[LK_DIGEST_LEN];
	size_t amd_size, arm_size;
	char *index, *blobs, *top;

	snprintf(f->tmp, sizeof(f->tmp), "%s/lk-base-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(f->tmp))
		return -1;
	snprintf(f->layout, sizeof(f->layout), "%s/base", f->tmp);
	blobs = lk_xasprintf("%s/blobs/sha256", f->layout);
	top = lk_xasprintf("mkdir -p '%s'", blobs);
	if (system(top) != 0)
		return -1;
	free(top);
	free(blobs);
	put_file(f->layout, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
	put_blob(f, "layer1", f->layer1);
	put_blob(f, "layer2", f->layer2);
	put_blob(f, "armlyr", f->arm_layer);
	put_image(f, "amd64", f->layer1, f->layer2,
		  "{\"Env\":[\"PATH=/usr/bin\",\"LANG=C\"],\"WorkingDir\":\"/srv\",\"User\":\"42\","
		  "\"Cmd\":[\"sh\"],\"ExposedPorts\":{\"80/tcp\":{}},\"Labels\":{\"a\":\"base\",\"b\":\"base\"}}",
		  f->amd64_manifest, &amd_size);
	put_image(f, "arm64", f->arm_layer, NULL, "{}", arm_manifest, &arm_size);
	index = lk_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
			     "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
			     "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}",
			     LK_MT_INDEX, LK_MT_MANIFEST, arm_manifest, arm_size, LK_MT_MANIFEST,
			     f->amd64_manifest, amd_size);
	put_blob(f, index, nested);
	top = lk_xasprintf("{\"schemaVersion\":2,\"manifests\":["
			   "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}},"
			   "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":{\"org.opencontainers.image.ref.name\":\"single\"}}]}",
			   LK_MT_INDEX, nested, strlen(index), LK_MT_MANIFEST, f->amd64_manifest, amd_size);
	put_file(f->layout, "index.json", top);
	free(top);
	free(index);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char *cmd = lk_xasprintf("rm -rf '%s'", f->tmp);
	int rc = system(cmd);

	free(cmd);
	free(f);
	return rc == 0 ? 0 : -1;
}

static void opts_for(struct lk_base_opts *o, const struct fixture *f, const char *arch,
		     const char *variant)
{
	memset(o, 0, sizeof(*o));
	o->relative_to = f->tmp;
	o->os = "linux";
	o->arch = arch;
	o->variant = variant;
	o->cache_dir = f->tmp;
}

static void test_index_picks_platform(void **state)
{
	struct fixture *f = *state;
	struct lk_base_opts o;
	struct lk_base b;
	struct lk_error err;

	lk_error_clear(&err);
	opts_for(&o, f, "amd64", NULL);
	assert_int_equal(lk_base_open(&b, "base:v1", &o, &err), LK_OK);
	assert_string_equal(b.manifest_digest, f->amd64_manifest);
	assert_int_equal(b.n_layers, 2);
	assert_string_equal(b.layers[0].digest, f->layer1);
	/* Docker's gzip layer type is carried as OCI's (the same bytes) */
	assert_string_equal(b.layers[0].media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
	assert_string_equal(b.layers[1].digest, f->layer2);
	assert_string_equal(b.arch, "amd64");
	lk_base_release(&b);

	opts_for(&o, f, "arm64", NULL);
	assert_int_equal(lk_base_open(&b, "base:v1", &o, &err), LK_OK);
	assert_int_equal(b.n_layers, 1);
	assert_string_equal(b.layers[0].digest, f->arm_layer);
	assert_string_equal(b.variant, "v8");
	lk_base_release(&b);

	/* an absolute path works the same; a tagged single manifest too */
	{
		char *spec = lk_xasprintf("%s:single", f->layout);

		opts_for(&o, f, "amd64", NULL);
		assert_int_equal(lk_base_open(&b, spec, &o, &err), LK_OK);
		assert_string_equal(b.manifest_digest, f->amd64_manifest);
		lk_base_release(&b);
		free(spec);
	}
}

static void test_wrong_platform_and_tag(void **state)
{
	struct fixture *f = *state;
	struct lk_base_opts o;
	struct lk_base b;
	struct lk_error err;

	lk_error_clear(&err);
	opts_for(&o, f, "s390x", NULL);
	assert_int_equal(lk_base_open(&b, "base:v1", &o, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "no image for linux/s390x"));
	assert_non_null(strstr(err.msg, "linux/arm64/v8, linux/amd64"));
	assert_non_null(strstr(err.msg, "platform ="));

	/* a single-platform image of another architecture */
	lk_error_clear(&err);
	assert_int_equal(lk_base_open(&b, "base:single", &o, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "is for linux/amd64"));

	lk_error_clear(&err);
	opts_for(&o, f, "amd64", NULL);
	assert_int_equal(lk_base_open(&b, "base:nope", &o, &err), LK_FAILED);
	assert_int_equal(err.exit_code, LK_EXIT_USAGE);
	assert_non_null(strstr(err.msg, "no tag 'nope'"));
	assert_non_null(strstr(err.msg, "v1, single"));

	lk_error_clear(&err);
	assert_int_equal(lk_base_open(&b, "./missing:v1", &o, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "not an OCI image layout"));
}

static void test_damaged_manifest_refused(void **state)
{
	struct fixture *f = *state;
	struct lk_base_opts o;
	struct lk_base b;
	struct lk_error err;
	char *path = lk_xasprintf("%s/blobs/sha256/%s", f->layout, f->amd64_manifest + 7);
	FILE *fp = fopen(path, "r+");

	/* same size, one byte changed */
	assert_non_null(fp);
	fputc(' ', fp);
	fclose(fp);
	lk_error_clear(&err);
	opts_for(&o, f, "amd64", NULL);
	assert_int_equal(lk_base_open(&b, "base:single", &o, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "does not match its digest"));
	assert_non_null(strstr(err.msg, f->amd64_manifest + 7));
	free(path);
}

static json_t *merged(const struct lk_base *b, const char *app, int workdir_set)
{
	struct lk_error err;
	size_t len = 0;
	char *text;
	json_t *doc;

	lk_error_clear(&err);
	text = lk_base_config_json(b, app, strlen(app), workdir_set, &len, &err);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	doc = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(doc);
	return doc;
}

static void test_config_merge(void **state)
{
	struct fixture *f = *state;
	struct lk_base_opts o;
	struct lk_base b;
	struct lk_error err;
	json_t *doc, *run, *ids, *hist;
	const char *app =
		"{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"1970-01-01T00:00:00Z\","
		"\"config\":{\"Env\":[\"LANG=C.UTF-8\",\"APP=1\"],\"WorkingDir\":\"/app\","
		"\"Entrypoint\":[\"python3\"],\"Labels\":{\"b\":\"app\"}},"
		"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:app\"]},"
		"\"history\":[{\"created_by\":\"layerkit app\"}]}";

	lk_error_clear(&err);
	opts_for(&o, f, "amd64", NULL);
	assert_int_equal(lk_base_open(&b, "base:single", &o, &err), LK_OK);
	doc = merged(&b, app, 0);
	run = json_object_get(doc, "config");
	/* Env: the base's order, LANG replaced in place, APP added */
	assert_int_equal(json_array_size(json_object_get(run, "Env")), 3);
	assert_string_equal(json_string_value(json_array_get(json_object_get(run, "Env"), 0)), "PATH=/usr/bin");
	assert_string_equal(json_string_value(json_array_get(json_object_get(run, "Env"), 1)), "LANG=C.UTF-8");
	assert_string_equal(json_string_value(json_array_get(json_object_get(run, "Env"), 2)), "APP=1");
	/* the default workdir does not override the base's */
	assert_string_equal(json_string_value(json_object_get(run, "WorkingDir")), "/srv");
	assert_string_equal(json_string_value(json_object_get(run, "User")), "42");
	assert_non_null(json_object_get(json_object_get(run, "ExposedPorts"), "80/tcp"));
	/* a new Entrypoint without Cmd drops the base's Cmd */
	assert_null(json_object_get(run, "Cmd"));
	assert_string_equal(json_string_value(json_array_get(json_object_get(run, "Entrypoint"), 0)), "python3");
	assert_string_equal(json_string_value(json_object_get(json_object_get(run, "Labels"), "a")), "base");
	assert_string_equal(json_string_value(json_object_get(json_object_get(run, "Labels"), "b")), "app");
	/* diff_ids and history: the base's, then the app's */
	ids = json_object_get(json_object_get(doc, "rootfs"), "diff_ids");
	assert_int_equal(json_array_size(ids), 3);
	assert_string_equal(json_string_value(json_array_get(ids, 2)), "sha256:app");
	hist = json_object_get(doc, "history");
	assert_int_equal(json_array_size(hist), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(hist, 0), "created_by")), "base step 1");
	assert_string_equal(json_string_value(json_object_get(json_array_get(hist, 2), "created_by")), "layerkit app");
	json_decref(doc);

	/* an explicit workdir wins */
	doc = merged(&b, app, 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "config"), "WorkingDir")), "/app");
	json_decref(doc);
	lk_base_release(&b);
}

static void test_layers_linked_unchanged(void **state)
{
	struct fixture *f = *state;
	struct lk_base_opts o;
	struct lk_base b;
	struct lk_layout layout;
	struct lk_error err;
	char *out = lk_xasprintf("%s/out", f->tmp);
	char *src = lk_xasprintf("%s/blobs/sha256/%s", f->layout, f->layer1 + 7);
	char *dst = lk_xasprintf("%s/blobs/sha256/%s", out, f->layer1 + 7);
	struct stat s1, s2;

	lk_error_clear(&err);
	opts_for(&o, f, "amd64", NULL);
	assert_int_equal(lk_base_open(&b, "base:single", &o, &err), LK_OK);
	assert_int_equal(lk_layout_open(&layout, out, &err), LK_OK);
	assert_int_equal(lk_base_add_layers(&b, &layout, &err), LK_OK);
	assert_int_equal(stat(src, &s1), 0);
	assert_int_equal(stat(dst, &s2), 0);
	/* the same file: linked, not re-written */
	assert_int_equal(s1.st_ino, s2.st_ino);
	assert_int_equal(b.pulled_blobs, 0);
	lk_layout_abort(&layout);
	lk_layout_release(&layout);
	lk_base_release(&b);
	free(out);
	free(src);
	free(dst);
}

/* Reads the archive's entry names (in order) and one entry's content. */
static void read_archive(const char *path, char names[][96], size_t *n, const char *want,
			 char *content, size_t size)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;

	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
	*n = 0;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		assert_int_equal(archive_entry_uid(e), 0);
		assert_int_equal(archive_entry_mtime(e), 7);
		snprintf(names[(*n)++], 96, "%s", archive_entry_pathname(e));
		if (!strcmp(archive_entry_pathname(e), want)) {
			la_ssize_t got = archive_read_data(a, content, size - 1);

			assert_true(got >= 0);
			content[got] = '\0';
		}
	}
	archive_read_free(a);
}

static void test_docker_archive(void **state)
{
	struct fixture *f = *state;
	struct lk_archive_image image = { .layout_dir = f->layout,
					  .manifest_digest = f->amd64_manifest,
					  .image_name = "team/web", .tag = "v2", .mtime = 7 };
	struct lk_error err;
	char path[PATH_MAX + 16];
	char names[16][96], text[4096];
	size_t n;
	json_t *doc, *index;
	struct stat st1, st2;

	/* the layout's index.json must name the manifest: tag "single" does */
	snprintf(path, sizeof(path), "%s/web.tar", f->tmp);
	lk_error_clear(&err);
	assert_int_equal(lk_archive_write(path, &image, &err), LK_OK);
	read_archive(path, names, &n, "manifest.json", text, sizeof(text));
	/* blobs/, blobs/sha256/, 2 layers + config + manifest, 3 documents */
	assert_int_equal(n, 9);
	assert_string_equal(names[0], "blobs/");
	assert_string_equal(names[1], "blobs/sha256/");
	for (size_t i = 3; i < 6; i++)
		assert_true(strcmp(names[i - 1], names[i]) < 0);
	assert_string_equal(names[6], "index.json");
	assert_string_equal(names[7], "manifest.json");
	assert_string_equal(names[8], "oci-layout");
	doc = json_loads(text, 0, NULL);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_array_get(doc, 0), "RepoTags"), 0)),
			    "team/web:v2");
	assert_int_equal(json_array_size(json_object_get(json_array_get(doc, 0), "Layers")), 2);
	assert_int_equal(strncmp(json_string_value(json_array_get(json_object_get(json_array_get(doc, 0), "Layers"), 0)),
				 "blobs/sha256/", 13), 0);
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_array_get(doc, 0), "Layers"), 0)) + 13,
			    f->layer1 + 7);
	json_decref(doc);

	read_archive(path, names, &n, "index.json", text, sizeof(text));
	index = json_loads(text, 0, NULL);
	assert_non_null(index);
	{
		json_t *d = json_array_get(json_object_get(index, "manifests"), 0);
		json_t *ann = json_object_get(d, "annotations");

		assert_string_equal(json_string_value(json_object_get(d, "digest")), f->amd64_manifest);
		assert_string_equal(json_string_value(json_object_get(ann, "io.containerd.image.name")),
				    "docker.io/team/web:v2");
		assert_string_equal(json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name")), "v2");
	}
	json_decref(index);

	/* reproducible: a second write gives the same bytes, by rename (a new inode) */
	assert_int_equal(stat(path, &st1), 0);
	{
		char *cmd = lk_xasprintf("cp '%s' '%s.1'", path, path);

		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	assert_int_equal(lk_archive_write(path, &image, &err), LK_OK);
	assert_int_equal(stat(path, &st2), 0);
	assert_true(st1.st_ino != st2.st_ino);
	{
		char *cmd = lk_xasprintf("cmp -s '%s' '%s.1'", path, path);

		assert_int_equal(system(cmd), 0);
		free(cmd);
	}

	/* a bad image name is refused, and nothing is left behind */
	image.image_name = "Team/Web";
	assert_int_equal(lk_archive_write(path, &image, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "image_name = Team/Web"));
	{
		char *cmd = lk_xasprintf("ls '%s' | grep -q tmp", f->tmp);

		/* grep -q finds nothing: exit status 1 */
		assert_int_not_equal(system(cmd), 0);
		free(cmd);
	}
}

/* An image on an arm64/v8 base says so in its index. */
static void test_index_variant(void **state)
{
	size_t len = 0;
	char *text = lk_oci_index_json_variant("sha256:" "0000000000000000000000000000000000000000000000000000000000000001",
					       100, "v1", "arm64", "linux", "v8", &len);
	json_t *doc = json_loads(text, 0, NULL);
	json_t *platform = json_object_get(json_array_get(json_object_get(doc, "manifests"), 0),
					   "platform");

	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(platform, "architecture")), "arm64");
	assert_string_equal(json_string_value(json_object_get(platform, "variant")), "v8");
	json_decref(doc);
	free(text);
	text = lk_oci_index_json("sha256:" "0000000000000000000000000000000000000000000000000000000000000001",
				 100, "v1", "amd64", "linux", &len);
	assert_null(strstr(text, "variant"));
	free(text);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_index_picks_platform, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_platform_and_tag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_manifest_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_layers_linked_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_docker_archive, setup, teardown),
		cmocka_unit_test(test_index_variant),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
