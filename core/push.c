/* push.c - pushing an OCI image layout to a registry (distribution spec, through registry.c). */
#include "push.h"
#include "build.h"
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DIGEST_LEN (7 + LK_SHA256_HEX_LEN + 1)
/* Manifests and indexes are read whole; a larger one is not an image. */
#define MANIFEST_MAX (4 * 1024 * 1024)
#define DEFAULT_JOBS 4
#define MAX_JOBS 16
/* Indexes nest; a deeper chain is refused rather than followed. */
#define MAX_INDEX_DEPTH 4

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

enum blob_kind {
	BLOB_CONFIG,
	BLOB_LAYER,
};

struct push_blob {
	char digest[DIGEST_LEN];
	uint64_t size;
	enum blob_kind kind;
	const char *mount_from;		/* NULL, opts->mount_from or recorded_repo */
	char *recorded_repo;		/* where the local record saw it last */
};

struct push_manifest {
	char digest[DIGEST_LEN];
	char *media_type;
	char *data;
	size_t len;
};

/* The image to push, read from the layout: blobs to put in the
 * repository, and manifests in the order to put them (an index after the
 * manifests it lists). */
struct push_image {
	const char *dir;
	int blobs_fd;			/* DIR/blobs/sha256 */
	struct push_blob *blobs;
	size_t n_blobs, cap_blobs;
	struct push_manifest *manifests;
	size_t n_manifests, cap_manifests;
};

static void push_image_release(struct push_image *img)
{
	for (size_t i = 0; i < img->n_blobs; i++)
		free(img->blobs[i].recorded_repo);
	free(img->blobs);
	for (size_t i = 0; i < img->n_manifests; i++) {
		free(img->manifests[i].media_type);
		free(img->manifests[i].data);
	}
	free(img->manifests);
	if (img->blobs_fd >= 0)
		close(img->blobs_fd);
	memset(img, 0, sizeof(*img));
	img->blobs_fd = -1;
}

/* The hex part of a "sha256:<64 lowercase hex>" digest, or NULL: only
 * such names are opened under blobs/sha256, so a layout cannot point a
 * push outside itself. */
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

/* Reads a descriptor: its mediaType (may be NULL), digest and size. */
static int descriptor_get(const struct push_image *img, json_t *desc, const char *where,
			  const char **media_type, const char **digest, uint64_t *size,
			  struct lk_error *err)
{
	json_t *jsize = json_object_get(desc, "size");

	*media_type = json_string_value(json_object_get(desc, "mediaType"));
	*digest = json_string_value(json_object_get(desc, "digest"));
	if (!json_is_object(desc) || !digest_hex(*digest) || !json_is_integer(jsize) ||
	    json_integer_value(jsize) < 0)
		return lk_error_set(err, LK_EXIT_BUILD,
				    "OCI layout %s: %s is not a descriptor with a sha256 \"digest\" and a \"size\"; the layout is damaged, build it again",
				    img->dir, where);
	*size = (uint64_t)json_integer_value(jsize);
	return LK_OK;
}

/* Reads a small blob (a manifest or an index) whole and checks its size
 * and digest; *data is malloc'ed and NUL-terminated. */
static int small_blob_read(const struct push_image *img, const char *digest, uint64_t size,
			   char **data, struct lk_error *err)
{
	const char *hex = digest_hex(digest);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char got[LK_SHA256_HEX_LEN + 1];
	char *buf;
	size_t have = 0;
	int fd;

	if (size > MANIFEST_MAX)
		return lk_error_set(err, LK_EXIT_BUILD,
				    "OCI layout %s: manifest %s is %llu bytes; more than %d is not an image manifest",
				    img->dir, digest, (unsigned long long)size, MANIFEST_MAX);
	fd = openat(img->blobs_fd, hex, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lk_error_set(err, LK_EXIT_BUILD,
				    "OCI layout %s: cannot open blobs/sha256/%s (manifest %s): %s; the layout is incomplete, build it again",
				    img->dir, hex, digest, strerror(errno));
	buf = lk_xmalloc((size_t)size + 1);
	while (have < size + 1) {
		ssize_t n = read(fd, buf + have, (size_t)size + 1 - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			lk_error_set(err, LK_EXIT_BUILD, "OCI layout %s: reading blobs/sha256/%s: %s",
				     img->dir, hex, strerror(errno));
			goto out_free_buf;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	if (have != size) {
		lk_error_set(err, LK_EXIT_BUILD,
			     "OCI layout %s: manifest %s is %s%llu bytes, its descriptor says %llu; the layout is damaged, build it again",
			     img->dir, digest, have > size ? "more than " : "", (unsigned long long)(have > size ? size : have),
			     (unsigned long long)size);
		goto out_free_buf;
	}
	if (EVP_Digest(buf, have, md, &md_len, EVP_sha256(), NULL) != 1) {
		lk_error_set(err, LK_EXIT_BUILD, "cannot hash manifest %s (OpenSSL failed)", digest);
		goto out_free_buf;
	}
	lk_hex(md, md_len, got);
	if (strcmp(got, hex)) {
		lk_error_set(err, LK_EXIT_BUILD,
			     "OCI layout %s: blobs/sha256/%s does not match its name (its sha256 is %s); the layout is damaged, build it again",
			     img->dir, hex, got);
		goto out_free_buf;
	}
	buf[have] = '\0';
	*data = buf;
	close(fd);
	return LK_OK;
out_free_buf:
	free(buf);
	close(fd);
	return LK_FAILED;
}

static void blob_add(struct push_image *img, const char *digest, uint64_t size, enum blob_kind kind)
{
	struct push_blob *b;

	for (size_t i = 0; i < img->n_blobs; i++)
		if (!strcmp(img->blobs[i].digest, digest))
			return;
	lk_grow((void **)&img->blobs, &img->cap_blobs, img->n_blobs + 1, sizeof(*img->blobs));
	b = &img->blobs[img->n_blobs++];
	memset(b, 0, sizeof(*b));
	snprintf(b->digest, sizeof(b->digest), "%s", digest);
	b->size = size;
	b->kind = kind;
}

static int media_type_is_index(const char *mt)
{
	return mt && (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST));
}

/* Reads the manifest (or index) digest and what it references into img. */
static int manifest_load(struct push_image *img, const char *digest, uint64_t size,
			 const char *desc_media_type, int depth, struct lk_error *err)
{
	struct push_manifest *m;
	const char *media_type;
	json_error_t jerr;
	json_t *root, *list;
	char *data = NULL;
	char where[128];
	size_t i;
	int rc = LK_FAILED;

	for (i = 0; i < img->n_manifests; i++)
		if (!strcmp(img->manifests[i].digest, digest))
			return LK_OK;
	if (small_blob_read(img, digest, size, &data, err) != LK_OK)
		return LK_FAILED;
	root = json_loadb(data, (size_t)size, 0, &jerr);
	if (!json_is_object(root)) {
		lk_error_set(err, LK_EXIT_BUILD,
			     "OCI layout %s: manifest %s is not a JSON object (%s); the layout is damaged, build it again",
			     img->dir, digest, root ? "another JSON value" : jerr.text);
		goto out_put_root;
	}
	media_type = json_string_value(json_object_get(root, "mediaType"));
	if (!media_type)
		media_type = desc_media_type;
	if (!media_type) {
		lk_error_set(err, LK_EXIT_BUILD,
			     "OCI layout %s: manifest %s has no mediaType, and neither has its descriptor; the registry needs it as the Content-Type",
			     img->dir, digest);
		goto out_put_root;
	}
	if (media_type_is_index(media_type)) {
		json_t *desc;

		if (depth >= MAX_INDEX_DEPTH) {
			lk_error_set(err, LK_EXIT_BUILD,
				     "OCI layout %s: image indexes nest more than %d deep at %s; refusing to follow",
				     img->dir, MAX_INDEX_DEPTH, digest);
			goto out_put_root;
		}
		list = json_object_get(root, "manifests");
		if (!json_is_array(list)) {
			lk_error_set(err, LK_EXIT_BUILD, "OCI layout %s: index %s has no \"manifests\" array",
				     img->dir, digest);
			goto out_put_root;
		}
		json_array_foreach(list, i, desc) {
			const char *mt, *d;
			uint64_t s;

			snprintf(where, sizeof(where), "manifests[%zu] of index %.19s", i, digest);
			if (descriptor_get(img, desc, where, &mt, &d, &s, err) != LK_OK ||
			    manifest_load(img, d, s, mt, depth + 1, err) != LK_OK)
				goto out_put_root;
		}
	} else {
		json_t *config = json_object_get(root, "config"), *desc;
		const char *mt, *d;
		uint64_t s;

		snprintf(where, sizeof(where), "the config of manifest %.19s", digest);
		if (descriptor_get(img, config, where, &mt, &d, &s, err) != LK_OK)
			goto out_put_root;
		blob_add(img, d, s, BLOB_CONFIG);
		list = json_object_get(root, "layers");
		if (!json_is_array(list)) {
			lk_error_set(err, LK_EXIT_BUILD,
				     "OCI layout %s: manifest %s has no \"layers\" array; the layout is damaged, build it again",
				     img->dir, digest);
			goto out_put_root;
		}
		json_array_foreach(list, i, desc) {
			snprintf(where, sizeof(where), "layers[%zu] of manifest %.19s", i, digest);
			if (descriptor_get(img, desc, where, &mt, &d, &s, err) != LK_OK)
				goto out_put_root;
			/* registries fetch these from their URLs, never from a push */
			if (json_array_size(json_object_get(desc, "urls")) &&
			    mt && (strstr(mt, "nondistributable") || strstr(mt, "foreign"))) {
				lk_log(LK_LOG_INFO, "layer %s is non-distributable; not pushed", d);
				continue;
			}
			blob_add(img, d, s, BLOB_LAYER);
		}
	}
	lk_grow((void **)&img->manifests, &img->cap_manifests, img->n_manifests + 1,
		sizeof(*img->manifests));
	m = &img->manifests[img->n_manifests++];
	snprintf(m->digest, sizeof(m->digest), "%s", digest);
	m->media_type = lk_xstrdup(media_type);
	m->data = data;
	m->len = (size_t)size;
	data = NULL;
	rc = LK_OK;
out_put_root:
	json_decref(root);
	free(data);
	return rc;
}

/* Opens the layout and reads the image tagged tag (NULL: the only or first). */
static int image_load(struct push_image *img, const char *dir, const char *tag,
		      struct lk_error *err)
{
	json_t *index, *list, *desc, *chosen = NULL;
	json_error_t jerr;
	const char *mt, *digest;
	char *path;
	uint64_t size;
	size_t i;
	struct stat st;
	int rc = LK_FAILED;

	memset(img, 0, sizeof(*img));
	img->dir = dir;
	img->blobs_fd = -1;
	path = lk_xasprintf("%s/oci-layout", dir);
	if (stat(path, &st) != 0) {
		free(path);
		return lk_error_set(err, LK_EXIT_USAGE,
				    "%s is not an OCI image layout (no %s/oci-layout); give the directory `layerkit build` wrote, as DIR or DIR:TAG",
				    dir, dir);
	}
	free(path);
	path = lk_xasprintf("%s/blobs/sha256", dir);
	img->blobs_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	free(path);
	if (img->blobs_fd < 0)
		return lk_error_set(err, LK_EXIT_BUILD, "OCI layout %s: cannot open blobs/sha256: %s",
				    dir, strerror(errno));
	path = lk_xasprintf("%s/index.json", dir);
	index = json_load_file(path, 0, &jerr);
	if (!index) {
		lk_error_set(err, LK_EXIT_BUILD, "OCI layout %s: index.json, line %d: %s; build the image again",
			     dir, jerr.line, jerr.text);
		goto out_free_path;
	}
	list = json_object_get(index, "manifests");
	if (!json_array_size(list)) {
		lk_error_set(err, LK_EXIT_USAGE, "OCI layout %s holds no image (index.json lists no manifest)",
			     dir);
		goto out_put_index;
	}
	if (tag) {
		json_array_foreach(list, i, desc) {
			const char *name = json_string_value(json_object_get(
				json_object_get(desc, "annotations"), ANNOTATION_REF_NAME));

			if (name && !strcmp(name, tag)) {
				chosen = desc;
				break;
			}
		}
		if (!chosen) {
			char tags[1024] = "";
			size_t used = 0;

			json_array_foreach(list, i, desc) {
				const char *name = json_string_value(json_object_get(
					json_object_get(desc, "annotations"), ANNOTATION_REF_NAME));

				if (name && used < sizeof(tags))
					used += (size_t)snprintf(tags + used, sizeof(tags) - used, "%s%s",
								 used ? ", " : "", name);
			}
			lk_error_set(err, LK_EXIT_USAGE, "OCI layout %s has no image tagged '%s'; its tags: %s",
				     dir, tag, used ? tags : "none");
			goto out_put_index;
		}
	} else {
		chosen = json_array_get(list, 0);
		if (json_array_size(list) > 1)
			lk_log(LK_LOG_INFO, "OCI layout %s holds %zu images; pushing the first (give DIR:TAG to choose)",
			       dir, json_array_size(list));
	}
	if (descriptor_get(img, chosen, "the image's entry in index.json", &mt, &digest, &size, err) != LK_OK)
		goto out_put_index;
	rc = manifest_load(img, digest, size, mt, 0, err);
out_put_index:
	json_decref(index);
out_free_path:
	free(path);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The local record of which repository holds which blob               */

/* CACHE/registry/<registry>, or NULL when there is no cache directory. */
static char *record_dir_get(const struct lk_push_opts *opts, const char *registry)
{
	const char *env;

	if (opts->cache_dir && *opts->cache_dir)
		return lk_xasprintf("%s/registry/%s", opts->cache_dir, registry);
	env = getenv("XDG_CACHE_HOME");
	if (env && env[0] == '/')
		return lk_xasprintf("%s/layerkit/registry/%s", env, registry);
	env = getenv("HOME");
	if (env && *env)
		return lk_xasprintf("%s/.cache/layerkit/registry/%s", env, registry);
	return NULL;
}

/* The repository recorded for digest, or NULL. */
static char *record_read(const char *dir, const char *digest)
{
	char *path, buf[512];
	FILE *f;
	size_t n;

	if (!dir)
		return NULL;
	path = lk_xasprintf("%s/%s", dir, digest_hex(digest));
	f = fopen(path, "re");
	free(path);
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	/* a damaged record only costs a refused mount, but keep it a name */
	if (!*buf || buf[strspn(buf, "abcdefghijklmnopqrstuvwxyz0123456789._-/")])
		return NULL;
	return lk_xstrdup(buf);
}

static int mkdir_p(const char *path)
{
	char *p = lk_xstrdup(path);

	for (char *s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
		if (s)
			*s = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		if (!s)
			break;
		*s = '/';
	}
	free(p);
	return 0;
}

/* Records that repository holds digest (best effort: a record that cannot
 * be written only loses a later mount). */
static void record_write(const char *dir, const char *digest, const char *repository)
{
	char *path, *tmp;
	FILE *f;
	int ok;

	if (!dir)
		return;
	if (mkdir_p(dir) != 0) {
		lk_log(LK_LOG_DEBUG, "cannot create %s: %s; blobs pushed now will not be mounted later",
		       dir, strerror(errno));
		return;
	}
	path = lk_xasprintf("%s/%s", dir, digest_hex(digest));
	tmp = lk_xasprintf("%s/.tmp-%ld-%lx", dir, (long)getpid(), (unsigned long)pthread_self());
	f = fopen(tmp, "we");
	ok = f && fprintf(f, "%s\n", repository) > 0;
	if (f)
		ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		lk_log(LK_LOG_DEBUG, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	free(path);
}

/* ------------------------------------------------------------------ */
/* Pushing                                                             */

struct push_run {
	struct lk_registry *reg;
	struct push_image *img;
	const char *repository;
	char *record_dir;
	enum blob_kind kind;		/* the phase: configs, then layers */
	pthread_mutex_t mutex;		/* guards what follows */
	size_t next;			/* next blob to take */
	int failed;
	struct lk_error err;		/* the first failure */
	struct lk_push_stats *stats;
};

static const char *blob_kind_name(enum blob_kind kind)
{
	return kind == BLOB_CONFIG ? "config" : "layer";
}

static int blob_push_one(struct lk_registry_session *s, struct push_run *run,
			 struct push_blob *b, struct lk_error *err)
{
	const char *hex = digest_hex(b->digest);
	enum lk_blob_push how;
	struct stat st;
	char human[32];
	int exists, fd, rc;

	if (lk_registry_blob_exists(s, b->digest, &exists, err) != LK_OK)
		return LK_FAILED;
	lk_human_bytes(b->size, human, sizeof(human));
	if (exists) {
		pthread_mutex_lock(&run->mutex);
		run->stats->blobs_skipped++;
		run->stats->bytes_skipped += b->size;
		pthread_mutex_unlock(&run->mutex);
		lk_log(LK_LOG_DEBUG, "%s %.19s (%s): already there", blob_kind_name(b->kind),
		       b->digest, human);
		if (!b->recorded_repo || strcmp(b->recorded_repo, run->repository))
			record_write(run->record_dir, b->digest, run->repository);
		return LK_OK;
	}
	fd = openat(run->img->blobs_fd, hex, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lk_error_set(err, LK_EXIT_BUILD,
				    "OCI layout %s: cannot open blobs/sha256/%s (%s %s): %s; the layout is incomplete, build it again",
				    run->img->dir, hex, blob_kind_name(b->kind), b->digest, strerror(errno));
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != b->size) {
		close(fd);
		return lk_error_set(err, LK_EXIT_BUILD,
				    "OCI layout %s: blobs/sha256/%s is %lld bytes, its descriptor says %llu; the layout is damaged, build it again",
				    run->img->dir, hex, (long long)st.st_size, (unsigned long long)b->size);
	}
	rc = lk_registry_blob_push(s, b->digest, b->size, fd, b->mount_from, &how, err);
	close(fd);
	if (rc != LK_OK)
		return LK_FAILED;
	pthread_mutex_lock(&run->mutex);
	if (how == LK_BLOB_MOUNTED) {
		run->stats->blobs_mounted++;
		run->stats->bytes_mounted += b->size;
	} else {
		run->stats->blobs_uploaded++;
		run->stats->bytes_uploaded += b->size;
	}
	pthread_mutex_unlock(&run->mutex);
	if (how == LK_BLOB_MOUNTED)
		lk_log(LK_LOG_DEBUG, "%s %.19s (%s): mounted from %s", blob_kind_name(b->kind),
		       b->digest, human, b->mount_from);
	else
		lk_log(LK_LOG_DEBUG, "%s %.19s (%s): uploaded", blob_kind_name(b->kind), b->digest,
		       human);
	record_write(run->record_dir, b->digest, run->repository);
	return LK_OK;
}

/* Takes blobs of the current phase until there are none or one failed. */
static void *push_worker(void *opaque)
{
	struct push_run *run = opaque;
	struct lk_registry_session *s = lk_registry_session_new(run->reg);
	struct lk_error err;

	for (;;) {
		struct push_blob *b = NULL;

		pthread_mutex_lock(&run->mutex);
		while (!run->failed && run->next < run->img->n_blobs && !b) {
			if (run->img->blobs[run->next].kind == run->kind)
				b = &run->img->blobs[run->next];
			run->next++;
		}
		pthread_mutex_unlock(&run->mutex);
		if (!b)
			break;
		lk_error_clear(&err);
		if (blob_push_one(s, run, b, &err) != LK_OK) {
			pthread_mutex_lock(&run->mutex);
			if (!run->failed) {
				run->failed = 1;
				run->err = err;
			}
			pthread_mutex_unlock(&run->mutex);
			break;
		}
	}
	lk_registry_session_free(s);
	return NULL;
}

/* Pushes every blob of one kind, jobs at once (this thread is one of them). */
static int push_phase(struct push_run *run, enum blob_kind kind, unsigned jobs,
		      struct lk_error *err)
{
	pthread_t threads[MAX_JOBS];
	size_t count = 0, started = 0;

	for (size_t i = 0; i < run->img->n_blobs; i++)
		count += run->img->blobs[i].kind == kind;
	run->kind = kind;
	run->next = 0;
	if (jobs > count)
		jobs = (unsigned)count;
	for (unsigned i = 1; i < jobs; i++) {
		if (pthread_create(&threads[started], NULL, push_worker, run) != 0)
			break;	/* fewer threads only make it slower */
		started++;
	}
	push_worker(run);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	if (run->failed) {
		*err = run->err;
		return LK_FAILED;
	}
	return LK_OK;
}

/* Mount sources to ask a token for: each distinct one, NULL-terminated. */
static const char **mount_sources_list(const struct push_image *img)
{
	const char **list = lk_xcalloc(img->n_blobs + 1, sizeof(*list));
	size_t n = 0;

	for (size_t i = 0; i < img->n_blobs; i++) {
		const char *from = img->blobs[i].mount_from;
		size_t j;

		if (!from)
			continue;
		for (j = 0; j < n && strcmp(list[j], from); j++)
			;
		if (j == n)
			list[n++] = from;
	}
	return list;
}

void lk_push_source_split(const char *source, char **dir, char **tag)
{
	const char *colon = strrchr(source, ':'), *slash = strrchr(source, '/');
	struct stat st;

	if ((stat(source, &st) == 0 && S_ISDIR(st.st_mode)) || !colon || (slash && colon < slash) ||
	    colon == source) {
		*dir = lk_xstrdup(source);
		*tag = NULL;
		return;
	}
	*dir = lk_xstrdup(source);
	(*dir)[colon - source] = '\0';
	*tag = colon[1] ? lk_xstrdup(colon + 1) : NULL;
}

static int push_image_to(struct push_image *img, const char *ref_text,
			 const struct lk_registry_ref *ref, const struct lk_push_opts *opts,
			 struct lk_push_stats *stats, struct lk_error *err)
{
	struct lk_registry_opts ropts = { 0 };
	struct push_run run = { 0 };
	struct lk_registry_session *s;
	struct push_manifest *top = &img->manifests[img->n_manifests - 1];
	const char *reference;
	const char **sources;
	unsigned jobs = opts->jobs ? opts->jobs : DEFAULT_JOBS;
	int rc = LK_FAILED;

	if (jobs > MAX_JOBS)
		jobs = MAX_JOBS;
	snprintf(stats->manifest_digest, sizeof(stats->manifest_digest), "%s", top->digest);
	if (ref->digest && strcmp(ref->digest, top->digest))
		return lk_error_set(err, LK_EXIT_USAGE,
				    "the image in %s is %s, but the reference %s names %s; drop the @digest or push the image it names",
				    img->dir, top->digest, ref_text, ref->digest);
	reference = ref->tag ? ref->tag : ref->digest ? ref->digest : "latest";

	run.record_dir = record_dir_get(opts, ref->registry);
	for (size_t i = 0; i < img->n_blobs; i++) {
		struct push_blob *b = &img->blobs[i];

		b->recorded_repo = record_read(run.record_dir, b->digest);
		if (opts->mount_from && strcmp(opts->mount_from, ref->repository))
			b->mount_from = opts->mount_from;
		else if (b->recorded_repo && strcmp(b->recorded_repo, ref->repository))
			b->mount_from = b->recorded_repo;
	}
	sources = mount_sources_list(img);
	ropts.insecure = opts->insecure;
	ropts.auth_file = opts->auth_file;
	ropts.pull_scopes = sources;
	run.reg = lk_registry_open(ref, &ropts, err);
	if (!run.reg)
		goto out_free_sources;
	run.img = img;
	run.repository = ref->repository;
	run.stats = stats;
	pthread_mutex_init(&run.mutex, NULL);
	if (push_phase(&run, BLOB_CONFIG, jobs, err) != LK_OK ||
	    push_phase(&run, BLOB_LAYER, jobs, err) != LK_OK)
		goto out_destroy_mutex;

	/* manifests last: an index after what it lists, the top one under the tag */
	s = lk_registry_session_new(run.reg);
	rc = LK_OK;
	for (size_t i = 0; i < img->n_manifests && rc == LK_OK; i++) {
		struct push_manifest *m = &img->manifests[i];

		rc = lk_registry_manifest_put(s, m == top ? reference : m->digest, m->media_type,
					      m->data, m->len, err);
	}
	lk_registry_session_free(s);
out_destroy_mutex:
	pthread_mutex_destroy(&run.mutex);
	lk_registry_close(run.reg);
out_free_sources:
	free(sources);
	free(run.record_dir);
	return rc;
}

int lk_push_layout(const char *layout_dir, const char *tag, const char *ref_text,
		   const struct lk_push_opts *opts, struct lk_push_stats *stats,
		   struct lk_error *err)
{
	static const struct timespec no_wait = { 0, 0 };
	struct lk_registry_ref ref;
	struct push_image img;
	sigset_t pipe_set, old_set;
	char up[32], mounted[32], skipped[32];
	int rc;

	memset(stats, 0, sizeof(*stats));
	if (lk_registry_ref_parse(ref_text, &ref, err) != LK_OK)
		return LK_FAILED;
	if (opts->insecure && !lk_registry_is_loopback(ref.endpoint)) {
		lk_error_set(err, LK_EXIT_USAGE,
			     "--insecure (plain HTTP) is only for a registry on this machine (localhost, 127.0.0.0/8, [::1]), and %s is not one: push to it over TLS (drop --insecure)",
			     ref.registry);
		goto out_release_ref;
	}
	if (image_load(&img, layout_dir, tag, err) != LK_OK) {
		push_image_release(&img);
		goto out_release_ref;
	}

	/* a connection the registry closes must be an error, not a signal
	 * that kills the process; threads started now inherit the mask */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
	rc = push_image_to(&img, ref_text, &ref, opts, stats, err);
	while (sigtimedwait(&pipe_set, NULL, &no_wait) == SIGPIPE)
		;
	pthread_sigmask(SIG_SETMASK, &old_set, NULL);
	push_image_release(&img);

	if (rc == LK_OK)
		lk_log(LK_LOG_INFO,
		       "pushed %s%s%s to %s/%s%s%s (%s): uploaded %zu blob%s (%s), mounted %zu (%s), %zu already there (%s)",
		       layout_dir, tag ? ":" : "", tag ? tag : "", ref.registry, ref.repository,
		       ref.tag ? ":" : ref.digest ? "@" : ":",
		       ref.tag ? ref.tag : ref.digest ? ref.digest : "latest", stats->manifest_digest,
		       stats->blobs_uploaded, stats->blobs_uploaded == 1 ? "" : "s",
		       lk_human_bytes(stats->bytes_uploaded, up, sizeof(up)), stats->blobs_mounted,
		       lk_human_bytes(stats->bytes_mounted, mounted, sizeof(mounted)),
		       stats->blobs_skipped, lk_human_bytes(stats->bytes_skipped, skipped, sizeof(skipped)));
	lk_registry_ref_release(&ref);
	return rc;
out_release_ref:
	lk_registry_ref_release(&ref);
	return LK_FAILED;
}
