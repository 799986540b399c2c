/* test_oci.c - image config, manifest and index documents (jansson, compact, sorted keys). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "oci.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"
#define D3 "sha256:3333333333333333333333333333333333333333333333333333333333333333"
#define D4 "sha256:4444444444444444444444444444444444444444444444444444444444444444"

static void two_layers(struct lk_oci_layer layers[2])
{
	memset(layers, 0, 2 * sizeof(*layers));
	layers[0].name = "dependencies";
	layers[0].created_by = "layerkit two-layer: dependencies";
	layers[0].comment = "python3.11, fastapi 0.110.0";
	layers[0].media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
	strcpy(layers[0].blob.digest, D1);
	strcpy(layers[0].blob.diff_id, D2);
	layers[0].blob.size = 1000;
	layers[1].name = "app";
	layers[1].created_by = "layerkit two-layer: app";
	layers[1].comment = "app";
	layers[1].media_type = "application/vnd.oci.image.layer.v1.tar+gzip";
	strcpy(layers[1].blob.digest, D3);
	strcpy(layers[1].blob.diff_id, D4);
	layers[1].blob.size = 20;
}

static json_t *parse(const char *text, size_t len)
{
	json_error_t jerr;
	json_t *doc;

	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	/* Compact: no whitespace outside strings in these documents. */
	assert_null(strchr(text, '\n'));
	assert_null(strstr(text, "\": "));
	assert_null(strstr(text, ", \""));
	doc = json_loads(text, 0, &jerr);
	if (!doc)
		fail_msg("invalid JSON (%s): %s", jerr.text, text);
	return doc;
}

static const char *str_at(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	if (!s)
		fail_msg("no string '%s'", key);
	return s;
}

static void test_arch_names(void **state)
{
	struct utsname u;

	assert_string_equal(lk_oci_arch_of_machine("x86_64"), "amd64");
	assert_string_equal(lk_oci_arch_of_machine("aarch64"), "arm64");
	assert_string_equal(lk_oci_arch_of_machine("armv7l"), "arm");
	assert_string_equal(lk_oci_arch_of_machine("i686"), "386");
	assert_string_equal(lk_oci_arch_of_machine("ppc64le"), "ppc64le");
	assert_string_equal(lk_oci_arch_of_machine("s390x"), "s390x");
	assert_string_equal(lk_oci_arch_of_machine("riscv64"), "riscv64");
	assert_null(lk_oci_arch_of_machine("pdp11"));
	assert_int_equal(uname(&u), 0);
	if (lk_oci_arch_of_machine(u.machine))
		assert_string_equal(lk_oci_host_arch(), lk_oci_arch_of_machine(u.machine));
	assert_non_null(lk_oci_host_arch());
}

static void test_rfc3339(void **state)
{
	char buf[64];

	assert_int_equal(lk_oci_rfc3339(0, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	assert_int_equal(lk_oci_rfc3339(1700000000, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2023-11-14T22:13:20Z");
	assert_int_equal(lk_oci_rfc3339(315532800, buf, sizeof(buf)), 0);	/* SOURCE_DATE_EPOCH of zip */
	assert_string_equal(buf, "1980-01-01T00:00:00Z");
	assert_int_equal(lk_oci_rfc3339(0, buf, 5), -1);
}

static void test_config_full(void **state)
{
	struct lk_oci_layer layers[2];
	struct lk_app app;
	json_t *doc, *cfg, *rootfs, *history, *labels;
	char *text;
	size_t len = 0;

	memset(&app, 0, sizeof(app));
	lk_string_list_push(&app.env, "PATH=/usr/bin:/bin");
	lk_string_list_push(&app.env, "PYTHONUNBUFFERED=1");
	app.has_entrypoint = 1;
	lk_string_list_push(&app.entrypoint, "/app/bin/python3");
	lk_string_list_push(&app.entrypoint, "-m");
	app.has_cmd = 1;
	lk_string_list_push(&app.cmd, "server");
	app.workdir = "/app";
	app.user = "65532:65532";
	lk_string_list_push(&app.label_keys, "org.opencontainers.image.source");
	lk_string_list_push(&app.label_values, "https://example.com/repo");
	lk_string_list_push(&app.label_keys, "team");
	lk_string_list_push(&app.label_values, "web");
	two_layers(layers);

	text = lk_oci_config_json(&app, "amd64", "linux", 1700000000, layers, 2, &len);
	doc = parse(text, len);
	assert_string_equal(str_at(doc, "architecture"), "amd64");
	assert_string_equal(str_at(doc, "os"), "linux");
	assert_string_equal(str_at(doc, "created"), "2023-11-14T22:13:20Z");
	cfg = json_object_get(doc, "config");
	assert_int_equal(json_array_size(json_object_get(cfg, "Env")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(cfg, "Env"), 1)),
			    "PYTHONUNBUFFERED=1");
	assert_int_equal(json_array_size(json_object_get(cfg, "Entrypoint")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(cfg, "Entrypoint"), 0)),
			    "/app/bin/python3");
	assert_string_equal(json_string_value(json_array_get(json_object_get(cfg, "Cmd"), 0)), "server");
	assert_string_equal(str_at(cfg, "WorkingDir"), "/app");
	assert_string_equal(str_at(cfg, "User"), "65532:65532");
	labels = json_object_get(cfg, "Labels");
	assert_string_equal(str_at(labels, "team"), "web");
	assert_string_equal(str_at(labels, "org.opencontainers.image.source"), "https://example.com/repo");

	rootfs = json_object_get(doc, "rootfs");
	assert_string_equal(str_at(rootfs, "type"), "layers");
	assert_int_equal(json_array_size(json_object_get(rootfs, "diff_ids")), 2);
	/* diff_ids are the uncompressed digests, in layer order. */
	assert_string_equal(json_string_value(json_array_get(json_object_get(rootfs, "diff_ids"), 0)), D2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(rootfs, "diff_ids"), 1)), D4);
	history = json_object_get(doc, "history");
	assert_int_equal(json_array_size(history), 2);
	assert_string_equal(str_at(json_array_get(history, 0), "created_by"), "layerkit two-layer: dependencies");
	assert_string_equal(str_at(json_array_get(history, 0), "comment"), "python3.11, fastapi 0.110.0");
	assert_string_equal(str_at(json_array_get(history, 1), "created"), "2023-11-14T22:13:20Z");
	/* Keys sorted: "architecture" < "config" < "created" < "history" < "os" < "rootfs". */
	assert_true(strstr(text, "\"architecture\"") < strstr(text, "\"config\""));
	assert_true(strstr(text, "\"config\"") < strstr(text, "\"created\""));
	assert_true(strstr(text, "\"history\"") < strstr(text, "\"os\""));
	assert_true(strstr(text, "\"os\"") < strstr(text, "\"rootfs\""));
	json_decref(doc);

	/* The same input gives the same bytes. */
	{
		size_t len2 = 0;
		char *again = lk_oci_config_json(&app, "amd64", "linux", 1700000000, layers, 2, &len2);

		assert_int_equal(len2, len);
		assert_string_equal(again, text);
		free(again);
	}
	free(text);
	lk_string_list_release(&app.env);
	lk_string_list_release(&app.entrypoint);
	lk_string_list_release(&app.cmd);
	lk_string_list_release(&app.label_keys);
	lk_string_list_release(&app.label_values);
}

static void test_config_unset_fields_omitted(void **state)
{
	struct lk_oci_layer layers[2];
	struct lk_app app;
	json_t *doc, *cfg;
	char *text;
	size_t len = 0;

	memset(&app, 0, sizeof(app));
	two_layers(layers);
	text = lk_oci_config_json(&app, "arm64", "linux", 0, layers, 1, &len);
	doc = parse(text, len);
	cfg = json_object_get(doc, "config");
	assert_true(json_is_object(cfg));
	assert_int_equal(json_object_size(cfg), 0);
	assert_string_equal(str_at(doc, "created"), "1970-01-01T00:00:00Z");
	json_decref(doc);
	free(text);

	/* An explicitly empty entrypoint is kept (it clears a base image's). */
	app.has_entrypoint = 1;
	text = lk_oci_config_json(&app, "arm64", "linux", 0, layers, 1, &len);
	doc = parse(text, len);
	cfg = json_object_get(doc, "config");
	assert_true(json_is_array(json_object_get(cfg, "Entrypoint")));
	assert_int_equal(json_array_size(json_object_get(cfg, "Entrypoint")), 0);
	assert_null(json_object_get(cfg, "Cmd"));
	json_decref(doc);
	free(text);

	/* No app at all. */
	text = lk_oci_config_json(NULL, "amd64", "linux", 0, layers, 2, &len);
	doc = parse(text, len);
	assert_int_equal(json_object_size(json_object_get(doc, "config")), 0);
	json_decref(doc);
	free(text);
}

static void test_config_non_utf8(void **state)
{
	struct lk_oci_layer layers[2];
	struct lk_app app;
	json_t *doc, *cfg;
	char *text;
	size_t len = 0;

	memset(&app, 0, sizeof(app));
	lk_string_list_push(&app.env, "NAME=caf\xc3\xa9");
	lk_string_list_push(&app.env, "BAD=x\xffy");
	lk_string_list_push(&app.label_keys, "k\xfe");
	lk_string_list_push(&app.label_values, "v");
	two_layers(layers);
	text = lk_oci_config_json(&app, "amd64", "linux", 0, layers, 2, &len);
	doc = parse(text, len);
	cfg = json_object_get(doc, "config");
	assert_int_equal(json_array_size(json_object_get(cfg, "Env")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(cfg, "Env"), 0)),
			    "NAME=caf\xc3\xa9");
	assert_string_equal(json_string_value(json_array_get(json_object_get(cfg, "Env"), 1)),
			    "BAD=x\xef\xbf\xbdy");
	assert_string_equal(str_at(json_object_get(cfg, "Labels"), "k\xef\xbf\xbd"), "v");
	json_decref(doc);
	free(text);
	lk_string_list_release(&app.env);
	lk_string_list_release(&app.label_keys);
	lk_string_list_release(&app.label_values);
}

static void test_manifest(void **state)
{
	struct lk_oci_layer layers[2];
	json_t *doc, *cfg, *list, *l0;
	char *text;
	size_t len = 0;

	two_layers(layers);
	text = lk_oci_manifest_json(D1, 1234, layers, 2, &len);
	doc = parse(text, len);
	assert_int_equal(json_integer_value(json_object_get(doc, "schemaVersion")), 2);
	assert_string_equal(str_at(doc, "mediaType"), LK_MT_MANIFEST);
	cfg = json_object_get(doc, "config");
	assert_string_equal(str_at(cfg, "mediaType"), LK_MT_CONFIG);
	assert_string_equal(str_at(cfg, "digest"), D1);
	assert_int_equal(json_integer_value(json_object_get(cfg, "size")), 1234);
	list = json_object_get(doc, "layers");
	assert_int_equal(json_array_size(list), 2);
	l0 = json_array_get(list, 0);
	assert_string_equal(str_at(l0, "mediaType"), "application/vnd.oci.image.layer.v1.tar+gzip");
	/* The descriptor carries the stored digest, not the diff_id. */
	assert_string_equal(str_at(l0, "digest"), D1);
	assert_int_equal(json_integer_value(json_object_get(l0, "size")), 1000);
	assert_string_equal(str_at(json_object_get(l0, "annotations"), LK_ANNOTATION_LAYER_NAME),
			    "dependencies");
	assert_string_equal(str_at(json_object_get(json_array_get(list, 1), "annotations"),
				   LK_ANNOTATION_LAYER_NAME), "app");
	json_decref(doc);
	free(text);
}

static void test_index_exact(void **state)
{
	size_t len = 0;
	char *text = lk_oci_index_json(D1, 512, "latest", "amd64", "linux", &len);

	/* Compact, sorted keys: byte for byte. */
	assert_string_equal(text,
		"{\"manifests\":[{\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"},"
		"\"digest\":\"" D1 "\",\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		"\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"},\"size\":512}],"
		"\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"schemaVersion\":2}");
	assert_int_equal(len, strlen(text));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arch_names),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_config_full),
		cmocka_unit_test(test_config_unset_fields_omitted),
		cmocka_unit_test(test_config_non_utf8),
		cmocka_unit_test(test_manifest),
		cmocka_unit_test(test_index_exact),
	};

	return cmocka_run_group_tests_name("oci", tests, NULL, NULL);
}
