/* base.c - a base image: its layers first in the image, unchanged, and its config inherited. */
#include "base.h"
#include "oci.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Documents (index, manifest, config) larger than this are refused. */
#define DOC_MAX (4u * 1024 * 1024)
/* An index may point at an index, once; deeper is refused. */
#define INDEX_DEPTH_MAX 2

#define MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

/* Layer media types a base may have, and what they are called in our OCI
 * manifest (the same bytes: Docker's gzip layer is OCI's). */
static const struct {
	const char *from, *to;
} layer_types[] = {
	{ "application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar" },
	{ "application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.oci.image.layer.v1.tar+gzip" },
	{ "application/vnd.oci.image.layer.v1.tar+zstd", "application/vnd.oci.image.layer.v1.tar+zstd" },
	{ "application/vnd.docker.image.rootfs.diff.tar", "application/vnd.oci.image.layer.v1.tar" },
	{ "application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.oci.image.layer.v1.tar+gzip" },
};

static int digest_ok(const char *d)
{
	if (!d || strncmp(d, "sha256:", 7) || strlen(d) != 7 + LK_SHA256_HEX_LEN)
		return 0;
	for (const char *p = d + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return 0;
	return 1;
}

static void sha256_of(const void *data, size_t len, char out[LK_DIGEST_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL);
	memcpy(out, "sha256:", 7);
	lk_hex(md, md_len, out + 7);
}

/* Reads a whole small file; 0, or -1 with errno (EFBIG when over max). */
static int read_small_file(const char *path, size_t max, char **data, size_t *len)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size > max) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	buf = lk_xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
}

/* Writes data as blobs_dir/<hex of digest> by rename (the cache's store). */
static int cache_put(const char *blobs_dir, const char *digest, const void *data, size_t len)
{
	char *tmp = lk_xasprintf("%s/.tmp-base-XXXXXX", blobs_dir);
	char *path = lk_xasprintf("%s/%s", blobs_dir, digest + 7);
	int fd = mkstemp(tmp), rc = -1;

	if (fd >= 0) {
		if (write(fd, data, len) == (ssize_t)len && fchmod(fd, 0644) == 0 &&
		    close(fd) == 0 && rename(tmp, path) == 0)
			rc = 0;
		else
			unlink(tmp);
	}
	if (rc != 0)
		lk_log(LK_LOG_WARN, "cannot keep %s in %s: %s; it will be pulled again next time",
		       digest, blobs_dir, strerror(errno));
	free(tmp);
	free(path);
	return rc;
}

/* mkdir -p */
static int mkdir_p(const char *path)
{
	char *copy = lk_xstrdup(path);
	int rc = 0;

	for (char *p = copy + 1; *p && rc == 0; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) != 0 && errno != EEXIST)
			rc = -1;
		*p = '/';
	}
	if (rc == 0 && mkdir(copy, 0755) != 0 && errno != EEXIST)
		rc = -1;
	free(copy);
	return rc;
}

static int registry_ready(struct lk_base *base, struct lk_error *err)
{
	if (base->session)
		return LK_OK;
	base->registry = lk_registry_open(&base->ref, &base->reg_opts, err);
	if (!base->registry)
		return LK_FAILED;
	base->session = lk_registry_session_new(base->registry);
	return LK_OK;
}

/*
 * The document digest (an index, a manifest, or with is_blob a config of
 * blob_size bytes) in *data (malloc'ed, NUL-terminated): from the base layout, else from
 * the cache, else pulled and kept in the cache.  Always checked against
 * digest.
 */
static int doc_get(struct lk_base *base, const char *digest, uint64_t blob_size, int is_blob,
		   char **data, size_t *len, struct lk_error *err)
{
	char *path, *media_type = NULL;
	char got[LK_DIGEST_LEN];

	if (!digest_ok(digest))
		return lk_error_set(err, LK_EXIT_BUILD,
				    "base image %s: '%s' is not a sha256 digest; only sha256 is supported",
				    base->spec, digest ? digest : "(none)");
	path = lk_xasprintf("%s/%s", base->blobs_dir, digest + 7);
	if (read_small_file(path, DOC_MAX, data, len) == 0) {
		sha256_of(*data, *len, got);
		if (!strcmp(got, digest)) {
			free(path);
			return LK_OK;
		}
		free(*data);
		*data = NULL;
		if (base->layout_dir) {
			lk_error_set(err, LK_EXIT_BUILD,
				     "base image %s: %s does not match its digest (it hashes to %s); the layout is damaged: rebuild or copy it again",
				     base->spec, path, got);
			free(path);
			return LK_FAILED;
		}
		lk_log(LK_LOG_WARN, "base image cache: %s does not match its digest; pulling it again",
		       path);
		unlink(path);
	} else if (base->layout_dir) {
		lk_error_set(err, LK_EXIT_BUILD, "base image %s: cannot read %s: %s; the layout is incomplete",
			     base->spec, path, errno == EFBIG ? "larger than a document may be" : strerror(errno));
		free(path);
		return LK_FAILED;
	}
	free(path);

	if (registry_ready(base, err) != LK_OK)
		goto out_prefix;
	if (is_blob) {
		FILE *tmp;
		ssize_t n;

		if (blob_size > DOC_MAX)
			return lk_error_set(err, LK_EXIT_BUILD,
					    "base image %s: config %s is %llu bytes, more than a config may be",
					    base->spec, digest, (unsigned long long)blob_size);
		tmp = tmpfile();
		if (!tmp)
			return lk_error_set(err, LK_EXIT_BUILD, "cannot create a temporary file: %s",
					    strerror(errno));
		if (lk_registry_blob_get(base->session, digest, blob_size, fileno(tmp), err) != LK_OK) {
			fclose(tmp);
			goto out_prefix;
		}
		*data = lk_xmalloc((size_t)blob_size + 1);
		n = pread(fileno(tmp), *data, (size_t)blob_size, 0);
		*len = n > 0 ? (size_t)n : 0;
		(*data)[*len] = '\0';
		fclose(tmp);
	} else if (lk_registry_manifest_get(base->session, digest, data, len, &media_type,
					    err) != LK_OK) {
		goto out_prefix;
	}
	free(media_type);
	sha256_of(*data, *len, got);
	if (strcmp(got, digest)) {
		free(*data);
		*data = NULL;
		return lk_error_set(err, LK_EXIT_BUILD,
				    "base image %s: the registry sent %s for %s; its copy is damaged (nothing was kept)",
				    base->spec, got, digest);
	}
	base->pulled_blobs++;
	base->pulled_bytes += *len;
	cache_put(base->blobs_dir, digest, *data, *len);
	return LK_OK;

out_prefix:
	lk_error_prefix(err, "base image %s", base->spec);
	return LK_FAILED;
}

/* 2 = the platform exactly, 1 = os and architecture (variant unset on one
 * side), 0 = another platform. */
static int platform_match(json_t *platform, const struct lk_base_opts *opts)
{
	const char *os = json_string_value(json_object_get(platform, "os"));
	const char *arch = json_string_value(json_object_get(platform, "architecture"));
	const char *variant = json_string_value(json_object_get(platform, "variant"));

	if (!os || !arch || strcmp(os, opts->os) || strcmp(arch, opts->arch))
		return 0;
	if (opts->variant && variant)
		return strcmp(opts->variant, variant) ? 0 : 2;
	return opts->variant || variant ? 1 : 2;
}

static void platform_list(json_t *descs, char *buf, size_t size)
{
	size_t i, used = 0;
	json_t *d;

	buf[0] = '\0';
	json_array_foreach(descs, i, d) {
		json_t *p = json_object_get(d, "platform");
		const char *variant = json_string_value(json_object_get(p, "variant"));
		int n;

		if (!p)
			continue;
		n = snprintf(buf + used, size - used, "%s%s/%s%s%s", used ? ", " : "",
			     json_string_value(json_object_get(p, "os")) ?: "?",
			     json_string_value(json_object_get(p, "architecture")) ?: "?",
			     variant ? "/" : "", variant ? variant : "");
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
	if (!used)
		snprintf(buf, size, "none named");
}

/* The descriptor of descs for opts' platform (borrowed), or NULL with err set. */
static json_t *platform_pick(struct lk_base *base, json_t *descs, const struct lk_base_opts *opts,
			     struct lk_error *err)
{
	json_t *best = NULL, *d;
	int best_score = 0;
	size_t i;
	char list[1024];

	if (json_array_size(descs) == 1 && !json_object_get(json_array_get(descs, 0), "platform"))
		return json_array_get(descs, 0);
	json_array_foreach(descs, i, d) {
		int score = platform_match(json_object_get(d, "platform"), opts);

		if (score > best_score) {
			best = d;
			best_score = score;
		}
	}
	if (best)
		return best;
	platform_list(descs, list, sizeof(list));
	lk_error_set(err, LK_EXIT_USAGE,
		     "base image %s has no image for %s/%s%s%s (it has: %s); set platform = OS/ARCH in the app's section to one of those",
		     base->spec, opts->os, opts->arch, opts->variant ? "/" : "",
		     opts->variant ? opts->variant : "", list);
	return NULL;
}

static int is_index(json_t *doc, const char *media_type)
{
	const char *mt = json_string_value(json_object_get(doc, "mediaType"));

	if (!mt)
		mt = media_type;
	if (mt && (!strcmp(mt, LK_MT_INDEX) || !strcmp(mt, MT_DOCKER_LIST)))
		return 1;
	return !mt && json_is_array(json_object_get(doc, "manifests"));
}

static const char *layer_type_map(const char *mt)
{
	for (size_t i = 0; i < sizeof(layer_types) / sizeof(layer_types[0]); i++)
		if (mt && !strcmp(mt, layer_types[i].from))
			return layer_types[i].to;
	return NULL;
}

/* Reads the picked manifest's layers and config into base. */
static int manifest_take(struct lk_base *base, json_t *manifest, const struct lk_base_opts *opts,
			 struct lk_error *err)
{
	json_t *layers = json_object_get(manifest, "layers");
	json_t *config = json_object_get(manifest, "config");
	json_t *cfg_doc, *l;
	const char *config_digest = json_string_value(json_object_get(config, "digest"));
	const char *os, *arch, *variant;
	size_t i;

	if (!json_is_array(layers) || !config_digest)
		return lk_error_set(err, LK_EXIT_BUILD,
				    "base image %s: manifest %s has no layers or config; it is not an image manifest",
				    base->spec, base->manifest_digest);
	base->layers = lk_xcalloc(json_array_size(layers) + 1, sizeof(*base->layers));
	json_array_foreach(layers, i, l) {
		struct lk_base_layer *bl = &base->layers[base->n_layers];
		const char *mt = json_string_value(json_object_get(l, "mediaType"));
		const char *digest = json_string_value(json_object_get(l, "digest"));
		json_int_t size = json_integer_value(json_object_get(l, "size"));
		const char *oci_mt = layer_type_map(mt);

		if (!oci_mt)
			return lk_error_set(err, LK_EXIT_BUILD,
					    "base image %s: layer %zu has media type '%s', which layerkit cannot carry (foreign or non-distributable layers are not supported); use a base with ordinary tar layers",
					    base->spec, i + 1, mt ? mt : "(none)");
		if (!digest_ok(digest) || size < 0)
			return lk_error_set(err, LK_EXIT_BUILD,
					    "base image %s: layer %zu has a bad digest or size; the manifest is damaged",
					    base->spec, i + 1);
		bl->media_type = lk_xstrdup(oci_mt);
		strcpy(bl->digest, digest);
		bl->size = (uint64_t)size;
		base->n_layers++;
	}
	if (doc_get(base, config_digest,
		    (uint64_t)json_integer_value(json_object_get(config, "size")), 1,
		    &base->config_json, &base->config_len, err) != LK_OK)
		return LK_FAILED;
	cfg_doc = json_loadb(base->config_json, base->config_len, 0, NULL);
	os = json_string_value(json_object_get(cfg_doc, "os"));
	arch = json_string_value(json_object_get(cfg_doc, "architecture"));
	variant = json_string_value(json_object_get(cfg_doc, "variant"));
	if (!cfg_doc || !os || !arch ||
	    json_array_size(json_object_get(json_object_get(cfg_doc, "rootfs"), "diff_ids")) !=
	    base->n_layers) {
		json_decref(cfg_doc);
		return lk_error_set(err, LK_EXIT_BUILD,
				    "base image %s: config %s is not an image config with one diff_id per layer; the image is damaged",
				    base->spec, config_digest);
	}
	if (strcmp(os, opts->os) || strcmp(arch, opts->arch)) {
		lk_error_set(err, LK_EXIT_USAGE,
			     "base image %s is for %s/%s, the app is built for %s/%s; set platform = %s/%s in the app's section, or use a base for %s/%s",
			     base->spec, os, arch, opts->os, opts->arch, os, arch, opts->os, opts->arch);
		json_decref(cfg_doc);
		return LK_FAILED;
	}
	base->os = lk_xstrdup(os);
	base->arch = lk_xstrdup(arch);
	/* the config's variant, else the index's (already in base->variant) */
	if (variant) {
		free(base->variant);
		base->variant = lk_xstrdup(variant);
	} else if (!base->variant && opts->variant) {
		base->variant = lk_xstrdup(opts->variant);
	}
	json_decref(cfg_doc);
	return LK_OK;
}

/* From a document (index or manifest) down to the platform's manifest. */
static int resolve_doc(struct lk_base *base, char *data, size_t len, const char *media_type,
		       const struct lk_base_opts *opts, struct lk_error *err)
{
	for (int depth = 0;; depth++) {
		json_error_t jerr;
		json_t *doc = json_loadb(data, len, 0, &jerr);
		json_t *pick;
		const char *digest;
		int rc;

		if (!doc) {
			free(data);
			return lk_error_set(err, LK_EXIT_BUILD, "base image %s: %s is not JSON (%s)",
					    base->spec, base->manifest_digest, jerr.text);
		}
		free(data);
		if (!is_index(doc, media_type)) {
			const char *mt = json_string_value(json_object_get(doc, "mediaType"));

			if (mt && strcmp(mt, LK_MT_MANIFEST) && strcmp(mt, MT_DOCKER_MANIFEST)) {
				lk_error_set(err, LK_EXIT_BUILD,
					     "base image %s: %s has media type %s, not an image manifest",
					     base->spec, base->manifest_digest, mt);
				json_decref(doc);
				return LK_FAILED;
			}
			rc = manifest_take(base, doc, opts, err);
			json_decref(doc);
			return rc;
		}
		if (depth >= INDEX_DEPTH_MAX) {
			json_decref(doc);
			return lk_error_set(err, LK_EXIT_BUILD,
					    "base image %s: indexes nested deeper than %d; not supported",
					    base->spec, INDEX_DEPTH_MAX);
		}
		pick = platform_pick(base, json_object_get(doc, "manifests"), opts, err);
		digest = json_string_value(json_object_get(pick, "digest"));
		if (!pick || !digest_ok(digest)) {
			if (pick)
				lk_error_set(err, LK_EXIT_BUILD,
					     "base image %s: the index entry for %s/%s has no sha256 digest",
					     base->spec, opts->os, opts->arch);
			json_decref(doc);
			return LK_FAILED;
		}
		strcpy(base->manifest_digest, digest);
		{
			const char *v = json_string_value(json_object_get(json_object_get(pick, "platform"),
									  "variant"));

			free(base->variant);
			base->variant = v ? lk_xstrdup(v) : NULL;
		}
		media_type = NULL;
		json_decref(doc);
		if (doc_get(base, base->manifest_digest, 0, 0, &data, &len, err) != LK_OK)
			return LK_FAILED;
	}
}

/* A layout base: index.json, the entries tagged tag (all when tag is NULL). */
static int open_layout(struct lk_base *base, const char *tag, const struct lk_base_opts *opts,
		       struct lk_error *err)
{
	char *path = lk_xasprintf("%s/index.json", base->layout_dir);
	char *data, tags[1024] = "";
	size_t len, i, used = 0;
	json_error_t jerr;
	json_t *index, *d, *found;
	int rc;

	if (read_small_file(path, DOC_MAX, &data, &len) != 0) {
		lk_error_set(err, LK_EXIT_USAGE, "base image %s: cannot read %s: %s; build or copy the base layout first",
			     base->spec, path, strerror(errno));
		free(path);
		return LK_FAILED;
	}
	index = json_loadb(data, len, 0, &jerr);
	free(data);
	if (!index || !json_is_array(json_object_get(index, "manifests"))) {
		lk_error_set(err, LK_EXIT_BUILD, "base image %s: %s:%d: not an OCI index (%s)",
			     base->spec, path, index ? 1 : jerr.line, index ? "no manifests" : jerr.text);
		json_decref(index);
		free(path);
		return LK_FAILED;
	}
	free(path);
	found = json_array();
	json_array_foreach(json_object_get(index, "manifests"), i, d) {
		const char *name = json_string_value(json_object_get(json_object_get(d, "annotations"),
								     LK_ANNOTATION_REF_NAME));
		int n;

		if (!tag || (name && !strcmp(name, tag)))
			json_array_append(found, d);
		if (name && used < sizeof(tags)) {
			n = snprintf(tags + used, sizeof(tags) - used, "%s%s", used ? ", " : "", name);
			if (n > 0)
				used += (size_t)n;
		}
	}
	json_decref(index);
	if (!json_array_size(found)) {
		if (used)
			lk_error_set(err, LK_EXIT_USAGE,
				     "base image %s: the layout %s has no tag '%s' (its tags: %s); write base = DIR:TAG with one of those",
				     base->spec, base->layout_dir, tag ? tag : "", tags);
		else
			lk_error_set(err, LK_EXIT_USAGE, "base image %s: the layout %s holds no image; build the base first",
				     base->spec, base->layout_dir);
		json_decref(found);
		return LK_FAILED;
	}
	d = json_array_size(found) == 1 ? json_array_get(found, 0) : platform_pick(base, found, opts, err);
	if (!d || !digest_ok(json_string_value(json_object_get(d, "digest")))) {
		if (d)
			lk_error_set(err, LK_EXIT_BUILD, "base image %s: index.json names a manifest without a sha256 digest",
				     base->spec);
		json_decref(found);
		return LK_FAILED;
	}
	strcpy(base->manifest_digest, json_string_value(json_object_get(d, "digest")));
	{
		const char *mt = json_string_value(json_object_get(d, "mediaType"));
		char *mt_copy = mt ? lk_xstrdup(mt) : NULL;

		json_decref(found);
		if (doc_get(base, base->manifest_digest, 0, 0, &data, &len, err) != LK_OK) {
			free(mt_copy);
			return LK_FAILED;
		}
		rc = resolve_doc(base, data, len, mt_copy, opts, err);
		free(mt_copy);
	}
	return rc;
}

static int open_registry(struct lk_base *base, const struct lk_base_opts *opts,
			 struct lk_error *err)
{
	char *data, *media_type = NULL;
	size_t len;
	int rc;

	if (lk_registry_ref_parse(base->spec, &base->ref, err) != LK_OK) {
		lk_error_prefix(err, "base = %s: no OCI layout there (no oci-layout file), and as a registry reference",
				base->spec);
		return LK_FAILED;
	}
	if (opts->insecure && !lk_registry_is_loopback(base->ref.endpoint))
		return lk_error_set(err, LK_EXIT_USAGE,
				    "base image %s: --insecure (plain HTTP) is allowed for registries on this machine only, not %s",
				    base->spec, base->ref.registry);
	base->reg_opts.insecure = opts->insecure;
	base->reg_opts.auth_file = opts->auth_file;
	base->reg_opts.pull_only = 1;
	base->blobs_dir = lk_xasprintf("%s/blobs/sha256", opts->cache_dir);
	/* the layer cache makes it too, but --no-cache does not open that */
	if (mkdir_p(base->blobs_dir) != 0)
		return lk_error_set(err, LK_EXIT_BUILD,
				    "base image %s: cannot create %s for pulled blobs: %s; set cache_dir in [layerkit] to a writable directory",
				    base->spec, base->blobs_dir, strerror(errno));
	if (base->ref.digest) {
		/* by digest: the cache may already hold every document */
		strcpy(base->manifest_digest, base->ref.digest);
		if (doc_get(base, base->ref.digest, 0, 0, &data, &len, err) != LK_OK)
			return LK_FAILED;
		return resolve_doc(base, data, len, NULL, opts, err);
	}
	/* by tag: always asked, since a tag moves */
	if (registry_ready(base, err) != LK_OK ||
	    lk_registry_manifest_get(base->session, base->ref.tag ? base->ref.tag : "latest",
				     &data, &len, &media_type, err) != LK_OK) {
		lk_error_prefix(err, "base image %s", base->spec);
		return LK_FAILED;
	}
	sha256_of(data, len, base->manifest_digest);
	/* kept, so a later digest reference to it needs no registry */
	cache_put(base->blobs_dir, base->manifest_digest, data, len);
	rc = resolve_doc(base, data, len, media_type, opts, err);
	free(media_type);
	return rc;
}

int lk_base_open(struct lk_base *base, const char *spec, const struct lk_base_opts *opts,
		 struct lk_error *err)
{
	const char *colon = strrchr(spec, ':');
	const char *slash = strrchr(spec, '/');
	char *dir, *tag = NULL, *marker;
	struct stat st;
	int rc;

	memset(base, 0, sizeof(*base));
	base->spec = lk_xstrdup(spec);
	/* DIR:TAG when the colon comes after the last '/' */
	if (colon && (!slash || colon > slash) && colon[1]) {
		dir = lk_xasprintf("%.*s", (int)(colon - spec), spec);
		tag = lk_xstrdup(colon + 1);
	} else {
		dir = lk_xstrdup(spec);
	}
	if (dir[0] != '/' && opts->relative_to) {
		char *abs = lk_xasprintf("%s/%s", opts->relative_to, dir);

		free(dir);
		dir = abs;
	}
	marker = lk_xasprintf("%s/oci-layout", dir);
	if (stat(marker, &st) == 0) {
		base->layout_dir = dir;
		base->blobs_dir = lk_xasprintf("%s/blobs/sha256", dir);
		rc = open_layout(base, tag, opts, err);
	} else if (spec[0] == '/' || spec[0] == '.') {
		rc = lk_error_set(err, LK_EXIT_USAGE,
				  "base = %s: %s is not an OCI image layout (no oci-layout file); build the base there first, or name a registry image as HOST/NAME:TAG",
				  spec, dir);
		free(dir);
	} else {
		free(dir);
		rc = open_registry(base, opts, err);
	}
	free(marker);
	free(tag);
	if (rc != LK_OK)
		lk_base_release(base);
	return rc;
}

/* Whether the file at path hashes to digest. */
static int file_matches(const char *path, const char *digest)
{
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE], buf[1 << 16];
	unsigned int md_len = 0;
	char hex[LK_SHA256_HEX_LEN + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC), ok = 0;
	ssize_t n;

	if (fd < 0 || !sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1)
		goto out_close;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		EVP_DigestUpdate(sha, buf, (size_t)n);
	if (n == 0 && EVP_DigestFinal_ex(sha, md, &md_len) == 1) {
		lk_hex(md, md_len, hex);
		ok = !strcmp(hex, digest + 7);
	}
out_close:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(sha);
	return ok;
}

/* Whether layout already holds path's file (a link made by an earlier build). */
static int already_linked(struct lk_layout *layout, const char *path, const char *digest)
{
	struct stat in_cache, in_layout;

	return stat(path, &in_cache) == 0 &&
	       fstatat(layout->blobs_fd, digest + 7, &in_layout, 0) == 0 &&
	       in_cache.st_dev == in_layout.st_dev && in_cache.st_ino == in_layout.st_ino;
}

/* The cache lacks path (or holds a damaged copy): pull the layer into it. */
static int layer_pull(struct lk_base *base, const struct lk_base_layer *l, const char *path,
		      struct lk_error *err)
{
	char *tmp = lk_xasprintf("%s/.tmp-base-XXXXXX", base->blobs_dir);
	int fd, rc;

	if (registry_ready(base, err) != LK_OK) {
		free(tmp);
		lk_error_prefix(err, "base image %s", base->spec);
		return LK_FAILED;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = lk_error_set(err, LK_EXIT_BUILD, "base image %s: cannot create a file in %s: %s",
				  base->spec, base->blobs_dir, strerror(errno));
		free(tmp);
		return rc;
	}
	lk_log(LK_LOG_INFO, "base image %s: pulling layer %s", base->spec, l->digest);
	rc = lk_registry_blob_get(base->session, l->digest, l->size, fd, err);
	if (rc == LK_OK && (fchmod(fd, 0644) != 0 || fsync(fd) != 0 || rename(tmp, path) != 0))
		rc = lk_error_set(err, LK_EXIT_BUILD, "base image %s: cannot keep layer %s in %s: %s",
				  base->spec, l->digest, base->blobs_dir, strerror(errno));
	close(fd);
	if (rc != LK_OK) {
		unlink(tmp);
		lk_error_prefix(err, "base image %s", base->spec);
	} else {
		base->pulled_blobs++;
		base->pulled_bytes += l->size;
	}
	free(tmp);
	return rc;
}

int lk_base_add_layers(struct lk_base *base, struct lk_layout *layout, struct lk_error *err)
{
	for (size_t i = 0; i < base->n_layers; i++) {
		const struct lk_base_layer *l = &base->layers[i];
		char *path = lk_xasprintf("%s/%s", base->blobs_dir, l->digest + 7);
		struct stat st;
		int rc;

		if (!base->layout_dir && already_linked(layout, path, l->digest)) {
			free(path);
			continue;
		}
		/* a cached copy is checked as the layer cache's are: when newly linked */
		if (!base->layout_dir && (stat(path, &st) != 0 || (uint64_t)st.st_size != l->size ||
					  !file_matches(path, l->digest))) {
			if (stat(path, &st) == 0)
				lk_log(LK_LOG_WARN, "base image cache: %s is damaged; pulling it again", path);
			unlink(path);
			if (layer_pull(base, l, path, err) != LK_OK) {
				free(path);
				return LK_FAILED;
			}
		}
		rc = lk_layout_link_blob(layout, path, l->digest, l->size, err);
		free(path);
		if (rc != LK_OK) {
			lk_error_prefix(err, "base image %s, layer %zu", base->spec, i + 1);
			return LK_FAILED;
		}
	}
	return LK_OK;
}

/* The key of "KEY=VALUE" (its length). */
static size_t env_key_len(const char *s)
{
	const char *eq = strchr(s, '=');

	return eq ? (size_t)(eq - s) : strlen(s);
}

/* Base Env entries first (an app entry with the same key replaces one in
 * place), then the app's new keys: PATH stays where the base put it. */
static json_t *env_merge(json_t *base_env, json_t *app_env)
{
	json_t *out = json_array(), *e, *a;
	size_t i, j;

	json_array_foreach(base_env, i, e) {
		const char *s = json_string_value(e);
		json_t *take = e;

		if (!s)
			continue;
		json_array_foreach(app_env, j, a) {
			const char *t = json_string_value(a);

			if (t && env_key_len(t) == env_key_len(s) && !strncmp(s, t, env_key_len(s)))
				take = a;
		}
		json_array_append(out, take);
	}
	json_array_foreach(app_env, j, a) {
		const char *t = json_string_value(a);
		int seen = 0;

		json_array_foreach(base_env, i, e) {
			const char *s = json_string_value(e);

			if (s && t && env_key_len(t) == env_key_len(s) && !strncmp(s, t, env_key_len(s)))
				seen = 1;
		}
		if (!seen)
			json_array_append(out, a);
	}
	return out;
}

static json_t *array_concat(json_t *first, json_t *second)
{
	json_t *out = json_array();

	if (json_is_array(first))
		json_array_extend(out, first);
	if (json_is_array(second))
		json_array_extend(out, second);
	return out;
}

char *lk_base_config_json(const struct lk_base *base, const char *app_json, size_t app_len,
			  int workdir_set, size_t *len, struct lk_error *err)
{
	json_t *app = json_loadb(app_json, app_len, 0, NULL);
	json_t *bdoc = json_loadb(base->config_json, base->config_len, 0, NULL);
	json_t *run, *app_run, *brootfs, *arootfs, *v;
	const char *key;
	char *text = NULL;

	if (!app || !bdoc) {
		lk_error_set(err, LK_EXIT_BUILD, "base image %s: internal error: a config does not parse",
			     base->spec);
		goto out_decref;
	}
	brootfs = json_object_get(bdoc, "rootfs");
	arootfs = json_object_get(app, "rootfs");
	if (json_array_size(json_object_get(brootfs, "diff_ids")) != base->n_layers) {
		lk_error_set(err, LK_EXIT_BUILD, "base image %s: its config has %zu diff_ids for %zu layers; the image is damaged",
			     base->spec, json_array_size(json_object_get(brootfs, "diff_ids")),
			     base->n_layers);
		goto out_decref;
	}
	json_object_set_new(arootfs, "diff_ids",
			    array_concat(json_object_get(brootfs, "diff_ids"),
					 json_object_get(arootfs, "diff_ids")));
	json_object_set_new(app, "history", array_concat(json_object_get(bdoc, "history"),
							 json_object_get(app, "history")));
	if (base->variant)
		json_object_set_new(app, "variant", json_string(base->variant));

	/* the run config: the base's, with what the app sets laid over it */
	run = json_deep_copy(json_object_get(bdoc, "config"));
	if (!json_is_object(run)) {
		json_decref(run);
		run = json_object();
	}
	app_run = json_object_get(app, "config");
	json_object_foreach(app_run, key, v) {
		if (!strcmp(key, "Env")) {
			json_object_set_new(run, key, env_merge(json_object_get(run, "Env"), v));
		} else if (!strcmp(key, "Labels") && json_is_object(json_object_get(run, "Labels"))) {
			json_object_update(json_object_get(run, "Labels"), v);
		} else if (!strcmp(key, "WorkingDir") && !workdir_set &&
			   json_string_length(json_object_get(run, "WorkingDir"))) {
			continue;
		} else {
			json_object_set(run, key, v);
		}
	}
	/* a new Entrypoint does not run with the old one's arguments */
	if (json_object_get(app_run, "Entrypoint") && !json_object_get(app_run, "Cmd"))
		json_object_del(run, "Cmd");
	json_object_set_new(app, "config", run);
	text = json_dumps(app, JSON_COMPACT | JSON_SORT_KEYS);
	if (text)
		*len = strlen(text);
	else
		lk_error_set(err, LK_EXIT_BUILD, "out of memory writing the image config");
out_decref:
	json_decref(app);
	json_decref(bdoc);
	return text;
}

void lk_base_release(struct lk_base *base)
{
	lk_registry_session_free(base->session);
	lk_registry_close(base->registry);
	lk_registry_ref_release(&base->ref);
	for (size_t i = 0; i < base->n_layers; i++)
		free(base->layers[i].media_type);
	free(base->layers);
	free(base->config_json);
	free(base->os);
	free(base->arch);
	free(base->variant);
	free(base->spec);
	free(base->layout_dir);
	free(base->blobs_dir);
	memset(base, 0, sizeof(*base));
}
