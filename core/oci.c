/* oci.c - the image config, manifest and index as compact JSON with sorted keys (jansson). */
#include "oci.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

/* Compact and sorted: the same image always serialises to the same bytes. */
#define JSON_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)

static const struct {
	const char *machine;	/* uname -m */
	const char *arch;	/* GOARCH, as OCI uses */
} arch_names[] = {
	{ "x86_64", "amd64" },
	{ "amd64", "amd64" },
	{ "aarch64", "arm64" },
	{ "arm64", "arm64" },
	{ "i386", "386" },
	{ "i486", "386" },
	{ "i586", "386" },
	{ "i686", "386" },
	{ "armv5l", "arm" },
	{ "armv6l", "arm" },
	{ "armv7l", "arm" },
	{ "armv8l", "arm" },
	{ "ppc64le", "ppc64le" },
	{ "ppc64", "ppc64" },
	{ "s390x", "s390x" },
	{ "riscv64", "riscv64" },
	{ "mips64", "mips64" },
	{ "mips", "mips" },
	{ "loongarch64", "loong64" },
};

/* The architecture this binary was built for, when uname says something unknown. */
#if defined(__x86_64__)
#define BUILD_ARCH "amd64"
#elif defined(__aarch64__)
#define BUILD_ARCH "arm64"
#elif defined(__i386__)
#define BUILD_ARCH "386"
#elif defined(__arm__)
#define BUILD_ARCH "arm"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define BUILD_ARCH "ppc64le"
#elif defined(__s390x__)
#define BUILD_ARCH "s390x"
#elif defined(__riscv) && __riscv_xlen == 64
#define BUILD_ARCH "riscv64"
#else
#define BUILD_ARCH "unknown"
#endif

const char *lk_oci_arch_of_machine(const char *machine)
{
	for (size_t i = 0; i < sizeof(arch_names) / sizeof(arch_names[0]); i++)
		if (!strcmp(machine, arch_names[i].machine))
			return arch_names[i].arch;
	return NULL;
}

const char *lk_oci_host_arch(void)
{
	struct utsname u;
	const char *arch = NULL;

	if (uname(&u) == 0)
		arch = lk_oci_arch_of_machine(u.machine);
	return arch ? arch : BUILD_ARCH;
}

int lk_oci_rfc3339(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return -1;
	return 0;
}

/*
 * A JSON string of s.  JSON holds only UTF-8: invalid bytes (a non-UTF-8
 * env value, label or name) become U+FFFD, with a warning, rather than
 * silently dropping the field.
 */
static json_t *jstr(const char *s)
{
	json_t *j;
	char *fixed, *q;
	const unsigned char *p;

	if (!s)
		s = "";
	j = json_string(s);
	if (j)
		return j;
	lk_log(LK_LOG_WARN, "'%s' is not valid UTF-8; invalid bytes are replaced by U+FFFD in the image config", s);
	fixed = lk_xmalloc(3 * strlen(s) + 1);
	q = fixed;
	for (p = (const unsigned char *)s; *p; ) {
		size_t n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 :
			   (*p & 0xf8) == 0xf0 ? 4 : 0;
		size_t i;

		for (i = 1; n && i < n; i++)
			if ((p[i] & 0xc0) != 0x80)
				n = 0;
		/* jansson judges overlong forms and surrogates. */
		if (n) {
			json_t *probe = json_stringn((const char *)p, n);

			if (probe) {
				json_decref(probe);
				memcpy(q, p, n);
				q += n;
				p += n;
				continue;
			}
		}
		memcpy(q, "\xef\xbf\xbd", 3);
		q += 3;
		p++;
	}
	*q = '\0';
	j = json_string(fixed);
	free(fixed);
	return j ? j : json_string("");
}

/* Serialises doc (consumed) into a malloc'ed string. */
static char *json_finish(json_t *doc, size_t *len)
{
	char *text;

	if (!doc)
		return NULL;
	text = json_dumps(doc, JSON_FLAGS);
	json_decref(doc);
	if (text && len)
		*len = strlen(text);
	return text;
}

static json_t *string_array(const struct lk_string_list *list)
{
	json_t *array = json_array();

	for (size_t i = 0; i < list->n; i++)
		json_array_append_new(array, jstr(list->items[i]));
	return array;
}

/* The "config" object: what a runtime runs.  Unset fields are left out. */
static json_t *run_config(const struct lk_app *app)
{
	json_t *cfg = json_object();

	if (!app)
		return cfg;
	if (app->env.n)
		json_object_set_new(cfg, "Env", string_array(&app->env));
	if (app->has_entrypoint)
		json_object_set_new(cfg, "Entrypoint", string_array(&app->entrypoint));
	if (app->has_cmd)
		json_object_set_new(cfg, "Cmd", string_array(&app->cmd));
	if (app->workdir && *app->workdir)
		json_object_set_new(cfg, "WorkingDir", jstr(app->workdir));
	if (app->user && *app->user)
		json_object_set_new(cfg, "User", jstr(app->user));
	if (app->label_keys.n) {
		json_t *labels = json_object();

		for (size_t i = 0; i < app->label_keys.n && i < app->label_values.n; i++) {
			json_t *key = jstr(app->label_keys.items[i]);

			json_object_set_new(labels, json_string_value(key),
					    jstr(app->label_values.items[i]));
			json_decref(key);
		}
		json_object_set_new(cfg, "Labels", labels);
	}
	return cfg;
}

char *lk_oci_config_json(const struct lk_app *app, const char *arch, const char *os,
			 int64_t created, const struct lk_oci_layer *layers,
			 size_t n_layers, size_t *len)
{
	json_t *doc, *diff_ids, *history, *rootfs;
	char when[64];

	if (lk_oci_rfc3339(created, when, sizeof(when)) != 0)
		strcpy(when, "1970-01-01T00:00:00Z");
	diff_ids = json_array();
	history = json_array();
	for (size_t i = 0; i < n_layers; i++) {
		json_t *h = json_object();

		json_array_append_new(diff_ids, jstr(layers[i].blob.diff_id));
		json_object_set_new(h, "created", json_string(when));
		if (layers[i].created_by)
			json_object_set_new(h, "created_by", jstr(layers[i].created_by));
		if (layers[i].comment)
			json_object_set_new(h, "comment", jstr(layers[i].comment));
		json_array_append_new(history, h);
	}
	rootfs = json_object();
	json_object_set_new(rootfs, "type", json_string("layers"));
	json_object_set_new(rootfs, "diff_ids", diff_ids);

	doc = json_object();
	json_object_set_new(doc, "architecture", jstr(arch));
	json_object_set_new(doc, "os", jstr(os));
	json_object_set_new(doc, "created", json_string(when));
	json_object_set_new(doc, "config", run_config(app));
	json_object_set_new(doc, "rootfs", rootfs);
	json_object_set_new(doc, "history", history);
	return json_finish(doc, len);
}

static json_t *descriptor(const char *media_type, const char *digest, uint64_t size)
{
	json_t *d = json_object();

	json_object_set_new(d, "mediaType", jstr(media_type));
	json_object_set_new(d, "digest", jstr(digest));
	json_object_set_new(d, "size", json_integer((json_int_t)size));
	return d;
}

char *lk_oci_manifest_json(const char *config_digest, uint64_t config_size,
			   const struct lk_oci_layer *layers, size_t n_layers,
			   size_t *len)
{
	json_t *doc = json_object();
	json_t *list = json_array();

	for (size_t i = 0; i < n_layers; i++) {
		json_t *d = descriptor(layers[i].media_type, layers[i].blob.digest,
				       layers[i].blob.size);

		if (layers[i].name) {
			json_t *annotations = json_object();

			json_object_set_new(annotations, LK_ANNOTATION_LAYER_NAME,
					    jstr(layers[i].name));
			json_object_set_new(d, "annotations", annotations);
		}
		json_array_append_new(list, d);
	}
	json_object_set_new(doc, "schemaVersion", json_integer(2));
	json_object_set_new(doc, "mediaType", json_string(LK_MT_MANIFEST));
	json_object_set_new(doc, "config", descriptor(LK_MT_CONFIG, config_digest, config_size));
	json_object_set_new(doc, "layers", list);
	return json_finish(doc, len);
}

char *lk_oci_index_json(const char *manifest_digest, uint64_t manifest_size,
			const char *tag, const char *arch, const char *os,
			size_t *len)
{
	return lk_oci_index_json_variant(manifest_digest, manifest_size, tag, arch, os, NULL, len);
}

char *lk_oci_index_json_variant(const char *manifest_digest, uint64_t manifest_size,
				const char *tag, const char *arch, const char *os,
				const char *variant, size_t *len)
{
	json_t *doc = json_object();
	json_t *d = descriptor(LK_MT_MANIFEST, manifest_digest, manifest_size);
	json_t *platform = json_object();
	json_t *list = json_array();

	json_object_set_new(platform, "architecture", jstr(arch));
	json_object_set_new(platform, "os", jstr(os));
	if (variant)
		json_object_set_new(platform, "variant", jstr(variant));
	json_object_set_new(d, "platform", platform);
	if (tag && *tag) {
		json_t *annotations = json_object();

		json_object_set_new(annotations, LK_ANNOTATION_REF_NAME, jstr(tag));
		json_object_set_new(d, "annotations", annotations);
	}
	json_array_append_new(list, d);
	json_object_set_new(doc, "schemaVersion", json_integer(2));
	json_object_set_new(doc, "mediaType", json_string(LK_MT_INDEX));
	json_object_set_new(doc, "manifests", list);
	return json_finish(doc, len);
}
