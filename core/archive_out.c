/* archive_out.c - one tar that is both an OCI layout and a docker-archive (docker/podman load). */
#include "archive_out.h"
#include "oci.h"
#include "registry.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ANNOTATION_CONTAINERD_NAME "io.containerd.image.name"
#define OCI_LAYOUT_TEXT "{\"imageLayoutVersion\":\"1.0.0\"}"

struct archive_job {
	const char *path;		/* for messages */
	const struct lk_archive_image *image;
	struct archive *tar;
	struct archive_entry *entry;
	struct lk_error *err;
};

static int tar_error(struct archive_job *job, const char *what)
{
	return lk_error_set(job->err, LK_EXIT_BUILD, "writing %s: %s: %s; check the disk space and permissions there",
			    job->path, what, archive_error_string(job->tar) ?: "unknown error");
}

static int put_header(struct archive_job *job, const char *name, int is_dir, uint64_t size)
{
	archive_entry_clear(job->entry);
	archive_entry_set_pathname(job->entry, name);
	archive_entry_set_filetype(job->entry, is_dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(job->entry, is_dir ? 0755 : 0644);
	archive_entry_set_uid(job->entry, 0);
	archive_entry_set_gid(job->entry, 0);
	archive_entry_set_mtime(job->entry, job->image->mtime, 0);
	archive_entry_set_size(job->entry, (la_int64_t)size);
	if (archive_write_header(job->tar, job->entry) != ARCHIVE_OK)
		return tar_error(job, name);
	return LK_OK;
}

static int put_bytes(struct archive_job *job, const char *name, const char *data, size_t len)
{
	if (put_header(job, name, 0, len) != LK_OK)
		return LK_FAILED;
	if (len && archive_write_data(job->tar, data, len) != (la_ssize_t)len)
		return tar_error(job, name);
	return LK_OK;
}

/* blobs/sha256/<hex> of the layout, streamed; its size must be size. */
static int put_blob(struct archive_job *job, const char *digest, uint64_t size)
{
	char *src = lk_xasprintf("%s/blobs/sha256/%s", job->image->layout_dir, digest + 7);
	char *name = lk_xasprintf("blobs/sha256/%s", digest + 7);
	char buf[1 << 16];
	uint64_t left = size;
	struct stat st;
	int fd, rc = LK_FAILED;

	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || (uint64_t)st.st_size != size) {
		lk_error_set(job->err, LK_EXIT_BUILD,
			     "%s: %s; the layout is damaged, build it again",
			     src, fd < 0 ? strerror(errno) : "not the size its descriptor says");
		goto out_close;
	}
	if (put_header(job, name, 0, size) != LK_OK)
		goto out_close;
	while (left) {
		ssize_t n = read(fd, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			lk_error_set(job->err, LK_EXIT_BUILD, "reading %s: %s", src,
				     n < 0 ? strerror(errno) : "it got shorter while being read");
			goto out_close;
		}
		if (archive_write_data(job->tar, buf, (size_t)n) != n) {
			tar_error(job, name);
			goto out_close;
		}
		left -= (uint64_t)n;
	}
	rc = LK_OK;
out_close:
	if (fd >= 0)
		close(fd);
	free(name);
	free(src);
	return rc;
}

static json_t *load_json_file(const char *path, struct lk_error *err)
{
	json_error_t jerr;
	json_t *doc = json_load_file(path, 0, &jerr);

	if (!doc)
		lk_error_set(err, LK_EXIT_BUILD, "%s:%d: %s; the layout is damaged, build it again",
			     path, jerr.line, jerr.text);
	return doc;
}

struct archive_blob {
	char *digest;			/* "sha256:<hex>" */
	uint64_t size;
};

static int cmp_blob(const void *a, const void *b)
{
	return strcmp(((const struct archive_blob *)a)->digest,
		      ((const struct archive_blob *)b)->digest);
}

/* The documents of the archive: index.json and manifest.json, and the
 * blobs to carry (sorted by digest, each once). */
struct archive_docs {
	char *index_json;
	char *manifest_json;
	struct archive_blob *blobs;
	size_t n;
};

static void docs_release(struct archive_docs *d)
{
	free(d->index_json);
	free(d->manifest_json);
	for (size_t i = 0; i < d->n; i++)
		free(d->blobs[i].digest);
	free(d->blobs);
	memset(d, 0, sizeof(*d));
}

static void docs_add_blob(struct archive_docs *d, const char *digest, uint64_t size)
{
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->blobs[i].digest, digest))
			return;
	d->blobs = lk_xrealloc(d->blobs, (d->n + 1) * sizeof(*d->blobs));
	d->blobs[d->n].digest = lk_xstrdup(digest);
	d->blobs[d->n].size = size;
	d->n++;
}

static int docs_make(const struct lk_archive_image *image, struct archive_docs *d,
		     struct lk_error *err)
{
	struct lk_registry_ref ref;
	char *index_path = lk_xasprintf("%s/index.json", image->layout_dir);
	char *manifest_path = lk_xasprintf("%s/blobs/sha256/%s", image->layout_dir,
					   image->manifest_digest + 7);
	char *full = NULL, *repo_tag = NULL;
	json_t *index = NULL, *manifest = NULL, *desc = NULL, *d_copy, *entry, *layers, *l;
	json_t *out_index, *annotations, *list, *docker;
	size_t i;
	int rc = LK_FAILED;

	memset(d, 0, sizeof(*d));
	/* the name is checked as a reference, so RepoTags loads everywhere */
	repo_tag = lk_xasprintf("%s:%s", image->image_name, image->tag);
	if (lk_registry_ref_parse(repo_tag, &ref, err) != LK_OK) {
		lk_error_prefix(err, "image_name = %s", image->image_name);
		goto out_free;
	}
	full = lk_xasprintf("%s/%s:%s", ref.registry, ref.repository, image->tag);
	lk_registry_ref_release(&ref);

	index = load_json_file(index_path, err);
	manifest = index ? load_json_file(manifest_path, err) : NULL;
	if (!manifest)
		goto out_free;
	json_array_foreach(json_object_get(index, "manifests"), i, entry) {
		if (!strcmp(json_string_value(json_object_get(entry, "digest")) ?: "",
			    image->manifest_digest))
			desc = entry;
	}
	layers = json_object_get(manifest, "layers");
	if (!desc || !json_is_array(layers) ||
	    !json_string_value(json_object_get(json_object_get(manifest, "config"), "digest"))) {
		lk_error_set(err, LK_EXIT_BUILD, "%s does not list manifest %s with its config and layers; build the image again",
			     index_path, image->manifest_digest);
		goto out_free;
	}

	/* index.json: the manifest's descriptor, named for containerd */
	d_copy = json_deep_copy(desc);
	annotations = json_object();
	json_object_set_new(annotations, ANNOTATION_CONTAINERD_NAME, json_string(full));
	json_object_set_new(annotations, LK_ANNOTATION_REF_NAME, json_string(image->tag));
	json_object_set_new(d_copy, "annotations", annotations);
	list = json_array();
	json_array_append_new(list, d_copy);
	out_index = json_object();
	json_object_set_new(out_index, "schemaVersion", json_integer(2));
	json_object_set_new(out_index, "mediaType", json_string(LK_MT_INDEX));
	json_object_set_new(out_index, "manifests", list);
	d->index_json = json_dumps(out_index, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(out_index);

	/* manifest.json: what docker load reads */
	docker = json_object();
	json_object_set_new(docker, "Config",
			    json_sprintf("blobs/sha256/%s",
					 json_string_value(json_object_get(json_object_get(manifest, "config"), "digest")) + 7));
	list = json_array();
	json_array_append_new(list, json_string(repo_tag));
	json_object_set_new(docker, "RepoTags", list);
	list = json_array();
	json_array_foreach(layers, i, l) {
		const char *digest = json_string_value(json_object_get(l, "digest"));

		if (!digest || strncmp(digest, "sha256:", 7)) {
			json_decref(docker);
			lk_error_set(err, LK_EXIT_BUILD, "%s: layer %zu has no sha256 digest; build the image again",
				     manifest_path, i + 1);
			goto out_free;
		}
		json_array_append_new(list, json_sprintf("blobs/sha256/%s", digest + 7));
		docs_add_blob(d, digest, (uint64_t)json_integer_value(json_object_get(l, "size")));
	}
	json_object_set_new(docker, "Layers", list);
	list = json_array();
	json_array_append_new(list, docker);
	d->manifest_json = json_dumps(list, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(list);

	docs_add_blob(d, image->manifest_digest,
		      (uint64_t)json_integer_value(json_object_get(desc, "size")));
	docs_add_blob(d, json_string_value(json_object_get(json_object_get(manifest, "config"), "digest")),
		      (uint64_t)json_integer_value(json_object_get(json_object_get(manifest, "config"), "size")));
	/* sorted entries: the same image gives the same archive */
	qsort(d->blobs, d->n, sizeof(*d->blobs), cmp_blob);
	if (d->index_json && d->manifest_json)
		rc = LK_OK;
	else
		lk_error_set(err, LK_EXIT_BUILD, "out of memory writing the archive's documents");
out_free:
	json_decref(index);
	json_decref(manifest);
	free(full);
	free(repo_tag);
	free(index_path);
	free(manifest_path);
	if (rc != LK_OK)
		docs_release(d);
	return rc;
}

int lk_archive_write(const char *path, const struct lk_archive_image *image,
		     struct lk_error *err)
{
	struct archive_job job = { .path = path, .image = image, .err = err };
	struct archive_docs docs;
	char *tmp = lk_xasprintf("%s.tmp-XXXXXX", path);
	int fd, rc = LK_FAILED;

	if (docs_make(image, &docs, err) != LK_OK) {
		free(tmp);
		return LK_FAILED;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		lk_error_set(err, LK_EXIT_BUILD, "cannot create %s: %s; check that its directory exists and is writable",
			     tmp, strerror(errno));
		goto out_docs;
	}
	job.tar = archive_write_new();
	job.entry = archive_entry_new();
	if (!job.tar || !job.entry || archive_write_set_format_pax_restricted(job.tar) != ARCHIVE_OK ||
	    archive_write_open_fd(job.tar, fd) != ARCHIVE_OK) {
		tar_error(&job, "opening the archive");
		goto out_archive;
	}
	/* in name order */
	if (put_header(&job, "blobs/", 1, 0) != LK_OK ||
	    put_header(&job, "blobs/sha256/", 1, 0) != LK_OK)
		goto out_archive;
	for (size_t i = 0; i < docs.n; i++)
		if (put_blob(&job, docs.blobs[i].digest, docs.blobs[i].size) != LK_OK)
			goto out_archive;
	if (put_bytes(&job, "index.json", docs.index_json, strlen(docs.index_json)) != LK_OK ||
	    put_bytes(&job, "manifest.json", docs.manifest_json, strlen(docs.manifest_json)) != LK_OK ||
	    put_bytes(&job, "oci-layout", OCI_LAYOUT_TEXT, strlen(OCI_LAYOUT_TEXT)) != LK_OK)
		goto out_archive;
	if (archive_write_close(job.tar) != ARCHIVE_OK) {
		tar_error(&job, "closing the archive");
		goto out_archive;
	}
	if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
		lk_error_set(err, LK_EXIT_BUILD, "writing %s: %s", tmp, strerror(errno));
		goto out_archive;
	}
	if (rename(tmp, path) != 0) {
		lk_error_set(err, LK_EXIT_BUILD, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto out_archive;
	}
	rc = LK_OK;
out_archive:
	if (job.tar)
		archive_write_free(job.tar);
	if (job.entry)
		archive_entry_free(job.entry);
	close(fd);
	if (rc != LK_OK)
		unlink(tmp);
out_docs:
	docs_release(&docs);
	free(tmp);
	return rc;
}
