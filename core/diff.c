/* diff.c - `layerkit diff A B`: what image B adds to image A, layer by layer (jansson). */
#include "diff.h"
#include "build.h"
#include "oci.h"
#include "push.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Manifests and configs are read whole; a larger one is not an image's. */
#define DOCUMENT_MAX (16 * 1024 * 1024)
/* Indexes may nest; a deeper chain is refused rather than followed. */
#define MAX_INDEX_DEPTH 4

#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

/* The hex of "sha256:<64 lowercase hex>", or NULL: only such names are
 * opened under blobs/sha256, so a layout cannot point outside itself. */
static const char *digest_hex(const char *digest)
{
	size_t i;

	if (!digest || strncmp(digest, "sha256:", 7))
		return NULL;
	for (i = 7; digest[i]; i++)
		if (!((digest[i] >= '0' && digest[i] <= '9') || (digest[i] >= 'a' && digest[i] <= 'f')))
			return NULL;
	return i == 7 + LK_SHA256_HEX_LEN ? digest + 7 : NULL;
}

/* Reads a descriptor's digest and size. */
static int descriptor_read(const struct lk_image *img, json_t *desc, const char *what,
			   const char **digest, uint64_t *size, struct lk_error *err)
{
	json_t *jsize = json_object_get(desc, "size");

	*digest = json_string_value(json_object_get(desc, "digest"));
	if (!json_is_object(desc) || !digest_hex(*digest) || !json_is_integer(jsize) ||
	    json_integer_value(jsize) < 0)
		return lk_error_set(err, LK_EXIT_USAGE,
				    "%s: %s is not a descriptor with a sha256 \"digest\" and a \"size\"; the layout is damaged",
				    img->source, what);
	*size = (uint64_t)json_integer_value(jsize);
	return LK_OK;
}

/* Reads a document blob whole, checks its size and digest, parses it. */
static json_t *document_read(const struct lk_image *img, const char *digest, uint64_t size,
			     const char *what, struct lk_error *err)
{
	char *path = lk_xasprintf("%s/blobs/sha256/%s", img->dir, digest_hex(digest));
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char hex[LK_SHA256_HEX_LEN + 1];
	json_error_t jerr;
	json_t *doc = NULL;
	char *data = NULL;
	size_t len = 0;
	FILE *f;

	if (size > DOCUMENT_MAX) {
		lk_error_set(err, LK_EXIT_USAGE, "%s: the %s %s is %llu bytes; more than %d is not an image's",
			     img->source, what, digest, (unsigned long long)size, DOCUMENT_MAX);
		goto out_free_path;
	}
	f = fopen(path, "rb");
	if (!f) {
		lk_error_set(err, LK_EXIT_USAGE, "%s: cannot open the %s %s: %s; the layout is incomplete",
			     img->source, what, path, strerror(errno));
		goto out_free_path;
	}
	data = lk_xmalloc((size_t)size + 1);
	len = fread(data, 1, (size_t)size + 1, f);
	fclose(f);
	if (len != size) {
		lk_error_set(err, LK_EXIT_USAGE, "%s: the %s %s has %s%zu bytes, its descriptor says %llu; the layout is damaged",
			     img->source, what, path, len > size ? "more than " : "",
			     len > size ? (size_t)size : len, (unsigned long long)size);
		goto out_free_data;
	}
	EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL);
	lk_hex(md, md_len, hex);
	if (strcmp(hex, digest_hex(digest))) {
		lk_error_set(err, LK_EXIT_USAGE, "%s: the %s %s does not hash to its name; the layout is damaged",
			     img->source, what, path);
		goto out_free_data;
	}
	doc = json_loadb(data, len, 0, &jerr);
	if (!json_is_object(doc)) {
		lk_error_set(err, LK_EXIT_USAGE, "%s: the %s %s is not a JSON object (%s)",
			     img->source, what, path, doc ? "another JSON value" : jerr.text);
		json_decref(doc);
		doc = NULL;
	}
out_free_data:
	free(data);
out_free_path:
	free(path);
	return doc;
}

static char *string_or_empty(json_t *v)
{
	return lk_xstrdup(json_is_string(v) ? json_string_value(v) : "");
}

/* Follows index entries (first of each) down to a manifest. */
static json_t *manifest_find(struct lk_image *img, json_t *desc, int depth, struct lk_error *err)
{
	const char *digest, *mt;
	uint64_t size;
	json_t *doc;

	if (descriptor_read(img, desc, "the image's entry in index.json", &digest, &size, err) != LK_OK)
		return NULL;
	doc = document_read(img, digest, size, "manifest", err);
	if (!doc)
		return NULL;
	mt = json_string_value(json_object_get(doc, "mediaType"));
	if (!mt)
		mt = json_string_value(json_object_get(desc, "mediaType"));
	if (mt && (!strcmp(mt, LK_MT_INDEX) || !strcmp(mt, MT_DOCKER_LIST))) {
		json_t *list = json_object_get(doc, "manifests"), *inner;

		if (depth >= MAX_INDEX_DEPTH || !json_array_size(list)) {
			lk_error_set(err, LK_EXIT_USAGE, "%s: index %s %s", img->source, digest,
				     depth >= MAX_INDEX_DEPTH ? "nests too deep" : "lists no manifest");
			json_decref(doc);
			return NULL;
		}
		inner = manifest_find(img, json_array_get(list, 0), depth + 1, err);
		json_decref(doc);
		return inner;
	}
	img->manifest_digest = lk_xstrdup(digest);
	img->manifest_size = size;
	return doc;
}

/* Picks the index entry tagged img->tag, or the first. */
static json_t *index_entry(struct lk_image *img, json_t *index, struct lk_error *err)
{
	json_t *list = json_object_get(index, "manifests"), *desc;
	char tags[512] = "";
	size_t i, used = 0;

	if (!json_array_size(list)) {
		lk_error_set(err, LK_EXIT_USAGE, "%s: index.json lists no image", img->source);
		return NULL;
	}
	if (!img->tag)
		return json_array_get(list, 0);
	json_array_foreach(list, i, desc) {
		const char *name = json_string_value(json_object_get(
			json_object_get(desc, "annotations"), LK_ANNOTATION_REF_NAME));

		if (name && !strcmp(name, img->tag))
			return desc;
		if (name && used < sizeof(tags))
			used += (size_t)snprintf(tags + used, sizeof(tags) - used, "%s%s",
						 used ? ", " : "", name);
	}
	lk_error_set(err, LK_EXIT_USAGE, "%s: the layout has no image tagged '%s'; its tags: %s",
		     img->source, img->tag, used ? tags : "none");
	return NULL;
}

/* Layers from the manifest; diff_ids and history comments from the config. */
static int layers_read(struct lk_image *img, json_t *manifest, json_t *config,
		       struct lk_error *err)
{
	json_t *list = json_object_get(manifest, "layers"), *desc, *h;
	json_t *diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	json_t *history = json_object_get(config, "history");
	size_t i, hist = 0;

	if (!json_is_array(list))
		return lk_error_set(err, LK_EXIT_USAGE, "%s: manifest %s has no \"layers\" array",
				    img->source, img->manifest_digest);
	img->layers = lk_xcalloc(json_array_size(list) + 1, sizeof(*img->layers));
	json_array_foreach(list, i, desc) {
		struct lk_image_layer *l = &img->layers[i];
		char what[64];
		const char *digest;

		snprintf(what, sizeof(what), "layers[%zu]", i);
		if (descriptor_read(img, desc, what, &digest, &l->size, err) != LK_OK)
			return LK_FAILED;
		img->n_layers = i + 1;
		l->digest = lk_xstrdup(digest);
		l->media_type = string_or_empty(json_object_get(desc, "mediaType"));
		l->name = string_or_empty(json_object_get(json_object_get(desc, "annotations"),
							  LK_ANNOTATION_LAYER_NAME));
		l->diff_id = string_or_empty(json_array_get(diff_ids, i));
		/* History entries map onto the layers that are not empty_layer. */
		while ((h = json_array_get(history, hist)) &&
		       json_is_true(json_object_get(h, "empty_layer")))
			hist++;
		l->units = string_or_empty(json_object_get(h, "comment"));
		if (h)
			hist++;
	}
	return LK_OK;
}

int lk_image_load(struct lk_image *img, const char *source, struct lk_error *err)
{
	json_t *index = NULL, *manifest = NULL, *config = NULL, *desc;
	json_error_t jerr;
	struct stat st;
	const char *digest;
	char *path;
	int rc = LK_FAILED;

	memset(img, 0, sizeof(*img));
	img->source = lk_xstrdup(source);
	lk_push_source_split(source, &img->dir, &img->tag);
	path = lk_xasprintf("%s/oci-layout", img->dir);
	if (stat(path, &st) != 0) {
		lk_error_set(err, LK_EXIT_USAGE,
			     "%s is not an OCI image layout (no %s); give a directory `layerkit build` wrote, as DIR or DIR:TAG",
			     img->dir, path);
		goto out_free_path;
	}
	free(path);
	path = lk_xasprintf("%s/index.json", img->dir);
	index = json_load_file(path, 0, &jerr);
	if (!json_is_object(index)) {
		lk_error_set(err, LK_EXIT_USAGE, "%s: line %d: %s; the layout is damaged",
			     path, jerr.line, index ? "not a JSON object" : jerr.text);
		goto out_put;
	}
	desc = index_entry(img, index, err);
	if (!desc || !(manifest = manifest_find(img, desc, 0, err)))
		goto out_put;
	if (descriptor_read(img, json_object_get(manifest, "config"), "the manifest's config",
			    &digest, &img->config_size, err) != LK_OK)
		goto out_put;
	img->config_digest = lk_xstrdup(digest);
	config = document_read(img, digest, img->config_size, "config", err);
	if (!config)
		goto out_put;
	rc = layers_read(img, manifest, config, err);
out_put:
	json_decref(config);
	json_decref(manifest);
	json_decref(index);
out_free_path:
	free(path);
	return rc;
}

void lk_image_release(struct lk_image *img)
{
	for (size_t i = 0; i < img->n_layers; i++) {
		struct lk_image_layer *l = &img->layers[i];

		free(l->digest);
		free(l->media_type);
		free(l->diff_id);
		free(l->name);
		free(l->units);
	}
	free(img->layers);
	free(img->source);
	free(img->dir);
	free(img->tag);
	free(img->manifest_digest);
	free(img->config_digest);
	memset(img, 0, sizeof(*img));
}

/* The A layer with this digest, or -1. */
static long layer_with_digest(const struct lk_image *img, const char *digest, size_t before)
{
	for (size_t i = 0; i < img->n_layers && i < before; i++)
		if (!strcmp(img->layers[i].digest, digest))
			return (long)i;
	return -1;
}

/* Bytes of every distinct blob of an image. */
static uint64_t image_bytes(const struct lk_image *img)
{
	uint64_t n = img->manifest_size;

	if (img->config_digest && layer_with_digest(img, img->config_digest, img->n_layers) < 0)
		n += img->config_size;
	for (size_t i = 0; i < img->n_layers; i++)
		if (layer_with_digest(img, img->layers[i].digest, i) < 0)
			n += img->layers[i].size;
	return n;
}

/* Whether A holds a blob with this digest (layer, config or manifest). */
static int a_has_blob(const struct lk_image *a, const char *digest)
{
	return layer_with_digest(a, digest, a->n_layers) >= 0 ||
	       (a->config_digest && !strcmp(a->config_digest, digest)) ||
	       (a->manifest_digest && !strcmp(a->manifest_digest, digest));
}

void lk_image_diff(const struct lk_image *a, const struct lk_image *b, struct lk_image_diff *d)
{
	memset(d, 0, sizeof(*d));
	d->layers = lk_xcalloc(b->n_layers + 1, sizeof(*d->layers));
	d->removed = lk_xcalloc(a->n_layers + 1, sizeof(*d->removed));
	for (size_t i = 0; i < b->n_layers; i++) {
		const struct lk_image_layer *l = &b->layers[i];
		struct lk_diff_layer *dl = &d->layers[i];

		dl->a_index = layer_with_digest(a, l->digest, a->n_layers);
		dl->repeat = layer_with_digest(b, l->digest, i) >= 0;
		if (dl->a_index >= 0) {
			dl->status = LK_DIFF_SHARED;
		} else {
			dl->status = LK_DIFF_NEW;
			for (size_t j = 0; l->name[0] && j < a->n_layers && dl->a_index < 0; j++)
				if (!strcmp(a->layers[j].name, l->name)) {
					dl->status = LK_DIFF_CHANGED;
					dl->a_index = (long)j;
				}
		}
		if (dl->repeat)
			continue;
		if (dl->status == LK_DIFF_SHARED || a_has_blob(a, l->digest)) {
			d->n_shared++;
			d->shared_bytes += l->size;
		} else {
			d->n_missing++;
			d->missing_bytes += l->size;
		}
	}
	for (size_t j = 0; j < a->n_layers; j++)
		if (layer_with_digest(a, a->layers[j].digest, j) < 0 &&
		    layer_with_digest(b, a->layers[j].digest, b->n_layers) < 0)
			d->removed[d->n_removed++] = j;
	d->config_shared = a_has_blob(a, b->config_digest);
	d->manifest_shared = a_has_blob(a, b->manifest_digest);
	d->a_bytes = image_bytes(a);
	d->b_bytes = image_bytes(b);
	d->transfer_bytes = d->missing_bytes;
	/* A config that is also one of B's layers was counted with them. */
	if (!d->config_shared && layer_with_digest(b, b->config_digest, b->n_layers) < 0)
		d->transfer_bytes += b->config_size;
	if (!d->manifest_shared)
		d->transfer_bytes += b->manifest_size;
	d->both_bytes = d->a_bytes + d->transfer_bytes;
}

void lk_image_diff_release(struct lk_image_diff *d)
{
	free(d->layers);
	free(d->removed);
	memset(d, 0, sizeof(*d));
}

static const char *status_name(enum lk_diff_status s)
{
	static const char *const names[] = { "shared", "changed", "new" };

	return names[s];
}

/* The first 12 hex digits, as `docker images` shows them. */
static void short_digest(const char *digest, char *buf, size_t len)
{
	snprintf(buf, len, "%.12s", strncmp(digest, "sha256:", 7) ? digest : digest + 7);
}

static void image_line(FILE *out, const char *label, const struct lk_image *img, uint64_t bytes)
{
	char hb[32], sd[16];

	short_digest(img->manifest_digest, sd, sizeof(sd));
	fprintf(out, "%s %s: manifest %s, %zu layers, %s (%llu bytes)\n", label, img->source, sd,
		img->n_layers, lk_human_bytes(bytes, hb, sizeof(hb)), (unsigned long long)bytes);
}

void lk_diff_print(FILE *out, const struct lk_image *a, const struct lk_image *b,
		   const struct lk_image_diff *d)
{
	char hb[32], hb2[32], sd[16];

	image_line(out, "A", a, d->a_bytes);
	image_line(out, "B", b, d->b_bytes);
	fprintf(out, "layers of B:\n");
	for (size_t i = 0; i < b->n_layers; i++) {
		const struct lk_image_layer *l = &b->layers[i];
		const struct lk_diff_layer *dl = &d->layers[i];

		short_digest(l->digest, sd, sizeof(sd));
		fprintf(out, "  %3zu %-8s %-28s %s %10s  %s", i + 1, status_name(dl->status),
			l->name[0] ? l->name : "-", sd, lk_human_bytes(l->size, hb, sizeof(hb)),
			l->units);
		if (dl->status == LK_DIFF_CHANGED) {
			const struct lk_image_layer *al = &a->layers[dl->a_index];

			short_digest(al->digest, sd, sizeof(sd));
			fprintf(out, "  (A: %s, %s, %s)", sd,
				lk_human_bytes(al->size, hb2, sizeof(hb2)), al->units);
		}
		if (dl->repeat)
			fprintf(out, "  (repeats an earlier layer)");
		fputc('\n', out);
	}
	if (d->n_removed) {
		fprintf(out, "layers of A that B does not have:\n");
		for (size_t k = 0; k < d->n_removed; k++) {
			const struct lk_image_layer *l = &a->layers[d->removed[k]];

			short_digest(l->digest, sd, sizeof(sd));
			fprintf(out, "  %3zu %-8s %-28s %s %10s  %s\n", d->removed[k] + 1, "gone",
				l->name[0] ? l->name : "-", sd,
				lk_human_bytes(l->size, hb, sizeof(hb)), l->units);
		}
	}
	fprintf(out, "B has %zu layer blobs A has (%s), %zu A lacks (%s)\n", d->n_shared,
		lk_human_bytes(d->shared_bytes, hb, sizeof(hb)), d->n_missing,
		lk_human_bytes(d->missing_bytes, hb2, sizeof(hb2)));
	if (!d->transfer_bytes)
		fprintf(out, "a push or pull of B given A moves nothing: A has every blob of B\n");
	else
		fprintf(out, "a push or pull of B given A moves %s (%llu bytes): %zu layer%s (%s)%s%s\n",
			lk_human_bytes(d->transfer_bytes, hb, sizeof(hb)),
			(unsigned long long)d->transfer_bytes, d->n_missing,
			d->n_missing == 1 ? "" : "s", lk_human_bytes(d->missing_bytes, hb2, sizeof(hb2)),
			d->config_shared ? "" : ", the config",
			d->manifest_shared ? "" : " and the manifest");
	fprintf(out, "a registry holding both stores %s (%llu bytes); B alone is %s\n",
		lk_human_bytes(d->both_bytes, hb, sizeof(hb)), (unsigned long long)d->both_bytes,
		lk_human_bytes(d->b_bytes, hb2, sizeof(hb2)));
}

static json_t *image_json(const struct lk_image *img, uint64_t bytes)
{
	return json_pack("{s:s, s:s, s:s?, s:s, s:I, s:s, s:I, s:I, s:I}",
			 "source", img->source, "dir", img->dir, "tag", img->tag,
			 "manifest", img->manifest_digest, "manifest_size", (json_int_t)img->manifest_size,
			 "config", img->config_digest, "config_size", (json_int_t)img->config_size,
			 "layers", (json_int_t)img->n_layers, "bytes", (json_int_t)bytes);
}

static json_t *layer_json(const struct lk_image_layer *l, size_t index)
{
	return json_pack("{s:I, s:s, s:s, s:I, s:s, s:s, s:s}", "index", (json_int_t)index + 1,
			 "name", l->name, "digest", l->digest, "size", (json_int_t)l->size,
			 "diff_id", l->diff_id, "units", l->units, "media_type", l->media_type);
}

json_t *lk_diff_json(const struct lk_image *a, const struct lk_image *b,
		     const struct lk_image_diff *d)
{
	json_t *layers = json_array(), *removed = json_array();

	for (size_t i = 0; i < b->n_layers; i++) {
		const struct lk_diff_layer *dl = &d->layers[i];
		json_t *o = layer_json(&b->layers[i], i);

		json_object_set_new(o, "status", json_string(status_name(dl->status)));
		json_object_set_new(o, "repeat", json_boolean(dl->repeat));
		if (dl->a_index >= 0)
			json_object_set_new(o, "a_layer", layer_json(&a->layers[dl->a_index],
								     (size_t)dl->a_index));
		json_array_append_new(layers, o);
	}
	for (size_t k = 0; k < d->n_removed; k++)
		json_array_append_new(removed, layer_json(&a->layers[d->removed[k]], d->removed[k]));
	return json_pack("{s:o, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:b, s:b, s:I, s:I}}",
			 "a", image_json(a, d->a_bytes), "b", image_json(b, d->b_bytes),
			 "layers", layers, "removed", removed,
			 "summary",
			 "shared_layers", (json_int_t)d->n_shared,
			 "shared_bytes", (json_int_t)d->shared_bytes,
			 "missing_layers", (json_int_t)d->n_missing,
			 "missing_bytes", (json_int_t)d->missing_bytes,
			 "config_shared", d->config_shared,
			 "manifest_shared", d->manifest_shared,
			 "transfer_bytes", (json_int_t)d->transfer_bytes,
			 "both_bytes", (json_int_t)d->both_bytes);
}
