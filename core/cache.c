/* cache.c - the content-addressed layer cache. */
#include "cache.h"
#include "compress.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Bump when anything the writer produces changes for the same inputs. */
#define LK_CACHE_FORMAT "layerkit-layer-v1"
#define RECORD_MAGIC "lk1"

char *lk_cache_default_dir(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");

	if (xdg && *xdg == '/')
		return lk_xasprintf("%s/layerkit", xdg);
	return lk_xasprintf("%s/.cache/layerkit", home && *home ? home : "/tmp");
}

static int mkdir_p(const char *path)
{
	char *copy = lk_xstrdup(path);
	int rc = 0;

	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) != 0 && errno != EEXIST)
			rc = -1;
		*p = '/';
	}
	if (mkdir(copy, 0755) != 0 && errno != EEXIST)
		rc = -1;
	free(copy);
	return rc;
}

int lk_cache_open(struct lk_cache *cache, const char *dir, struct lk_error *err)
{
	char *blobs = lk_xasprintf("%s/blobs/sha256", dir);
	char *layers = lk_xasprintf("%s/layers", dir);

	memset(cache, 0, sizeof(*cache));
	cache->blobs_fd = cache->layers_fd = -1;
	if (mkdir_p(blobs) != 0 || mkdir_p(layers) != 0) {
		lk_error_set(err, LK_EXIT_BUILD, "cannot create the layer cache in %s: %s; set "
			     "cache_dir in [layerkit] or $XDG_CACHE_HOME to a writable directory",
			     dir, strerror(errno));
		goto out_free;
	}
	cache->blobs_fd = open(blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cache->layers_fd = open(layers, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cache->blobs_fd < 0 || cache->layers_fd < 0) {
		lk_error_set(err, LK_EXIT_BUILD, "cannot open the layer cache in %s: %s", dir,
			     strerror(errno));
		lk_cache_release(cache);
		goto out_free;
	}
	cache->dir = lk_xstrdup(dir);
	free(blobs);
	free(layers);
	return LK_OK;

out_free:
	free(blobs);
	free(layers);
	return LK_FAILED;
}

void lk_cache_release(struct lk_cache *cache)
{
	if (cache->blobs_fd >= 0)
		close(cache->blobs_fd);
	if (cache->layers_fd >= 0)
		close(cache->layers_fd);
	free(cache->dir);
	memset(cache, 0, sizeof(*cache));
	cache->blobs_fd = cache->layers_fd = -1;
}

static void hash_u64(EVP_MD_CTX *md, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	EVP_DigestUpdate(md, b, sizeof(b));
}

static void hash_str(EVP_MD_CTX *md, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	hash_u64(md, n);
	if (n)
		EVP_DigestUpdate(md, s, n);
}

/* sha256 of a file's content into out; -1 when it cannot be read. */
static int hash_content(const struct lk_scan *scan, uint32_t index, unsigned char out[32])
{
	static __thread unsigned char buf[1 << 17];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int len = 0;
	int fd = lk_scan_open(scan, index), rc = -1;
	ssize_t n;

	if (fd < 0 || !md)
		goto out;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		EVP_DigestUpdate(md, buf, (size_t)n);
	}
	EVP_DigestFinal_ex(md, out, &len);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(md);
	return rc;
}

static const struct lk_scan *inode_scan;
static const uint32_t *inode_files;

static int cmp_inode(const void *a, const void *b)
{
	const struct lk_file_stat *x = &inode_scan->stats[inode_files[*(const size_t *)a]];
	const struct lk_file_stat *y = &inode_scan->stats[inode_files[*(const size_t *)b]];

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/*
 * For each file of the layer, the position of the first regular file in
 * the layer with the same (dev, ino), itself when none comes before it.
 * NULL when the layer has no regular files.  The caller frees it.
 */
static size_t *inode_groups(const struct lk_scan *scan, const uint32_t *files, size_t n)
{
	static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;
	size_t *order, *first;

	if (n == 0)
		return NULL;
	order = lk_xcalloc(n, sizeof(size_t));
	first = lk_xcalloc(n, sizeof(size_t));
	for (size_t i = 0; i < n; i++)
		order[i] = first[i] = i;
	/* qsort has no context argument; layers are fingerprinted in parallel. */
	pthread_mutex_lock(&sort_lock);
	inode_scan = scan;
	inode_files = files;
	qsort(order, n, sizeof(size_t), cmp_inode);
	pthread_mutex_unlock(&sort_lock);
	for (size_t k = 1; k < n; k++) {
		const struct lk_file_stat *a = &scan->stats[files[order[k - 1]]];
		const struct lk_file_stat *b = &scan->stats[files[order[k]]];

		if (a->dev == b->dev && a->ino == b->ino &&
		    scan->files[files[order[k]]].type == LK_FILE_REGULAR &&
		    scan->files[files[order[k - 1]]].type == LK_FILE_REGULAR)
			first[order[k]] = first[order[k - 1]];
	}
	free(order);
	return first;
}

void lk_layer_fingerprint(const struct lk_scan *scan, const uint32_t *files, size_t n_files,
			  const struct lk_layer_opts *opts, enum lk_verify verify,
			  int64_t racy_after_ns, char fp_hex[LK_SHA256_HEX_LEN + 1],
			  int *cacheable)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char digest[32];
	unsigned int len = 0;

	size_t *first_of_inode = inode_groups(scan, files, n_files);

	*cacheable = 1;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	hash_str(md, LK_CACHE_FORMAT);
	{
		/* Compressor, library version, level, block size: all that decides the bytes. */
		char settings[256];

		lk_compress_settings(opts->compression, opts->level, settings, sizeof(settings));
		hash_str(md, settings);
	}
	hash_u64(md, (uint64_t)opts->mtime);
	hash_str(md, opts->prefix);
	hash_u64(md, (uint64_t)opts->keep_setuid);
	hash_u64(md, verify);
	hash_u64(md, n_files);
	for (size_t i = 0; i < n_files; i++) {
		const struct lk_file *f = &scan->files[files[i]];
		const struct lk_file_stat *st = &scan->stats[files[i]];

		hash_str(md, f->path);
		hash_u64(md, f->type);
		hash_u64(md, f->size);
		hash_u64(md, f->mode);
		hash_str(md, f->link_target);
		/* Files sharing an inode are stored once, then as links: the
		 * layer's link structure is part of its bytes. */
		hash_u64(md, first_of_inode ? first_of_inode[i] : i);
		if (f->type != LK_FILE_REGULAR)
			continue;
		if (verify == LK_VERIFY_CONTENT) {
			unsigned char content[32];

			if (hash_content(scan, files[i], content) != 0) {
				*cacheable = 0;
				memset(content, 0, sizeof(content));
			}
			EVP_DigestUpdate(md, content, sizeof(content));
		} else {
			hash_u64(md, (uint64_t)st->mtime_ns);
			hash_u64(md, (uint64_t)st->ctime_ns);
			hash_u64(md, st->dev);
			hash_u64(md, st->ino);
			/* A stamp this recent may not change on the next write within
			 * the file system's time granularity: do not trust it. */
			if (st->mtime_ns >= racy_after_ns || st->ctime_ns >= racy_after_ns)
				*cacheable = 0;
		}
	}
	/* The shared store's layout of the layer (absent: nothing hashed, so
	 * other layers keep their fingerprints). */
	for (size_t i = 0; opts->entries && i < opts->n_entries; i++) {
		const struct lk_tar_entry *e = &opts->entries[i];

		hash_str(md, e->name);
		hash_str(md, e->file == LK_TAR_LINK ? "" : scan->files[e->file].path);
		hash_str(md, e->file == LK_TAR_LINK ? e->link_target : "");
	}
	EVP_DigestFinal_ex(md, digest, &len);
	EVP_MD_CTX_free(md);
	free(first_of_inode);
	lk_hex(digest, 32, fp_hex);
}

static int digest_hex(const char *digest, const char **hex)
{
	if (strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 7 + LK_SHA256_HEX_LEN)
		return -1;
	*hex = digest + 7;
	for (const char *p = *hex; *p; p++) {
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return -1;
	}
	return 0;
}

static int read_record(struct lk_cache *cache, const char *fp_hex, struct lk_blob_info *blob)
{
	char buf[512];
	unsigned long long size, tar_size;
	char magic[8];
	int fd = openat(cache->layers_fd, fp_hex, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	/* Record the use, for pruning by age. */
	futimens(fd, NULL);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	memset(blob, 0, sizeof(*blob));
	if (sscanf(buf, "%7s %72s %72s %llu %llu", magic, blob->digest, blob->diff_id, &size,
		   &tar_size) != 5 || strcmp(magic, RECORD_MAGIC) != 0)
		return -1;
	blob->size = size;
	blob->tar_size = tar_size;
	return 0;
}

/* sha256 of an open file, compared with hex. */
static int verify_blob(int fd, const char *hex)
{
	static __thread unsigned char buf[1 << 17];
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char digest[32];
	char got[LK_SHA256_HEX_LEN + 1];
	unsigned int len = 0;
	ssize_t n;
	int rc = -1;

	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		EVP_DigestUpdate(md, buf, (size_t)n);
	}
	EVP_DigestFinal_ex(md, digest, &len);
	lk_hex(digest, 32, got);
	rc = strcmp(got, hex) == 0 ? 0 : -1;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

/* Copies src_fd's file to dir_fd/name through a temporary name. */
static int copy_file(int src_fd, int dir_fd, const char *name)
{
	char tmp[128];
	char buf[1 << 16];
	ssize_t n;
	int out;

	snprintf(tmp, sizeof(tmp), ".tmp-cache-%ld-%s", (long)getpid(), name);
	out = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0)
		return -1;
	lseek(src_fd, 0, SEEK_SET);
	while ((n = read(src_fd, buf, sizeof(buf))) > 0) {
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	}
	if (close(out) != 0 || n < 0 || renameat(dir_fd, tmp, dir_fd, name) != 0) {
		unlinkat(dir_fd, tmp, 0);
		return -1;
	}
	return 0;
}

static void drop_entry(struct lk_cache *cache, const char *fp_hex, const char *hex)
{
	unlinkat(cache->layers_fd, fp_hex, 0);
	if (hex)
		unlinkat(cache->blobs_fd, hex, 0);
}

int lk_cache_fetch(struct lk_cache *cache, const char *fp_hex, struct lk_layout *layout,
		   struct lk_blob_info *blob)
{
	struct stat cst, ost;
	char tmp[128];
	const char *hex;
	int fd;

	if (read_record(cache, fp_hex, blob) != 0)
		return 0;
	if (digest_hex(blob->digest, &hex) != 0) {
		drop_entry(cache, fp_hex, NULL);
		return 0;
	}
	fd = openat(cache->blobs_fd, hex, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &cst) != 0 || (uint64_t)cst.st_size != blob->size) {
		lk_log(LK_LOG_WARN, "layer cache: entry %s is missing or truncated; rebuilding it",
		       fp_hex);
		if (fd >= 0)
			close(fd);
		drop_entry(cache, fp_hex, hex);
		return 0;
	}
	/* Already in the output (a previous build linked it): nothing to do. */
	if (fstatat(layout->blobs_fd, hex, &ost, 0) == 0 && ost.st_dev == cst.st_dev &&
	    ost.st_ino == cst.st_ino) {
		close(fd);
		return 1;
	}
	if (verify_blob(fd, hex) != 0) {
		lk_log(LK_LOG_WARN, "layer cache: blob %s does not match its digest; rebuilding it",
		       hex);
		close(fd);
		drop_entry(cache, fp_hex, hex);
		return 0;
	}
	/* Linked under a temporary name and renamed over the digest name: a
	 * blob of that name already in the output is not the cache's (checked
	 * above), so it may be truncated or damaged; replace it. */
	snprintf(tmp, sizeof(tmp), ".tmp-link-%ld-%s", (long)getpid(), hex);
	unlinkat(layout->blobs_fd, tmp, 0);
	if (linkat(cache->blobs_fd, hex, layout->blobs_fd, tmp, 0) == 0) {
		if (renameat(layout->blobs_fd, tmp, layout->blobs_fd, hex) != 0) {
			unlinkat(layout->blobs_fd, tmp, 0);
			close(fd);
			return 0;
		}
	} else if (errno != EXDEV || copy_file(fd, layout->blobs_fd, hex) != 0) {
		close(fd);
		return 0;
	}
	close(fd);
	lk_layout_note_blob(layout, hex);
	return 1;
}

void lk_cache_store(struct lk_cache *cache, const char *fp_hex, struct lk_layout *layout,
		    const struct lk_blob_info *blob)
{
	char tmp[128], record[512];
	const char *hex;
	int fd, len;

	if (digest_hex(blob->digest, &hex) != 0)
		return;
	if (linkat(layout->blobs_fd, hex, cache->blobs_fd, hex, 0) != 0 && errno != EEXIST) {
		int src = errno == EXDEV ? openat(layout->blobs_fd, hex, O_RDONLY | O_CLOEXEC) : -1;

		if (src < 0 || copy_file(src, cache->blobs_fd, hex) != 0) {
			lk_log(LK_LOG_DEBUG, "layer cache: cannot store %s: %s", hex, strerror(errno));
			if (src >= 0)
				close(src);
			return;
		}
		close(src);
	}
	len = snprintf(record, sizeof(record), RECORD_MAGIC " %s %s %llu %llu\n", blob->digest,
		       blob->diff_id, (unsigned long long)blob->size,
		       (unsigned long long)blob->tar_size);
	snprintf(tmp, sizeof(tmp), ".tmp-%ld-%s", (long)getpid(), fp_hex);
	fd = openat(cache->layers_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, record, (size_t)len) != len || close(fd) != 0 ||
	    renameat(cache->layers_fd, tmp, cache->layers_fd, fp_hex) != 0)
		unlinkat(cache->layers_fd, tmp, 0);
}

/* ---- stat and prune ---------------------------------------------------- */

struct record_info {
	char fp[LK_SHA256_HEX_LEN + 1];
	char hex[LK_SHA256_HEX_LEN + 1];
	int64_t used;			/* mtime of the record: last use */
	int keep;
};

static int cmp_used(const void *a, const void *b)
{
	const struct record_info *x = a, *y = b;

	if (x->used != y->used)
		return x->used < y->used ? -1 : 1;
	return strcmp(x->fp, y->fp);
}

static int list_records(struct lk_cache *cache, struct record_info **out, size_t *n_out)
{
	struct record_info *recs = NULL;
	size_t n = 0, cap = 0;
	int fd = dup(cache->layers_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		struct lk_blob_info blob;
		struct stat st;
		const char *hex;

		if (de->d_name[0] == '.')
			continue;
		if (strlen(de->d_name) != LK_SHA256_HEX_LEN ||
		    fstatat(cache->layers_fd, de->d_name, &st, 0) != 0)
			continue;
		if (read_record(cache, de->d_name, &blob) != 0 || digest_hex(blob.digest, &hex) != 0)
			continue;
		/* read_record touched it: restore the time of last use. */
		struct timespec times[2] = { st.st_atim, st.st_mtim };
		utimensat(cache->layers_fd, de->d_name, times, 0);
		lk_grow((void **)&recs, &cap, n + 1, sizeof(*recs));
		memcpy(recs[n].fp, de->d_name, LK_SHA256_HEX_LEN + 1);
		memcpy(recs[n].hex, hex, LK_SHA256_HEX_LEN + 1);
		recs[n].used = (int64_t)st.st_mtim.tv_sec;
		recs[n].keep = 1;
		n++;
	}
	closedir(d);
	qsort(recs, n, sizeof(*recs), cmp_used);
	*out = recs;
	*n_out = n;
	return 0;
}

/* Blob sizes by name, and removal of blobs no kept record references. */
static uint64_t blob_size(struct lk_cache *cache, const char *hex)
{
	struct stat st;

	return fstatat(cache->blobs_fd, hex, &st, 0) == 0 ? (uint64_t)st.st_size : 0;
}

static int referenced(const struct record_info *recs, size_t n, const char *hex)
{
	for (size_t i = 0; i < n; i++) {
		if (recs[i].keep && !strcmp(recs[i].hex, hex))
			return 1;
	}
	return 0;
}

static uint64_t kept_bytes(struct lk_cache *cache, const struct record_info *recs, size_t n)
{
	uint64_t total = 0;

	for (size_t i = 0; i < n; i++) {
		int first = recs[i].keep;

		for (size_t j = 0; first && j < i; j++)
			first = !(recs[j].keep && !strcmp(recs[j].hex, recs[i].hex));
		if (first)
			total += blob_size(cache, recs[i].hex);
	}
	return total;
}

static int sweep(struct lk_cache *cache, const struct record_info *recs, size_t n,
		 struct lk_cache_stats *stats, int remove)
{
	int fd = dup(cache->blobs_fd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		uint64_t size;

		if (de->d_name[0] == '.' && strncmp(de->d_name, ".tmp-", 5) != 0)
			continue;
		size = blob_size(cache, de->d_name);
		if (remove && (de->d_name[0] == '.' || !referenced(recs, n, de->d_name))) {
			if (unlinkat(cache->blobs_fd, de->d_name, 0) == 0) {
				stats->removed_blobs++;
				stats->removed_bytes += size;
			}
			continue;
		}
		if (de->d_name[0] == '.')
			continue;
		stats->n_blobs++;
		stats->blob_bytes += size;
	}
	closedir(d);
	return 0;
}

int lk_cache_stat(struct lk_cache *cache, struct lk_cache_stats *stats, struct lk_error *err)
{
	struct record_info *recs = NULL;
	size_t n = 0;

	memset(stats, 0, sizeof(*stats));
	if (list_records(cache, &recs, &n) != 0 || sweep(cache, recs, n, stats, 0) != 0) {
		free(recs);
		return lk_error_set(err, LK_EXIT_BUILD, "cannot read the layer cache %s: %s",
				    cache->dir, strerror(errno));
	}
	stats->n_records = n;
	free(recs);
	return LK_OK;
}

int lk_cache_prune(struct lk_cache *cache, uint64_t max_bytes, int64_t older_than_s,
		   struct lk_cache_stats *stats, struct lk_error *err)
{
	struct record_info *recs = NULL;
	size_t n = 0, kept;
	time_t now = time(NULL);

	memset(stats, 0, sizeof(*stats));
	if (list_records(cache, &recs, &n) != 0)
		return lk_error_set(err, LK_EXIT_BUILD, "cannot read the layer cache %s: %s",
				    cache->dir, strerror(errno));
	for (size_t i = 0; i < n && older_than_s >= 0; i++) {
		if (now - recs[i].used > older_than_s)
			recs[i].keep = 0;
	}
	/* Oldest use first, until the blobs still referenced fit. */
	for (size_t i = 0; i < n && max_bytes != UINT64_MAX; i++) {
		if (kept_bytes(cache, recs, n) <= max_bytes)
			break;
		recs[i].keep = 0;
	}
	kept = 0;
	for (size_t i = 0; i < n; i++) {
		if (!recs[i].keep)
			unlinkat(cache->layers_fd, recs[i].fp, 0);
		else
			kept++;
	}
	if (sweep(cache, recs, n, stats, 1) != 0) {
		free(recs);
		return lk_error_set(err, LK_EXIT_BUILD, "cannot prune the layer cache %s: %s",
				    cache->dir, strerror(errno));
	}
	stats->n_records = kept;
	free(recs);
	return LK_OK;
}
