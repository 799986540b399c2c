/* layout.c - an OCI image layout directory, written atomically. */
#include "layout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define OCI_LAYOUT_JSON "{\"imageLayoutVersion\":\"1.0.0\"}"
#define TMP_PREFIX ".tmp-"
/* Image indexes nest; a deeper chain is refused rather than followed. */
#define MAX_INDEX_DEPTH 8

/* Unique temporary names within this process (the lock keeps other
 * processes out of the layout). */
static unsigned tmp_counter;

static void tmp_name_make(char *buf, size_t size, const char *what)
{
	unsigned n = __atomic_add_fetch(&tmp_counter, 1, __ATOMIC_RELAXED);

	snprintf(buf, size, TMP_PREFIX "%s%ld-%u", what, (long)getpid(), n);
}

static int write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Whether name is 64 lowercase hex digits (a sha256 blob name). */
static int is_hex_name(const char *name)
{
	size_t i;

	for (i = 0; name[i]; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return i == LK_SHA256_HEX_LEN;
}

/* Whether a directory holds nothing but our lock file. */
static int dir_is_empty(int dir_fd)
{
	struct dirent *de;
	int empty = 1, fd = dup(dir_fd);
	DIR *d;

	if (fd < 0)
		return 0;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, LK_LAYOUT_LOCK_NAME))
			continue;
		empty = 0;
		break;
	}
	closedir(d);
	return empty;
}

/*
 * mkdir -p, counting the directories made: they are the last components
 * of the path, so an aborted build can take them away again.
 */
static int mkdir_parents(struct lk_layout *layout, struct lk_error *err)
{
	char *path = lk_xstrdup(layout->dir);
	char *p = path;
	int rc = LK_OK;

	layout->created_levels = 0;
	layout->created_dir = 0;
	while (*p == '/')
		p++;
	for (;;) {
		char *slash = strchr(p, '/');
		int last;

		if (slash)
			*slash = '\0';
		last = !slash || !slash[1 + strspn(slash + 1, "/")];
		if (*p && strcmp(p, ".") && strcmp(p, "..")) {
			if (mkdir(path, 0755) == 0) {
				layout->created_levels++;
				layout->created_dir = last;
			} else if (errno != EEXIST) {
				rc = lk_error_set(err, LK_EXIT_BUILD,
						  "cannot create the output directory %s: %s; check the path and its permissions",
						  path, strerror(errno));
				break;
			}
		}
		if (!slash || last)
			break;
		*slash = '/';
		p = slash + 1;
	}
	free(path);
	return rc;
}

/* Removes the (empty) directories mkdir_parents made. */
static void rmdir_parents(struct lk_layout *layout)
{
	char *path = lk_xstrdup(layout->dir);

	for (; layout->created_levels > 0; layout->created_levels--) {
		size_t len = strlen(path);
		char *slash;

		while (len > 1 && path[len - 1] == '/')
			path[--len] = '\0';
		if (rmdir(path) != 0)
			break;
		slash = strrchr(path, '/');
		if (!slash)
			break;
		*slash = '\0';
	}
	layout->created_levels = 0;
	free(path);
}

/* Opens dir and takes its lock; retries when the layout was removed (by
 * an aborting build) while this one waited. */
static int lock_take(struct lk_layout *layout, struct lk_error *err)
{
	for (int attempt = 0; attempt < 100; attempt++) {
		struct stat fd_st, path_st;

		if (mkdir_parents(layout, err) != LK_OK)
			return LK_FAILED;
		layout->dir_fd = open(layout->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (layout->dir_fd < 0)
			return lk_error_set(err, LK_EXIT_BUILD,
					    "cannot open the output directory %s: %s; it must be a directory you can write",
					    layout->dir, strerror(errno));
		layout->lock_fd = openat(layout->dir_fd, LK_LAYOUT_LOCK_NAME,
					 O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (layout->lock_fd < 0)
			return lk_error_set(err, LK_EXIT_BUILD,
					    "cannot create %s/%s: %s; the output directory must be writable",
					    layout->dir, LK_LAYOUT_LOCK_NAME, strerror(errno));
		if (flock(layout->lock_fd, LOCK_EX | LOCK_NB) != 0) {
			lk_log(LK_LOG_INFO, "waiting for another build writing %s", layout->dir);
			while (flock(layout->lock_fd, LOCK_EX) != 0) {
				if (errno != EINTR)
					return lk_error_set(err, LK_EXIT_BUILD, "cannot lock %s/%s: %s",
							    layout->dir, LK_LAYOUT_LOCK_NAME,
							    strerror(errno));
			}
		}
		if (fstat(layout->lock_fd, &fd_st) == 0 &&
		    fstatat(layout->dir_fd, LK_LAYOUT_LOCK_NAME, &path_st, 0) == 0 &&
		    fd_st.st_dev == path_st.st_dev && fd_st.st_ino == path_st.st_ino) {
			char *path = lk_xasprintf("%s/%s", layout->dir, LK_LAYOUT_LOCK_NAME);
			int same = stat(path, &path_st) == 0 && fd_st.st_dev == path_st.st_dev &&
				   fd_st.st_ino == path_st.st_ino;

			free(path);
			if (same)
				return LK_OK;
		}
		close(layout->lock_fd);
		close(layout->dir_fd);
		layout->lock_fd = layout->dir_fd = -1;
	}
	return lk_error_set(err, LK_EXIT_BUILD,
			    "cannot lock the output directory %s: it keeps being replaced; is another tool writing there?",
			    layout->dir);
}

static int oci_layout_write(struct lk_layout *layout, struct lk_error *err)
{
	char tmp[64];
	int fd;

	tmp_name_make(tmp, sizeof(tmp), "oci-layout-");
	fd = openat(layout->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, OCI_LAYOUT_JSON, strlen(OCI_LAYOUT_JSON)) != 0 ||
	    close(fd) != 0 || renameat(layout->dir_fd, tmp, layout->dir_fd, "oci-layout") != 0) {
		int e = errno;

		if (fd >= 0)
			unlinkat(layout->dir_fd, tmp, 0);
		return lk_error_set(err, LK_EXIT_BUILD, "cannot write %s/oci-layout: %s",
				    layout->dir, strerror(e));
	}
	layout->created_oci_layout = 1;
	return LK_OK;
}

/* Makes DIR/NAME a directory; *created tells whether it was made now. */
static int subdir_make(struct lk_layout *layout, const char *name, int *created,
		       struct lk_error *err)
{
	if (mkdirat(layout->dir_fd, name, 0755) == 0) {
		*created = 1;
		return LK_OK;
	}
	if (errno == EEXIST)
		return LK_OK;
	return lk_error_set(err, LK_EXIT_BUILD, "cannot create %s/%s: %s",
			    layout->dir, name, strerror(errno));
}

int lk_layout_open(struct lk_layout *layout, const char *dir, struct lk_error *err)
{
	struct stat st;

	memset(layout, 0, sizeof(*layout));
	layout->dir_fd = layout->blobs_fd = layout->lock_fd = -1;
	if (!dir || !*dir)
		return lk_error_set(err, LK_EXIT_USAGE, "no output directory given; set output or pass -o DIR");
	layout->dir = lk_xstrdup(dir);
	pthread_mutex_init(&layout->mutex, NULL);
	if (lock_take(layout, err) != LK_OK) {
		if (layout->created_dir)
			rmdir_parents(layout);
		goto out_release;
	}

	if (fstatat(layout->dir_fd, "oci-layout", &st, 0) != 0) {
		if (!dir_is_empty(layout->dir_fd)) {
			lk_error_set(err, LK_EXIT_USAGE,
				     "%s is not empty and is not an OCI image layout (it has no oci-layout file); "
				     "choose a new or empty output directory",
				     dir);
			goto out_release;
		}
		if (oci_layout_write(layout, err) != LK_OK)
			goto out_abort;
	}
	if (subdir_make(layout, "blobs", &layout->created_blobs_dir, err) != LK_OK ||
	    subdir_make(layout, "blobs/sha256", &layout->created_sha256_dir, err) != LK_OK)
		goto out_abort;
	layout->blobs_fd = openat(layout->dir_fd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (layout->blobs_fd < 0) {
		lk_error_set(err, LK_EXIT_BUILD, "cannot open %s/blobs/sha256: %s", dir, strerror(errno));
		goto out_abort;
	}
	return LK_OK;

out_abort:
	lk_layout_abort(layout);
out_release:
	lk_layout_release(layout);
	return LK_FAILED;
}

/* ---- blobs ---- */

static void new_blob_add(struct lk_layout *layout, const char *hex)
{
	pthread_mutex_lock(&layout->mutex);
	lk_grow((void **)&layout->new_blobs, &layout->cap_new_blobs, layout->n_new_blobs + 1,
		sizeof(*layout->new_blobs));
	layout->new_blobs[layout->n_new_blobs++] = lk_xstrdup(hex);
	pthread_mutex_unlock(&layout->mutex);
}

void lk_layout_note_blob(struct lk_layout *layout, const char *hex)
{
	new_blob_add(layout, hex);
}

static int sink_error(struct lk_blob_sink *sink, const char *what, struct lk_error *err)
{
	return lk_error_set(err, LK_EXIT_BUILD,
			    "%s %s/blobs/sha256/%s: %s; check the free space and permissions of the output",
			    what, sink->layout->dir, sink->tmp_name, strerror(errno));
}

static int blob_sink_create(struct lk_layout *layout, struct lk_blob_sink *sink,
			    struct lk_error *err)
{
	memset(sink, 0, sizeof(*sink));
	sink->layout = layout;
	tmp_name_make(sink->tmp_name, sizeof(sink->tmp_name), "");
	sink->fd = openat(layout->blobs_fd, sink->tmp_name,
			  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (sink->fd < 0) {
		sink_error(sink, "cannot create", err);
		sink->tmp_name[0] = '\0';
		return LK_FAILED;
	}
	return LK_OK;
}

int lk_blob_sink_open(struct lk_layout *layout, struct lk_blob_sink *sink, struct lk_error *err)
{
	if (blob_sink_create(layout, sink, err) != LK_OK)
		return LK_FAILED;
	sink->sha = EVP_MD_CTX_new();
	if (!sink->sha || EVP_DigestInit_ex(sink->sha, EVP_sha256(), NULL) != 1) {
		lk_blob_sink_abort(sink);
		return lk_error_set(err, LK_EXIT_BUILD, "OpenSSL cannot start a sha256 digest");
	}
	return LK_OK;
}

int lk_blob_sink_open_unhashed(struct lk_layout *layout, struct lk_blob_sink *sink,
			       struct lk_error *err)
{
	return blob_sink_create(layout, sink, err);
}

int lk_blob_sink_write(struct lk_blob_sink *sink, const void *data, size_t len, struct lk_error *err)
{
	if (write_all(sink->fd, data, len) != 0)
		return sink_error(sink, "cannot write", err);
	if (sink->sha && EVP_DigestUpdate(sink->sha, data, len) != 1)
		return lk_error_set(err, LK_EXIT_BUILD, "OpenSSL sha256 failed");
	sink->size += len;
	return LK_OK;
}

static void sha_final_hex(EVP_MD_CTX *sha, char hex[LK_SHA256_HEX_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	EVP_DigestFinal_ex(sha, md, &md_len);
	lk_hex(md, md_len, hex);
}

/* Closes the temporary file and names it hex. */
static int blob_sink_finish(struct lk_blob_sink *sink, const char *hex, uint64_t *size,
			    struct lk_error *err)
{
	struct lk_layout *layout = sink->layout;
	int fd = sink->fd;

	sink->fd = -1;
	/* close() reports delayed write errors (NFS, quota). */
	if (close(fd) != 0) {
		sink_error(sink, "cannot write", err);
		goto out_abort;
	}
	if (renameat(layout->blobs_fd, sink->tmp_name, layout->blobs_fd, hex) != 0) {
		sink_error(sink, "cannot rename", err);
		goto out_abort;
	}
	sink->tmp_name[0] = '\0';
	new_blob_add(layout, hex);
	if (size)
		*size = sink->size;
	EVP_MD_CTX_free(sink->sha);
	sink->sha = NULL;
	return LK_OK;
out_abort:
	lk_blob_sink_abort(sink);
	return LK_FAILED;
}

int lk_blob_sink_commit(struct lk_blob_sink *sink, char digest[LK_DIGEST_LEN],
			uint64_t *size, struct lk_error *err)
{
	char hex[LK_SHA256_HEX_LEN + 1];

	if (!sink->sha) {
		lk_blob_sink_abort(sink);
		return lk_error_set(err, LK_EXIT_BUILD, "internal error: an unhashed blob committed by hash");
	}
	sha_final_hex(sink->sha, hex);
	if (blob_sink_finish(sink, hex, size, err) != LK_OK)
		return LK_FAILED;
	snprintf(digest, LK_DIGEST_LEN, "sha256:%s", hex);
	return LK_OK;
}

int lk_blob_sink_commit_as(struct lk_blob_sink *sink, const char *digest, uint64_t *size,
			   struct lk_error *err)
{
	if (strncmp(digest, "sha256:", 7) || !is_hex_name(digest + 7)) {
		lk_blob_sink_abort(sink);
		return lk_error_set(err, LK_EXIT_BUILD, "internal error: bad digest '%s'", digest);
	}
	return blob_sink_finish(sink, digest + 7, size, err);
}

void lk_blob_sink_abort(struct lk_blob_sink *sink)
{
	if (sink->fd >= 0)
		close(sink->fd);
	sink->fd = -1;
	if (sink->tmp_name[0] && sink->layout)
		unlinkat(sink->layout->blobs_fd, sink->tmp_name, 0);
	sink->tmp_name[0] = '\0';
	EVP_MD_CTX_free(sink->sha);
	sink->sha = NULL;
}

int lk_layout_put_blob(struct lk_layout *layout, const void *data, size_t len,
		       char digest[LK_DIGEST_LEN], struct lk_error *err)
{
	struct lk_blob_sink sink;

	if (lk_blob_sink_open(layout, &sink, err) != LK_OK)
		return LK_FAILED;
	if (lk_blob_sink_write(&sink, data, len, err) != LK_OK) {
		lk_blob_sink_abort(&sink);
		return LK_FAILED;
	}
	return lk_blob_sink_commit(&sink, digest, NULL, err);
}

/* Copies src_fd into a sink (the copy's digest is computed as it goes). */
static int blob_copy(struct lk_layout *layout, int src_fd, const char *src_path,
		     const char *digest, struct lk_error *err)
{
	struct lk_blob_sink sink;
	char got[LK_DIGEST_LEN];
	char *buf;
	int rc = LK_FAILED;

	if (lk_blob_sink_open(layout, &sink, err) != LK_OK)
		return LK_FAILED;
	buf = lk_xmalloc(1 << 20);
	for (;;) {
		ssize_t n = read(src_fd, buf, 1 << 20);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			lk_error_set(err, LK_EXIT_BUILD, "cannot read %s: %s", src_path, strerror(errno));
			goto out_abort;
		}
		if (n == 0)
			break;
		if (lk_blob_sink_write(&sink, buf, (size_t)n, err) != LK_OK)
			goto out_abort;
	}
	{
		char hex[LK_SHA256_HEX_LEN + 1];
		EVP_MD_CTX *sha = EVP_MD_CTX_new();

		/* Check before the rename, so a bad copy never gets a digest's name. */
		if (!sha || EVP_MD_CTX_copy_ex(sha, sink.sha) != 1) {
			EVP_MD_CTX_free(sha);
			lk_error_set(err, LK_EXIT_BUILD, "OpenSSL cannot copy a sha256 digest");
			goto out_abort;
		}
		sha_final_hex(sha, hex);
		EVP_MD_CTX_free(sha);
		snprintf(got, sizeof(got), "sha256:%s", hex);
		if (strcmp(got, digest)) {
			lk_error_set(err, LK_EXIT_BUILD, "%s: content is %s, expected %s; the file is corrupt",
				     src_path, got, digest);
			goto out_abort;
		}
	}
	rc = lk_blob_sink_commit(&sink, got, NULL, err);
	goto out_free_buf;
out_abort:
	lk_blob_sink_abort(&sink);
out_free_buf:
	free(buf);
	return rc;
}

int lk_layout_link_blob(struct lk_layout *layout, const char *src_path,
			const char *digest, uint64_t size, struct lk_error *err)
{
	const char *hex = digest + 7;
	char tmp[64];
	struct stat st;
	int fd, rc;

	if (strncmp(digest, "sha256:", 7) || !is_hex_name(hex))
		return lk_error_set(err, LK_EXIT_BUILD, "internal error: bad digest '%s'", digest);
	fd = open(src_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return lk_error_set(err, LK_EXIT_BUILD, "cannot open %s: %s", src_path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size) {
		close(fd);
		return lk_error_set(err, LK_EXIT_BUILD,
				    "%s: not a regular file of %llu bytes; the blob is truncated or corrupt",
				    src_path, (unsigned long long)size);
	}
	tmp_name_make(tmp, sizeof(tmp), "link-");
	if (linkat(fd, "", layout->blobs_fd, tmp, AT_EMPTY_PATH) != 0 &&
	    linkat(AT_FDCWD, src_path, layout->blobs_fd, tmp, 0) != 0) {
		/* Another file system (EXDEV) or no link support: copy. */
		rc = blob_copy(layout, fd, src_path, digest, err);
		close(fd);
		return rc;
	}
	close(fd);
	rc = renameat(layout->blobs_fd, tmp, layout->blobs_fd, hex);
	/* rename() between two links of one inode does nothing: drop tmp. */
	unlinkat(layout->blobs_fd, tmp, 0);
	if (rc != 0)
		return lk_error_set(err, LK_EXIT_BUILD, "cannot rename %s/blobs/sha256/%s: %s",
				    layout->dir, tmp, strerror(errno));
	new_blob_add(layout, hex);
	return LK_OK;
}

/* ---- references from index.json ---- */

struct hex_set {
	char **items;
	size_t n, cap;
};

static void hex_set_add(struct hex_set *set, const char *digest)
{
	if (!digest || strncmp(digest, "sha256:", 7) || !is_hex_name(digest + 7))
		return;
	lk_grow((void **)&set->items, &set->cap, set->n + 1, sizeof(*set->items));
	set->items[set->n++] = lk_xstrdup(digest + 7);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int hex_set_has(const struct hex_set *set, const char *hex)
{
	return set->n && bsearch(&hex, set->items, set->n, sizeof(*set->items), str_cmp) != NULL;
}

static void hex_set_release(struct hex_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->items[i]);
	free(set->items);
	memset(set, 0, sizeof(*set));
}

static json_t *json_load_at(int dir_fd, const char *name)
{
	json_error_t jerr;
	json_t *doc;
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	doc = json_loadfd(fd, 0, &jerr);
	close(fd);
	return doc;
}

/* Adds the blobs an index or manifest references.  -1 when one cannot be
 * read: then the set is incomplete and nothing may be collected. */
static int refs_collect(struct lk_layout *layout, json_t *doc, struct hex_set *set, int depth)
{
	json_t *list, *item;
	size_t i;
	int rc = 0;

	if (!json_is_object(doc) || depth > MAX_INDEX_DEPTH)
		return -1;
	hex_set_add(set, json_string_value(json_object_get(json_object_get(doc, "config"), "digest")));
	list = json_object_get(doc, "layers");
	json_array_foreach(list, i, item)
		hex_set_add(set, json_string_value(json_object_get(item, "digest")));
	list = json_object_get(doc, "manifests");
	json_array_foreach(list, i, item) {
		const char *digest = json_string_value(json_object_get(item, "digest"));
		json_t *child;

		if (!digest || strncmp(digest, "sha256:", 7) || !is_hex_name(digest + 7))
			return -1;
		hex_set_add(set, digest);
		child = json_load_at(layout->blobs_fd, digest + 7);
		if (!child)
			return -1;
		rc = refs_collect(layout, child, set, depth + 1);
		json_decref(child);
		if (rc)
			return rc;
	}
	return rc;
}

/* The blobs the layout's current index.json references.  1 when there is
 * no index.json, 0 when the set is complete, -1 when it cannot be known. */
static int refs_of_index(struct lk_layout *layout, struct hex_set *set)
{
	json_t *index;
	int rc;

	index = json_load_at(layout->dir_fd, "index.json");
	if (!index)
		return faccessat(layout->dir_fd, "index.json", F_OK, 0) == 0 ? -1 : 1;
	rc = refs_collect(layout, index, set, 0);
	json_decref(index);
	if (set->n)
		qsort(set->items, set->n, sizeof(*set->items), str_cmp);
	return rc;
}

/* Removes temporary files and, when refs is given, every blob not in it. */
static void blobs_sweep(struct lk_layout *layout, const struct hex_set *refs)
{
	struct dirent *de;
	int fd = dup(layout->blobs_fd);
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		/* Under the lock no other build writes here: any tmp is stale. */
		int drop = !strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) ||
			   (refs && is_hex_name(de->d_name) && !hex_set_has(refs, de->d_name));

		if (drop && unlinkat(layout->blobs_fd, de->d_name, 0) != 0 && errno != ENOENT)
			lk_log(LK_LOG_WARN, "cannot remove %s/blobs/sha256/%s: %s", layout->dir,
			       de->d_name, strerror(errno));
	}
	closedir(d);
}

int lk_layout_commit(struct lk_layout *layout, const char *index_json, size_t len,
		     struct lk_error *err)
{
	struct hex_set refs = { 0 };
	char tmp[64];
	int fd;

	tmp_name_make(tmp, sizeof(tmp), "index-");
	fd = openat(layout->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, index_json, len) != 0 || close(fd) != 0 ||
	    renameat(layout->dir_fd, tmp, layout->dir_fd, "index.json") != 0) {
		int e = errno;

		if (fd >= 0)
			unlinkat(layout->dir_fd, tmp, 0);
		return lk_error_set(err, LK_EXIT_BUILD,
				    "cannot write %s/index.json: %s; the previous image is unchanged",
				    layout->dir, strerror(e));
	}
	if (refs_of_index(layout, &refs) == 0) {
		blobs_sweep(layout, &refs);
	} else {
		lk_log(LK_LOG_WARN, "%s/index.json references a blob that cannot be read; "
		       "unreferenced blobs were not removed", layout->dir);
		blobs_sweep(layout, NULL);
	}
	hex_set_release(&refs);
	return LK_OK;
}

void lk_layout_abort(struct lk_layout *layout)
{
	struct hex_set refs = { 0 };
	int state;

	if (layout->dir_fd < 0)
		return;
	state = refs_of_index(layout, &refs);
	if (layout->blobs_fd >= 0) {
		/* Only blobs this build made go; an unreadable index keeps them all. */
		for (size_t i = 0; i < layout->n_new_blobs && state >= 0; i++)
			if (!hex_set_has(&refs, layout->new_blobs[i]))
				unlinkat(layout->blobs_fd, layout->new_blobs[i], 0);
		blobs_sweep(layout, NULL);
	}
	hex_set_release(&refs);
	if (state != 1)
		return;		/* a previous image stays as it is */

	/* No image here: take away the skeleton this build made. */
	if (layout->created_oci_layout)
		unlinkat(layout->dir_fd, "oci-layout", 0);
	if (layout->created_sha256_dir)
		unlinkat(layout->dir_fd, "blobs/sha256", AT_REMOVEDIR);
	if (layout->created_blobs_dir)
		unlinkat(layout->dir_fd, "blobs", AT_REMOVEDIR);
	if (layout->created_dir) {
		/* A build waiting for the lock notices the file is gone and retries. */
		unlinkat(layout->dir_fd, LK_LAYOUT_LOCK_NAME, 0);
		rmdir_parents(layout);
	}
}

void lk_layout_release(struct lk_layout *layout)
{
	if (layout->blobs_fd >= 0)
		close(layout->blobs_fd);
	if (layout->dir_fd >= 0)
		close(layout->dir_fd);
	if (layout->lock_fd >= 0)
		close(layout->lock_fd);		/* drops the flock */
	layout->blobs_fd = layout->dir_fd = layout->lock_fd = -1;
	for (size_t i = 0; i < layout->n_new_blobs; i++)
		free(layout->new_blobs[i]);
	free(layout->new_blobs);
	layout->new_blobs = NULL;
	layout->n_new_blobs = layout->cap_new_blobs = 0;
	if (layout->dir) {
		pthread_mutex_destroy(&layout->mutex);
		free(layout->dir);
		layout->dir = NULL;
	}
}
