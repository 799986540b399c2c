/* tar.c - a reproducible layer tar of scanned files, streamed through a callback (libarchive). */
#include "tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* No position in a layer's file list: the file is not a hard link. */
#define NO_LINK UINT32_MAX

struct tar_writer {
	struct archive *archive;
	struct archive_entry *entry;
	const struct lk_scan *scan;
	const struct lk_tar_opts *opts;
	lk_tar_sink_fn sink;
	void *opaque;
	struct lk_error *err;
	int sink_failed;	/* err already holds the sink's message */
	int abandoned;		/* failed: what libarchive still flushes is dropped */
	char *buf;		/* LK_TAR_BLOCK_SIZE, files are read through it */
	/* The deepest directory emitted so far ("" before the first): in
	 * tree order a directory is never entered again once left, so a
	 * parent that is a prefix of it has been emitted. */
	char *dir;
	size_t dir_len, dir_cap;
	/* Per position in the file list: the position of the first file
	 * with the same inode, or NO_LINK.  NULL when there is none. */
	uint32_t *link_first;
	/* lk_tar_write_entries: the names, parallel to the file list. */
	const struct lk_tar_entry *entries;
};

/*
 * libarchive turns names into PAX records through the thread's locale: a
 * UTF-8 name is stored as is under a UTF-8 locale but marked
 * hdrcharset=BINARY under "C".  Writing under C.UTF-8 always makes the
 * tar independent of the user's locale: UTF-8 names plain, other bytes
 * BINARY (that entry only).
 */
static locale_t utf8_locale;
static pthread_once_t utf8_locale_once = PTHREAD_ONCE_INIT;

static void utf8_locale_init(void)
{
	utf8_locale = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);
	if (!utf8_locale)
		lk_log(LK_LOG_WARN, "no C.UTF-8 locale: non-ASCII names in layers follow the current locale");
}

uint32_t lk_tar_mode(uint32_t type, uint32_t mode, int keep_setuid)
{
	uint32_t special = keep_setuid ? (mode & 07000) : 0;

	switch (type) {
	case LK_FILE_SYMLINK:
		return 0777;
	case LK_FILE_DIR:
		return 0755 | special;
	default:
		return ((mode & 0111) ? 0755 : 0644) | special;
	}
}

/* Whether path is relative with no empty, "." or ".." component. */
static int path_is_clean(const char *path)
{
	const char *p = path;

	if (!*p || *p == '/')
		return 0;
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);

		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (!*end)
			break;
		p = end + 1;
		if (!*p)
			return 0;	/* trailing '/' */
	}
	return 1;
}

char *lk_tar_entry_name(const char *prefix, const char *path)
{
	if (!path_is_clean(path) || (*prefix && !path_is_clean(prefix)))
		return NULL;
	if (!*prefix)
		return lk_xstrdup(path);
	return lk_xasprintf("%s/%s", prefix, path);
}

int lk_tar_link_inside(const char *path, const char *target)
{
	long depth = 0;
	const char *p;

	if (!*target || *target == '/')
		return -1;
	/* The link lives in path's directory: start at its depth. */
	for (p = path; *p; p++)
		if (*p == '/')
			depth++;
	p = target;
	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);

		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return -1;
		} else if (len > 0 && !(len == 1 && p[0] == '.')) {
			depth++;
		}
		p = *end ? end + 1 : end;
	}
	return 0;
}

static la_ssize_t tar_sink_cb(struct archive *a, void *client, const void *data, size_t len)
{
	struct tar_writer *tw = client;

	if (tw->abandoned)
		return (la_ssize_t)len;
	if (tw->sink(tw->opaque, data, len, tw->err) != LK_OK) {
		tw->sink_failed = 1;
		archive_set_error(a, EIO, "layer output failed");
		return -1;
	}
	return (la_ssize_t)len;
}

/* Sets err from the archive's state, unless the sink already explained. */
static int tar_fail(struct tar_writer *tw, const char *what, const char *name)
{
	if (tw->sink_failed)
		return LK_FAILED;
	return lk_error_set(tw->err, LK_EXIT_BUILD, "writing the layer tar (%s '%s'): %s",
			    what, name, archive_error_string(tw->archive));
}

/* Starts an entry with the normalised metadata shared by every kind. */
static struct archive_entry *entry_start(struct tar_writer *tw, const char *name,
					 unsigned int filetype, uint32_t perm)
{
	struct archive_entry *e = tw->entry;

	archive_entry_clear(e);
	archive_entry_copy_pathname(e, name);
	archive_entry_set_filetype(e, filetype);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_mtime(e, tw->opts->mtime, 0);
	archive_entry_set_size(e, 0);
	return e;
}

/* ARCHIVE_WARN only reports a name that needed a PAX record: not an error. */
static int header_write(struct tar_writer *tw, const char *name)
{
	int r = archive_write_header(tw->archive, tw->entry);

	if (r < ARCHIVE_WARN)
		return tar_fail(tw, "header of", name);
	return LK_OK;
}

static int dir_emit(struct tar_writer *tw, const char *name, uint32_t perm)
{
	entry_start(tw, name, AE_IFDIR, perm);
	return header_write(tw, name);
}

/* Makes dir (an entry name, "" = the root) the current directory. */
static void dir_set(struct tar_writer *tw, const char *dir, size_t len)
{
	lk_grow((void **)&tw->dir, &tw->dir_cap, len + 1, 1);
	memmove(tw->dir, dir, len);
	tw->dir[len] = '\0';
	tw->dir_len = len;
}

/*
 * Emits every directory of dir (an entry name, "" = the root) that is not
 * yet emitted, outermost first, and makes dir the current directory.
 */
static int parents_emit(struct tar_writer *tw, const char *dir, size_t len)
{
	size_t common = 0, j;

	/* The directories dir shares with the current one: the longest
	 * common prefix that ends at a component boundary of both. */
	while (common < len && common < tw->dir_len && dir[common] == tw->dir[common])
		common++;
	if (!((common == len || dir[common] == '/') &&
	      (common == tw->dir_len || tw->dir[common] == '/')))
		while (common > 0 && dir[common - 1] != '/')
			common--;

	dir_set(tw, dir, len);
	for (j = common + 1; j <= len; j++) {
		if (j < len && dir[j] != '/')
			continue;
		tw->dir[j] = '\0';
		if (dir_emit(tw, tw->dir, 0755) != LK_OK)
			return LK_FAILED;
		tw->dir[j] = dir[j];
	}
	return LK_OK;
}

/* Streams a regular file's content; its size must still be the scanned one. */
static int content_write(struct tar_writer *tw, uint32_t index, const char *name)
{
	const struct lk_file *f = &tw->scan->files[index];
	uint64_t done = 0;
	int fd, rc = LK_FAILED;

	fd = lk_scan_open(tw->scan, index);
	if (fd < 0)
		return lk_error_set(tw->err, LK_EXIT_BUILD,
				    "%s/%s: cannot open: %s; it changed or vanished since the scan, rerun the build",
				    tw->scan->root, f->path, strerror(errno));
	/* Ask for one byte more than expected, so a file that grew shows. */
	for (;;) {
		uint64_t want = f->size - done + 1;
		size_t n = want < LK_TAR_BLOCK_SIZE ? (size_t)want : LK_TAR_BLOCK_SIZE;
		ssize_t got = read(fd, tw->buf, n);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			lk_error_set(tw->err, LK_EXIT_BUILD, "%s/%s: read error: %s",
				     tw->scan->root, f->path, strerror(errno));
			goto out_close_fd;
		}
		if (got == 0)
			break;
		if ((uint64_t)got > f->size - done) {
			lk_error_set(tw->err, LK_EXIT_BUILD,
				     "%s/%s: grew from %llu bytes while being read (changed while being read); rerun the build",
				     tw->scan->root, f->path, (unsigned long long)f->size);
			goto out_close_fd;
		}
		if (archive_write_data(tw->archive, tw->buf, (size_t)got) != got) {
			tar_fail(tw, "content of", name);
			goto out_close_fd;
		}
		done += (uint64_t)got;
		/* A short read of a regular file is its end: no extra read(). */
		if ((size_t)got < n)
			break;
	}
	if (done != f->size) {
		lk_error_set(tw->err, LK_EXIT_BUILD,
			     "%s/%s: shrank from %llu to %llu bytes (changed while being read); rerun the build",
			     tw->scan->root, f->path, (unsigned long long)f->size,
			     (unsigned long long)done);
		goto out_close_fd;
	}
	rc = LK_OK;
out_close_fd:
	close(fd);
	return rc;
}

static int cmp_u32(uint32_t a, uint32_t b)
{
	return a < b ? -1 : a > b;
}

/* Positions in the layer's file list, sorted by inode then position. */
struct inode_pos {
	uint64_t dev, ino;
	uint32_t pos;
};

static int inode_pos_cmp(const void *pa, const void *pb)
{
	const struct inode_pos *a = pa, *b = pb;

	if (a->dev != b->dev)
		return a->dev < b->dev ? -1 : 1;
	if (a->ino != b->ino)
		return a->ino < b->ino ? -1 : 1;
	return cmp_u32(a->pos, b->pos);
}

/*
 * Finds the regular files of the list that share an inode with an earlier
 * one.  Any shared dev+ino counts, nlink or not: followed links to one
 * file are one content too.  Leaves tw->link_first NULL when none do.
 */
static void hard_links_find(struct tar_writer *tw, const uint32_t *files, size_t n_files)
{
	const struct lk_scan *scan = tw->scan;
	struct inode_pos *v;
	size_t n = 0, i;

	if (!scan->stats || n_files < 2)
		return;
	v = lk_xmalloc(n_files * sizeof(*v));
	for (i = 0; i < n_files; i++) {
		const struct lk_file_stat *st;

		if (files[i] == LK_TAR_LINK)
			continue;
		st = &scan->stats[files[i]];
		if (scan->files[files[i]].type != LK_FILE_REGULAR || st->ino == 0)
			continue;
		v[n].dev = st->dev;
		v[n].ino = st->ino;
		v[n].pos = (uint32_t)i;
		n++;
	}
	qsort(v, n, sizeof(*v), inode_pos_cmp);
	for (i = 1; i < n; i++) {
		size_t first = i - 1;

		if (v[i].dev != v[first].dev || v[i].ino != v[first].ino)
			continue;
		if (!tw->link_first) {
			tw->link_first = lk_xmalloc(n_files * sizeof(uint32_t));
			for (size_t j = 0; j < n_files; j++)
				tw->link_first[j] = NO_LINK;
		}
		/* v[first] is the group's first, or already points at it. */
		tw->link_first[v[i].pos] = tw->link_first[v[first].pos] != NO_LINK ?
			tw->link_first[v[first].pos] : v[first].pos;
	}
	free(v);
}

/* An added symlink of lk_tar_write_entries. */
static int added_link_write(struct tar_writer *tw, const struct lk_tar_entry *e)
{
	if (!e->link_target || lk_tar_link_inside(e->name, e->link_target) != 0)
		return lk_error_set(tw->err, LK_EXIT_BUILD,
				    "internal error: added link '%s' -> '%s' leaves the image",
				    e->name, e->link_target ? e->link_target : "");
	entry_start(tw, e->name, AE_IFLNK, 0777);
	archive_entry_copy_symlink(tw->entry, e->link_target);
	return header_write(tw, e->name);
}

/* The entry name of the file at pos: its entry's, or prefix/path. */
static char *file_entry_name(const struct tar_writer *tw, const uint32_t *files, size_t pos)
{
	if (tw->entries)
		return path_is_clean(tw->entries[pos].name) ? lk_xstrdup(tw->entries[pos].name) : NULL;
	return lk_tar_entry_name(tw->opts->prefix, tw->scan->files[files[pos]].path);
}

static int file_write(struct tar_writer *tw, const uint32_t *files, size_t pos)
{
	const struct lk_scan *scan = tw->scan;
	const struct lk_file *f;
	const char *slash;
	char *name, *target_name = NULL;
	int rc = LK_FAILED;

	name = file_entry_name(tw, files, pos);
	if (!name)
		return lk_error_set(tw->err, LK_EXIT_BUILD,
				    "%s: '%s' is not a clean relative path (prefix '%s'); it cannot go in a layer",
				    scan->root, tw->entries ? tw->entries[pos].name :
				    scan->files[files[pos]].path, tw->opts->prefix);
	slash = strrchr(name, '/');
	if (parents_emit(tw, name, slash ? (size_t)(slash - name) : 0) != LK_OK)
		goto out_free_name;
	if (files[pos] == LK_TAR_LINK) {
		rc = added_link_write(tw, &tw->entries[pos]);
		goto out_free_name;
	}

	f = &scan->files[files[pos]];
	switch (f->type) {
	case LK_FILE_DIR:
		if (dir_emit(tw, name, lk_tar_mode(f->type, f->mode, tw->opts->keep_setuid)) != LK_OK)
			goto out_free_name;
		/* Anything listed below it must not emit it again. */
		dir_set(tw, name, strlen(name));
		rc = LK_OK;
		goto out_free_name;
	case LK_FILE_SYMLINK:
		if (!f->link_target || lk_tar_link_inside(f->path, f->link_target) != 0) {
			lk_error_set(tw->err, LK_EXIT_BUILD,
				     "%s/%s: symlink to '%s' leaves the tree; it cannot be kept as a link (let the scan follow it)",
				     scan->root, f->path, f->link_target ? f->link_target : "");
			goto out_free_name;
		}
		entry_start(tw, name, AE_IFLNK, 0777);
		archive_entry_copy_symlink(tw->entry, f->link_target);
		rc = header_write(tw, name);
		goto out_free_name;
	case LK_FILE_REGULAR:
		break;
	default:
		lk_error_set(tw->err, LK_EXIT_BUILD, "%s/%s: unknown file type %u",
			     scan->root, f->path, f->type);
		goto out_free_name;
	}

	entry_start(tw, name, AE_IFREG, lk_tar_mode(f->type, f->mode, tw->opts->keep_setuid));
	if (tw->link_first && tw->link_first[pos] != NO_LINK) {
		target_name = file_entry_name(tw, files, tw->link_first[pos]);
		archive_entry_copy_hardlink(tw->entry, target_name);
		rc = header_write(tw, name);
		goto out_free_target;
	}
	archive_entry_set_size(tw->entry, (la_int64_t)f->size);
	if (header_write(tw, name) != LK_OK)
		goto out_free_name;
	rc = content_write(tw, files[pos], name);
out_free_target:
	free(target_name);
out_free_name:
	free(name);
	return rc;
}

/* Streams the tar of the checked file list through the sink setup names. */
static int tar_stream(const struct tar_writer *setup, const uint32_t *files, size_t n_files)
{
	struct tar_writer tw = *setup;
	struct lk_error *err = tw.err;
	locale_t saved_locale = (locale_t)0;
	int rc = LK_FAILED;
	size_t i;

	pthread_once(&utf8_locale_once, utf8_locale_init);
	if (utf8_locale)
		saved_locale = uselocale(utf8_locale);
	tw.archive = archive_write_new();
	tw.entry = archive_entry_new();
	if (!tw.archive || !tw.entry) {
		lk_error_set(err, LK_EXIT_BUILD, "out of memory starting a layer tar");
		goto out_free_archive;
	}
	/* PAX records only where ustar cannot say it; no libarchive
	 * compression: the writer compresses.  The last block is not padded
	 * beyond the tar's own end-of-archive records. */
	if (archive_write_set_format_pax_restricted(tw.archive) != ARCHIVE_OK ||
	    archive_write_add_filter_none(tw.archive) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(tw.archive, LK_TAR_BLOCK_SIZE) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(tw.archive, 1) != ARCHIVE_OK) {
		lk_error_set(err, LK_EXIT_BUILD, "setting up the layer tar: %s",
			     archive_error_string(tw.archive));
		goto out_free_archive;
	}
	if (archive_write_open2(tw.archive, &tw, NULL, tar_sink_cb, NULL, NULL) != ARCHIVE_OK) {
		tar_fail(&tw, "opening", "");
		tw.abandoned = 1;
		goto out_free_archive;
	}
	tw.buf = lk_xmalloc(LK_TAR_BLOCK_SIZE);
	tw.dir = lk_xstrdup("");
	tw.dir_cap = 1;
	hard_links_find(&tw, files, n_files);

	for (i = 0; i < n_files; i++)
		if (file_write(&tw, files, i) != LK_OK)
			goto out_free_buffers;
	if (archive_write_close(tw.archive) != ARCHIVE_OK) {
		tar_fail(&tw, "closing", "");
		goto out_free_buffers;
	}
	rc = LK_OK;
out_free_buffers:
	tw.abandoned = rc != LK_OK;
	free(tw.link_first);
	free(tw.dir);
	free(tw.buf);
out_free_archive:
	if (tw.entry)
		archive_entry_free(tw.entry);
	if (tw.archive)
		archive_write_free(tw.archive);	/* also closes after a failure */
	if (saved_locale)
		uselocale(saved_locale);
	return rc;
}

int lk_tar_write(const struct lk_scan *scan, const uint32_t *files, size_t n_files,
		 const struct lk_tar_opts *opts, lk_tar_sink_fn sink, void *opaque,
		 struct lk_error *err)
{
	struct tar_writer tw = {
		.scan = scan, .opts = opts, .sink = sink, .opaque = opaque, .err = err,
	};

	for (size_t i = 1; i < n_files; i++) {
		if (files[i] >= scan->n_files ||
		    lk_path_cmp(scan->files[files[i - 1]].path, scan->files[files[i]].path) >= 0)
			return lk_error_set(err, LK_EXIT_BUILD,
					    "internal error: the layer's files are not in tree order at '%s'",
					    files[i] < scan->n_files ? scan->files[files[i]].path : "?");
	}
	if (n_files && files[0] >= scan->n_files)
		return lk_error_set(err, LK_EXIT_BUILD, "internal error: file index out of range");
	return tar_stream(&tw, files, n_files);
}

int lk_tar_write_entries(const struct lk_scan *scan, const struct lk_tar_entry *entries,
			 size_t n_entries, const struct lk_tar_opts *opts,
			 lk_tar_sink_fn sink, void *opaque, struct lk_error *err)
{
	struct tar_writer tw = {
		.scan = scan, .opts = opts, .sink = sink, .opaque = opaque, .err = err,
		.entries = entries,
	};
	uint32_t *files;
	int rc;

	for (size_t i = 0; i < n_entries; i++) {
		if ((entries[i].file != LK_TAR_LINK && entries[i].file >= scan->n_files) ||
		    (i && lk_path_cmp(entries[i - 1].name, entries[i].name) >= 0))
			return lk_error_set(err, LK_EXIT_BUILD,
					    "internal error: the layer's entries are not sorted, or name a file not scanned, at '%s'",
					    entries[i].name);
	}
	files = lk_xmalloc((n_entries ? n_entries : 1) * sizeof(*files));
	for (size_t i = 0; i < n_entries; i++)
		files[i] = entries[i].file;
	rc = tar_stream(&tw, files, n_entries);
	free(files);
	return rc;
}
