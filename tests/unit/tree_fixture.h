/*
 * tree_fixture.h - test helper: a temporary directory tree and a struct
 * lk_scan built over it by hand (what lk_scan_tree would give, without
 * depending on it), for the tar and writer tests.
 */
#ifndef LK_TEST_TREE_FIXTURE_H
#define LK_TEST_TREE_FIXTURE_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "scan.h"

struct tree_fixture {
	char root[PATH_MAX];
	struct lk_scan scan;
	size_t cap;
};

static inline void tree_die(const char *what, const char *path)
{
	fprintf(stderr, "tree fixture: %s %s: %s\n", what, path, strerror(errno));
	abort();
}

/* A new empty tree in a temporary directory under base. */
static inline void tree_init_in(struct tree_fixture *t, const char *base)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->root, sizeof(t->root), "%s/lk-tree-XXXXXX", base);
	if (!mkdtemp(t->root))
		tree_die("mkdtemp", t->root);
	t->scan.root_fd = -1;
}

/* A new empty tree under $TMPDIR or /tmp. */
static inline void tree_init(struct tree_fixture *t)
{
	tree_init_in(t, getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
}

/* Path of a tree entry; the returned buffer is reused by the next call. */
static inline const char *tree_path(struct tree_fixture *t, const char *rel)
{
	static char buf[PATH_MAX * 2];

	snprintf(buf, sizeof(buf), "%s/%s", t->root, rel);
	return buf;
}

/* mkdir -p of a relative directory. */
static inline void tree_mkdirs(struct tree_fixture *t, const char *rel)
{
	char path[PATH_MAX * 2];
	size_t base = strlen(t->root) + 1;

	snprintf(path, sizeof(path), "%s/%s", t->root, rel);
	for (char *p = path + base; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			tree_die("mkdir", path);
		*p = '/';
	}
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		tree_die("mkdir", path);
}

/* Makes rel's parent directories. */
static inline void tree_parents(struct tree_fixture *t, const char *rel)
{
	char *dir = lk_xstrdup(rel);
	char *slash = strrchr(dir, '/');

	if (slash) {
		*slash = '\0';
		tree_mkdirs(t, dir);
	}
	free(dir);
}

static inline void tree_file(struct tree_fixture *t, const char *rel, const void *data, size_t len,
		      mode_t mode)
{
	const char *path;
	int fd;

	tree_parents(t, rel);
	path = tree_path(t, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) != 0)
		tree_die("write", path);
	if (chmod(path, mode) != 0)
		tree_die("chmod", path);
}

static inline void tree_text(struct tree_fixture *t, const char *rel, const char *text, mode_t mode)
{
	tree_file(t, rel, text, strlen(text), mode);
}

static inline void tree_symlink(struct tree_fixture *t, const char *rel, const char *target)
{
	tree_parents(t, rel);
	if (symlink(target, tree_path(t, rel)) != 0)
		tree_die("symlink", rel);
}

static inline void tree_hardlink(struct tree_fixture *t, const char *rel, const char *existing)
{
	char from[PATH_MAX * 2];

	tree_parents(t, rel);
	snprintf(from, sizeof(from), "%s/%s", t->root, existing);
	if (link(from, tree_path(t, rel)) != 0)
		tree_die("link", rel);
}

static inline void tree_add(struct tree_fixture *t, const char *rel, const struct stat *st,
		     const char *target)
{
	struct lk_scan *s = &t->scan;
	struct lk_file *f;
	struct lk_file_stat *fs;

	if (s->n_files == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 16;
		s->files = lk_xrealloc(s->files, t->cap * sizeof(*s->files));
		s->stats = lk_xrealloc(s->stats, t->cap * sizeof(*s->stats));
	}
	f = &s->files[s->n_files];
	fs = &s->stats[s->n_files];
	s->n_files++;
	memset(f, 0, sizeof(*f));
	memset(fs, 0, sizeof(*fs));
	f->path = lk_xstrdup(rel);
	f->mode = st->st_mode & 07777;
	if (S_ISLNK(st->st_mode)) {
		f->type = LK_FILE_SYMLINK;
		f->link_target = lk_xstrdup(target);
	} else if (S_ISDIR(st->st_mode)) {
		f->type = LK_FILE_DIR;
	} else {
		f->type = LK_FILE_REGULAR;
		f->size = (uint64_t)st->st_size;
	}
	fs->dev = st->st_dev;
	fs->ino = st->st_ino;
	fs->nlink = (uint32_t)st->st_nlink;
	fs->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	fs->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

/* Lists rel (a directory, "" = the root) recursively: files, links, empty dirs. */
static inline void tree_walk(struct tree_fixture *t, const char *rel)
{
	char path[PATH_MAX * 2];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s%s%s", t->root, *rel ? "/" : "", rel);
	d = opendir(path);
	if (!d)
		tree_die("opendir", path);
	while ((de = readdir(d))) {
		char child[PATH_MAX * 2], full[PATH_MAX * 3], target[PATH_MAX];
		struct stat st;
		ssize_t len;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		snprintf(full, sizeof(full), "%s/%s", t->root, child);
		if (lstat(full, &st) != 0)
			tree_die("lstat", full);
		if (S_ISDIR(st.st_mode)) {
			size_t before = t->scan.n_files;

			tree_walk(t, child);
			if (t->scan.n_files == before)
				tree_add(t, child, &st, NULL);	/* an empty directory */
			continue;
		}
		target[0] = '\0';
		if (S_ISLNK(st.st_mode)) {
			len = readlink(full, target, sizeof(target) - 1);
			if (len < 0)
				tree_die("readlink", full);
			target[len] = '\0';
		}
		tree_add(t, child, &st, target);
	}
	closedir(d);
}

static inline int tree_file_cmp(const void *a, const void *b)
{
	return lk_path_cmp(((const struct lk_file *)a)->path, ((const struct lk_file *)b)->path);
}

/* Fills t->scan with every file, link and empty directory, in tree order. */
static inline void tree_scan(struct tree_fixture *t)
{
	struct lk_scan *s = &t->scan;
	size_t n;

	tree_walk(t, "");
	n = s->n_files;
	/* Sort files and stats together: sort an index, then permute. */
	{
		struct pair { struct lk_file f; struct lk_file_stat st; } *v = lk_xmalloc((n ? n : 1) * sizeof(*v));

		for (size_t i = 0; i < n; i++) {
			v[i].f = s->files[i];
			v[i].st = s->stats[i];
		}
		qsort(v, n, sizeof(*v), tree_file_cmp);	/* f is the first member */
		for (size_t i = 0; i < n; i++) {
			s->files[i] = v[i].f;
			s->stats[i] = v[i].st;
		}
		free(v);
	}
	s->tree.struct_size = sizeof(s->tree);
	s->tree.root = t->root;
	s->tree.n_files = n;
	s->tree.files = s->files;
	s->root = t->root;
	s->root_fd = open(t->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->root_fd < 0)
		tree_die("open", t->root);
	for (size_t i = 0; i < n; i++)
		s->total_bytes += s->files[i].size;
}

/* Index of a path in the scan; aborts when missing (a broken test). */
static inline uint32_t tree_index(struct tree_fixture *t, const char *rel)
{
	for (size_t i = 0; i < t->scan.n_files; i++)
		if (!strcmp(t->scan.files[i].path, rel))
			return (uint32_t)i;
	fprintf(stderr, "tree fixture: %s is not in the scan\n", rel);
	abort();
}

/* All indices 0..n-1 (the whole tree as one layer); the caller frees. */
static inline uint32_t *tree_all(struct tree_fixture *t)
{
	uint32_t *v = lk_xmalloc((t->scan.n_files ? t->scan.n_files : 1) * sizeof(*v));

	for (size_t i = 0; i < t->scan.n_files; i++)
		v[i] = (uint32_t)i;
	return v;
}

static inline void tree_release(struct tree_fixture *t)
{
	char cmd[PATH_MAX + 32];

	for (size_t i = 0; i < t->scan.n_files; i++) {
		free((char *)t->scan.files[i].path);
		free((char *)t->scan.files[i].link_target);
	}
	free(t->scan.files);
	free(t->scan.stats);
	if (t->scan.root_fd >= 0)
		close(t->scan.root_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	if (system(cmd) != 0)
		fprintf(stderr, "tree fixture: cannot remove %s\n", t->root);
	memset(t, 0, sizeof(*t));
}

#endif
