/* scan.c - walks an application's root into a sorted struct lk_tree. */
#include "scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * String arena: paths and link targets live in large blocks so a tree of
 * 100k files costs a handful of allocations and one free loop.
 */
struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	char data[];
};

#define ARENA_BLOCK_SIZE (256 * 1024)

struct arena {
	struct arena_block *head;
};

static char *arena_strndup(struct arena *a, const char *s, size_t len)
{
	struct arena_block *b = a->head;
	char *p;

	if (!b || b->cap - b->used < len + 1) {
		size_t cap = len + 1 > ARENA_BLOCK_SIZE ? len + 1 : ARENA_BLOCK_SIZE;

		b = lk_xmalloc(sizeof(*b) + cap);
		b->used = 0;
		b->cap = cap;
		b->next = a->head;
		a->head = b;
	}
	p = b->data + b->used;
	memcpy(p, s, len);
	p[len] = '\0';
	b->used += len + 1;
	return p;
}

static void arena_free(struct arena *a)
{
	struct arena_block *b, *next;

	if (!a)
		return;
	for (b = a->head; b; b = next) {
		next = b->next;
		free(b);
	}
	free(a);
}

/* (dev, ino) of a directory on the path being walked: a followed link to
 * one of them is a loop. */
struct dir_id {
	dev_t dev;
	ino_t ino;
};

struct walker {
	const struct lk_scan_opts *opts;
	struct lk_scan *scan;
	struct arena *arena;
	struct lk_error *err;
	size_t cap_files;
	size_t cap_excluded, cap_skipped;
	/* relative path of the directory being walked ("" for the root) */
	char *path;
	size_t path_len, path_cap;
	struct dir_id *ancestors;
	size_t n_ancestors, cap_ancestors;
};

static const char *type_name(mode_t mode)
{
	if (S_ISFIFO(mode))
		return "FIFO";
	if (S_ISSOCK(mode))
		return "socket";
	if (S_ISCHR(mode))
		return "character device";
	if (S_ISBLK(mode))
		return "block device";
	return "special file";
}

/* Appends "/name" (or "name" at the root) to the walker's path; returns
 * the old length so the caller can cut back. */
static size_t path_push(struct walker *w, const char *name)
{
	size_t old = w->path_len;
	size_t n = strlen(name);

	lk_grow((void **)&w->path, &w->path_cap, old + n + 2, 1);
	if (old)
		w->path[w->path_len++] = '/';
	memcpy(w->path + w->path_len, name, n + 1);
	w->path_len += n;
	return old;
}

static void path_pop(struct walker *w, size_t old)
{
	w->path_len = old;
	w->path[old] = '\0';
}

static void record(struct walker *w, char ***list, size_t *n, size_t *cap)
{
	lk_grow((void **)list, cap, *n + 1, sizeof(**list));
	(*list)[(*n)++] = arena_strndup(w->arena, w->path, w->path_len);
}

static void add_entry(struct walker *w, const struct stat *st, uint32_t type,
		      const char *link_target)
{
	struct lk_scan *s = w->scan;
	struct lk_file *f;
	struct lk_file_stat *fs;

	if (s->n_files == w->cap_files) {
		size_t cap = w->cap_files;

		lk_grow((void **)&s->files, &cap, s->n_files + 1, sizeof(*s->files));
		s->stats = lk_xrealloc(s->stats, cap * sizeof(*s->stats));
		w->cap_files = cap;
	}
	f = &s->files[s->n_files];
	fs = &s->stats[s->n_files];
	s->n_files++;
	f->path = arena_strndup(w->arena, w->path, w->path_len);
	f->link_target = link_target ? arena_strndup(w->arena, link_target, strlen(link_target)) : NULL;
	f->size = type == LK_FILE_REGULAR ? (uint64_t)st->st_size : 0;
	f->mode = st->st_mode & 07777;
	f->type = type;
	fs->dev = st->st_dev;
	fs->ino = st->st_ino;
	fs->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	fs->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
	fs->nlink = st->st_nlink;
	if (type == LK_FILE_REGULAR)
		s->total_bytes += f->size;
}

const char *lk_scan_exclude_pattern(const struct lk_scan_opts *o, const char *path,
				    int dir_patterns)
{
	const char *slash = strrchr(path, '/');
	const char *name = slash ? slash + 1 : path;

	for (size_t i = 0; i < o->n_excludes; i++) {
		const char *pat = o->excludes[i];
		size_t len = strlen(pat);
		int anchored = 0;
		char buf[PATH_MAX];

		if (pat[0] == '/') {	/* "/x": the whole path, as with any '/' */
			anchored = 1;
			pat++;
			len--;
		}
		if (!len || len >= sizeof(buf))
			continue;
		if ((pat[len - 1] == '/') != !!dir_patterns)
			continue;
		if (dir_patterns)
			len--;
		memcpy(buf, pat, len);
		buf[len] = '\0';
		if (anchored || memchr(buf, '/', len)) {
			if (!fnmatch(buf, path, FNM_PATHNAME))
				return o->excludes[i];
		} else if (!fnmatch(buf, name, 0)) {
			return o->excludes[i];
		}
	}
	return NULL;
}

/*
 * Is the current path excluded?  dir_patterns selects the "name/" patterns
 * (asked once the entry is known to be a directory) or all the others.
 */
static int excluded(const struct walker *w, const char *name, int dir_patterns)
{
	return lk_scan_exclude_pattern(w->opts, w->path, dir_patterns) != NULL;
}

/* A dangling link or a loop: an error, or a warning and a skip. */
static int bad_link(struct walker *w, const char *what, const char *target)
{
	if (w->opts->bad_links == LK_BAD_LINK_SKIP) {
		lk_log(LK_LOG_WARN, "%s/%s: skipped: %s (-> %s)",
		       w->scan->root, w->path, what, target);
		record(w, &w->scan->skipped, &w->scan->n_skipped, &w->cap_skipped);
		return 0;
	}
	return lk_error_set(w->err, LK_EXIT_BUILD,
			    "%s/%s: %s (-> %s); fix or remove the link, exclude it "
			    "(exclude = %s), or set bad_links = skip",
			    w->scan->root, w->path, what, target, w->path);
}

static int special_file(struct walker *w, mode_t mode)
{
	if (w->opts->special_files == LK_SPECIAL_SKIP) {
		lk_log(LK_LOG_WARN, "%s/%s: skipped: %s (only regular files, "
		       "directories and symlinks go into an image)",
		       w->scan->root, w->path, type_name(mode));
		record(w, &w->scan->skipped, &w->scan->n_skipped, &w->cap_skipped);
		return 0;
	}
	return lk_error_set(w->err, LK_EXIT_BUILD,
			    "%s/%s: is a %s, which cannot go into an image; remove "
			    "it, exclude it (exclude = %s), or set special_files = skip",
			    w->scan->root, w->path, type_name(mode), w->path);
}

/*
 * Resolves a relative link target lexically from the directory of the
 * link (dir_len bytes of w->path).  Writes the root-relative result into
 * out and returns 0, or -1 when it leaves the root.
 */
static int resolve_inside(const char *dir, size_t dir_len, const char *target,
			  char *out, size_t out_size)
{
	size_t len = 0;
	const char *p = target;

	if (dir_len >= out_size)
		return -1;
	memcpy(out, dir, dir_len);
	len = dir_len;
	out[len] = '\0';
	while (*p) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.')) {
			/* nothing */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			char *slash;

			if (!len)
				return -1;
			slash = memrchr(out, '/', len);
			len = slash ? (size_t)(slash - out) : 0;
			out[len] = '\0';
		} else {
			if (len + n + 2 > out_size)
				return -1;
			if (len)
				out[len++] = '/';
			memcpy(out + len, p, n);
			len += n;
			out[len] = '\0';
		}
		p += n;
		if (*p == '/')
			p++;
	}
	return 0;
}

/* The root's own parents count as directories being walked: a followed
 * link to one of them ("-> /", "-> ..") is a loop, refused before it
 * walks everything above the tree (all of / with /proc and /dev). */
static void add_root_parents(struct walker *w, const char *root)
{
	char *up = lk_xstrdup(root);
	struct stat st;
	char *slash;

	while ((slash = strrchr(up, '/')) != NULL) {
		if (slash == up)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(up, &st) == 0) {
			lk_grow((void **)&w->ancestors, &w->cap_ancestors, w->n_ancestors + 1,
				sizeof(*w->ancestors));
			w->ancestors[w->n_ancestors].dev = st.st_dev;
			w->ancestors[w->n_ancestors].ino = st.st_ino;
			w->n_ancestors++;
		}
		if (slash == up)
			break;
	}
	free(up);
}

static int walk_dir(struct walker *w, int dir_fd);

/* Opens the directory name of dir_fd (following a link when follow) and
 * walks it, unless it is one of the directories being walked. */
static int descend(struct walker *w, int dir_fd, const char *name, int follow,
		   const char *link_target)
{
	struct stat st;
	int fd, ret;

	fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY |
		    (follow ? 0 : O_NOFOLLOW));
	if (fd < 0) {
		if (errno == EACCES)
			return lk_error_set(w->err, LK_EXIT_BUILD,
					    "%s/%s: cannot read directory: %s; make it "
					    "readable or exclude it (exclude = %s/)",
					    w->scan->root, w->path, strerror(errno), name);
		return lk_error_set(w->err, LK_EXIT_BUILD, "%s/%s: cannot open directory: %s",
				    w->scan->root, w->path, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		ret = lk_error_set(w->err, LK_EXIT_BUILD, "%s/%s: %s",
				   w->scan->root, w->path, strerror(errno));
		goto out_close_fd;
	}
	for (size_t i = 0; i < w->n_ancestors; i++) {
		if (w->ancestors[i].dev == st.st_dev && w->ancestors[i].ino == st.st_ino) {
			ret = bad_link(w, "symlink loop: points to a directory that "
				       "contains it", link_target ? link_target : "?");
			goto out_close_fd;
		}
	}
	lk_grow((void **)&w->ancestors, &w->cap_ancestors, w->n_ancestors + 1,
		sizeof(*w->ancestors));
	w->ancestors[w->n_ancestors].dev = st.st_dev;
	w->ancestors[w->n_ancestors].ino = st.st_ino;
	w->n_ancestors++;
	{
		size_t before = w->scan->n_files;

		ret = walk_dir(w, fd);	/* closes fd */
		fd = -1;
		/* A directory that holds nothing is listed, so it exists in the
		 * image; parents of listed entries are implied. */
		if (ret == LK_OK && w->scan->n_files == before)
			add_entry(w, &st, LK_FILE_DIR, NULL);
	}
	w->n_ancestors--;
out_close_fd:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* One entry of a directory; w->path already names it. */
static int scan_entry(struct walker *w, int dir_fd, const char *name, size_t dir_len)
{
	struct stat st;
	char target[PATH_MAX];
	ssize_t n;

	if (w->path_len >= PATH_MAX)
		return lk_error_set(w->err, LK_EXIT_BUILD,
				    "%s/%.64s...: path too long (%zu bytes, the limit is %d); "
				    "shorten the directory names or exclude the directory",
				    w->scan->root, w->path, w->path_len, PATH_MAX - 1);
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)	/* removed while we walked: nothing to pack */
			return LK_OK;
		return lk_error_set(w->err, LK_EXIT_BUILD, "%s/%s: cannot stat: %s",
				    w->scan->root, w->path, strerror(errno));
	}
	if (excluded(w, name, 0)) {
		record(w, &w->scan->excluded, &w->scan->n_excluded, &w->cap_excluded);
		return LK_OK;
	}
	if (S_ISDIR(st.st_mode)) {
		if (excluded(w, name, 1)) {
			record(w, &w->scan->excluded, &w->scan->n_excluded, &w->cap_excluded);
			return LK_OK;
		}
		return descend(w, dir_fd, name, 0, NULL);
	}
	if (S_ISREG(st.st_mode)) {
		/* Root reads everything; others get the unreadable file named now
		 * rather than halfway through writing a layer. */
		if (!(st.st_mode & S_IROTH) && faccessat(dir_fd, name, R_OK, AT_EACCESS) < 0 &&
		    errno == EACCES)
			return lk_error_set(w->err, LK_EXIT_BUILD,
					    "%s/%s: cannot read file: %s; make it readable "
					    "or exclude it (exclude = %s)",
					    w->scan->root, w->path, strerror(errno), w->path);
		add_entry(w, &st, LK_FILE_REGULAR, NULL);
		return LK_OK;
	}
	if (!S_ISLNK(st.st_mode))
		return special_file(w, st.st_mode);

	n = readlinkat(dir_fd, name, target, sizeof(target) - 1);
	if (n < 0)
		return lk_error_set(w->err, LK_EXIT_BUILD, "%s/%s: cannot read link: %s",
				    w->scan->root, w->path, strerror(errno));
	target[n] = '\0';
	if (target[0] != '/') {
		char resolved[PATH_MAX];
		struct stat tst;

		/* Kept as a link when it resolves inside the root (as the
		 * image will see it) to something that exists. */
		if (!resolve_inside(w->path, dir_len, target, resolved, sizeof(resolved)) &&
		    fstatat(w->scan->root_fd, resolved[0] ? resolved : ".", &tst, 0) == 0) {
			add_entry(w, &st, LK_FILE_SYMLINK, target);
			return LK_OK;
		}
	}
	/* Followed: the target's type, size and mode under the link's path. */
	if (fstatat(dir_fd, name, &st, 0) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return bad_link(w, "dangling symlink", target);
		if (errno == ELOOP)
			return bad_link(w, "symlink loop", target);
		return lk_error_set(w->err, LK_EXIT_BUILD, "%s/%s: cannot follow link to %s: %s",
				    w->scan->root, w->path, target, strerror(errno));
	}
	if (S_ISDIR(st.st_mode)) {
		if (excluded(w, name, 1)) {
			record(w, &w->scan->excluded, &w->scan->n_excluded, &w->cap_excluded);
			return LK_OK;
		}
		return descend(w, dir_fd, name, 1, target);
	}
	if (S_ISREG(st.st_mode)) {
		if (!(st.st_mode & S_IROTH) && faccessat(dir_fd, name, R_OK, AT_EACCESS) < 0 &&
		    errno == EACCES)
			return lk_error_set(w->err, LK_EXIT_BUILD,
					    "%s/%s: cannot read link target %s: %s; make it "
					    "readable or exclude it (exclude = %s)",
					    w->scan->root, w->path, target, strerror(errno), w->path);
		add_entry(w, &st, LK_FILE_REGULAR, NULL);
		return LK_OK;
	}
	return special_file(w, st.st_mode);
}

static int name_cmp(const void *a, const void *b)
{
	return lk_path_cmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names of a directory, sorted.  *blob holds the strings; the caller
 * frees *names and *blob. */
static int read_names(struct walker *w, DIR *dir, char ***names, size_t *n_names,
		      char **blob)
{
	size_t cap = 0, blob_len = 0, blob_cap = 0;
	size_t *offsets = NULL;
	struct dirent *de;

	*names = NULL;
	*n_names = 0;
	*blob = NULL;
	for (;;) {
		size_t len;

		errno = 0;
		de = readdir(dir);
		if (!de)
			break;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		len = strlen(de->d_name) + 1;
		lk_grow((void **)blob, &blob_cap, blob_len + len, 1);
		memcpy(*blob + blob_len, de->d_name, len);
		lk_grow((void **)&offsets, &cap, *n_names + 1, sizeof(*offsets));
		offsets[(*n_names)++] = blob_len;
		blob_len += len;
	}
	if (errno) {
		free(offsets);
		return lk_error_set(w->err, LK_EXIT_BUILD, "%s/%s: cannot list directory: %s",
				    w->scan->root, w->path, strerror(errno));
	}
	/* The blob may have moved while growing: pointers only now. */
	*names = lk_xmalloc((*n_names ? *n_names : 1) * sizeof(**names));
	for (size_t i = 0; i < *n_names; i++)
		(*names)[i] = *blob + offsets[i];
	free(offsets);
	qsort(*names, *n_names, sizeof(**names), name_cmp);
	return LK_OK;
}

/* Walks the directory open as fd (which it closes), whose relative path
 * is w->path. */
static int walk_dir(struct walker *w, int fd)
{
	char **names = NULL;
	char *blob = NULL;
	size_t n_names = 0, dir_len = w->path_len;
	DIR *dir;
	int ret;

	dir = fdopendir(fd);
	if (!dir) {
		ret = lk_error_set(w->err, LK_EXIT_BUILD, "%s/%s: cannot list directory: %s",
				   w->scan->root, w->path, strerror(errno));
		close(fd);
		return ret;
	}
	ret = read_names(w, dir, &names, &n_names, &blob);
	if (ret != LK_OK)
		goto out_closedir;
	for (size_t i = 0; i < n_names; i++) {
		size_t old = path_push(w, names[i]);

		ret = scan_entry(w, dirfd(dir), names[i], dir_len);
		path_pop(w, old);
		if (ret != LK_OK)
			break;
	}
	free(names);
	free(blob);
out_closedir:
	closedir(dir);
	return ret;
}

/* Only the named top-level entries: each must exist. */
static int walk_top_entries(struct walker *w)
{
	const struct lk_scan_opts *o = w->opts;
	const char **names;
	int ret = LK_OK;

	names = lk_xmalloc(o->n_top_entries * sizeof(*names));
	for (size_t i = 0; i < o->n_top_entries; i++) {
		const char *name = o->top_entries[i];

		if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
			ret = lk_error_set(w->err, LK_EXIT_BUILD,
					   "%s: top-level entry '%s' is not a plain name; "
					   "name entries directly inside the root",
					   w->scan->root, name);
			goto out_free_names;
		}
		if (faccessat(w->scan->root_fd, name, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = lk_error_set(w->err, LK_EXIT_USAGE,
					   "%s/%s: not found (the discovery asked for this "
					   "top-level entry); check the root you named",
					   w->scan->root, name);
			goto out_free_names;
		}
		names[i] = name;
	}
	qsort(names, o->n_top_entries, sizeof(*names), name_cmp);
	for (size_t i = 0; i < o->n_top_entries; i++) {
		size_t old;

		if (i && !strcmp(names[i], names[i - 1]))
			continue;
		old = path_push(w, names[i]);
		ret = scan_entry(w, w->scan->root_fd, names[i], 0);
		path_pop(w, old);
		if (ret != LK_OK)
			break;
	}
out_free_names:
	free(names);
	return ret;
}

int lk_scan_tree(const char *root, const struct lk_scan_opts *opts,
		 struct lk_scan *out, struct lk_error *err)
{
	static const struct lk_scan_opts no_opts;
	struct walker w = { 0 };
	struct stat st;
	int fd, ret;

	memset(out, 0, sizeof(*out));
	out->root_fd = -1;
	if (!opts)
		opts = &no_opts;
	out->root = realpath(root, NULL);
	if (!out->root) {
		if (errno == ENOENT)
			return lk_error_set(err, LK_EXIT_USAGE,
					    "%s: no such directory; check the root you named "
					    "(root = in the config, or --root)", root);
		if (errno == ENOTDIR)
			return lk_error_set(err, LK_EXIT_USAGE,
					    "%s: a path component is not a directory; check the "
					    "root you named", root);
		return lk_error_set(err, LK_EXIT_USAGE, "%s: cannot resolve the root: %s",
				    root, strerror(errno));
	}
	if (stat(out->root, &st) == 0 && !S_ISDIR(st.st_mode)) {
		ret = lk_error_set(err, LK_EXIT_USAGE,
				   "%s: the root is not a directory; name the directory "
				   "that holds the application", root);
		goto out_release;
	}
	out->root_fd = open(out->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (out->root_fd < 0 || fstat(out->root_fd, &st) < 0) {
		ret = lk_error_set(err, errno == EACCES ? LK_EXIT_BUILD : LK_EXIT_USAGE,
				   "%s: cannot open the root directory: %s", root,
				   strerror(errno));
		goto out_release;
	}
	out->arena = w.arena = lk_xcalloc(1, sizeof(*w.arena));
	w.opts = opts;
	w.scan = out;
	w.err = err;
	lk_grow((void **)&w.path, &w.path_cap, 256, 1);
	w.path[0] = '\0';
	lk_grow((void **)&w.ancestors, &w.cap_ancestors, 64, sizeof(*w.ancestors));
	w.ancestors[0].dev = st.st_dev;
	w.ancestors[0].ino = st.st_ino;
	w.n_ancestors = 1;
	add_root_parents(&w, out->root);

	if (opts->n_top_entries) {
		ret = walk_top_entries(&w);
	} else {
		fd = dup(out->root_fd);
		if (fd < 0)
			ret = lk_error_set(err, LK_EXIT_BUILD, "%s: %s", out->root, strerror(errno));
		else
			ret = walk_dir(&w, fd);
	}
	free(w.path);
	free(w.ancestors);
	if (ret != LK_OK)
		goto out_release;
	out->tree.struct_size = sizeof(out->tree);
	out->tree.root = out->root;
	out->tree.n_files = out->n_files;
	out->tree.files = out->files;
	return LK_OK;

out_release:
	lk_scan_release(out);
	return ret;
}

void lk_scan_release(struct lk_scan *scan)
{
	if (scan->root_fd >= 0)
		close(scan->root_fd);
	free(scan->files);
	free(scan->stats);
	free(scan->excluded);
	free(scan->skipped);
	free(scan->root);
	arena_free(scan->arena);
	memset(scan, 0, sizeof(*scan));
	scan->root_fd = -1;
}

long lk_scan_find(const struct lk_scan *scan, const char *path)
{
	size_t lo = 0, hi = scan->n_files;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = lk_path_cmp(scan->files[mid].path, path);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

void lk_scan_find_below(const struct lk_scan *scan, const char *dir, size_t *lo, size_t *hi)
{
	size_t a = 0, b = scan->n_files, n = strlen(dir);

	/* In component order, dir and everything below it are contiguous
	 * and everything before them compares below dir. */
	while (a < b) {
		size_t mid = a + (b - a) / 2;

		if (lk_path_cmp(scan->files[mid].path, dir) < 0)
			a = mid + 1;
		else
			b = mid;
	}
	*lo = a;
	while (a < scan->n_files && (!n || (!strncmp(scan->files[a].path, dir, n) &&
					    (scan->files[a].path[n] == '/' ||
					     scan->files[a].path[n] == '\0'))))
		a++;
	*hi = a;
}

int lk_scan_open(const struct lk_scan *scan, uint32_t index)
{
	const struct lk_file *f;
	struct stat st;
	int fd, flags;

	if (index >= scan->n_files || scan->root_fd < 0) {
		errno = EINVAL;
		return -1;
	}
	f = &scan->files[index];
	if (f->type != LK_FILE_REGULAR) {
		errno = f->type == LK_FILE_DIR ? EISDIR : EINVAL;
		return -1;
	}
	/* O_NONBLOCK: a file replaced by a FIFO since the scan must not block
	 * the open; it is refused below and cleared for regular files. */
	fd = openat(scan->root_fd, f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		goto out_close_fd;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		goto out_close_fd;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		goto out_close_fd;
	return fd;

out_close_fd:
	{
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return -1;
}
