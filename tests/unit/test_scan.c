/* test_scan.c - the tree walker on real temporary trees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scan.h"

static char base[64];		/* per-test directory: base/root is the tree */
static char root[128];
static char outside[128];	/* a directory next to the root */

static void rm_rf(const char *path)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
	strcpy(base, "/tmp/lk-test-scan-XXXXXX");
	if (!mkdtemp(base))
		return -1;
	snprintf(root, sizeof(root), "%s/root", base);
	snprintf(outside, sizeof(outside), "%s/outside", base);
	if (mkdir(root, 0755) || mkdir(outside, 0755))
		return -1;
	lk_verbosity = 0;
	return 0;
}

static int teardown(void **state)
{
	rm_rf(base);
	return 0;
}

/* Helpers on paths relative to the root (or absolute). */
static void path_of(char *out, size_t size, const char *rel)
{
	if (rel[0] == '/')
		snprintf(out, size, "%s", rel);
	else
		snprintf(out, size, "%s/%s", root, rel);
}

static void mkdir_p(const char *rel)
{
	char p[PATH_MAX];

	path_of(p, sizeof(p), rel);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	assert_true(mkdir(p, 0755) == 0 || errno == EEXIST);
}

static void put(const char *rel, const char *content, mode_t mode)
{
	char p[PATH_MAX];
	char *slash;
	int fd;

	path_of(p, sizeof(p), rel);
	slash = strrchr(p, '/');
	*slash = '\0';
	mkdir_p(p);
	*slash = '/';
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void ln(const char *target, const char *rel)
{
	char p[PATH_MAX];

	char *slash;

	path_of(p, sizeof(p), rel);
	slash = strrchr(p, '/');
	*slash = '\0';
	mkdir_p(p);
	*slash = '/';
	assert_int_equal(symlink(target, p), 0);
}

struct want {
	uint32_t type;
	const char *path;
	const char *link_target;
	uint64_t size;
};

static const struct lk_scan_opts no_opts;

static void scan_ok(const struct lk_scan_opts *opts, struct lk_scan *scan)
{
	struct lk_error err;

	lk_error_clear(&err);
	if (lk_scan_tree(root, opts ? opts : &no_opts, scan, &err) != LK_OK)
		fail_msg("scan failed: %s", err.msg);
}

static void scan_fails(const struct lk_scan_opts *opts, int exit_code, const char *want)
{
	struct lk_scan scan;
	struct lk_error err;

	assert_int_equal(lk_scan_tree(root, opts ? opts : &no_opts, &scan, &err), LK_FAILED);
	assert_int_equal(err.exit_code, exit_code);
	if (!strstr(err.msg, want))
		fail_msg("wanted \"%s\" in \"%s\"", want, err.msg);
	/* the scan is released on failure */
	assert_null(scan.files);
	assert_int_equal(scan.root_fd, -1);
}

static void expect_files(const struct lk_scan *scan, const struct want *w, size_t n)
{
	for (size_t i = 0; i < n && i < scan->n_files; i++) {
		const struct lk_file *f = &scan->files[i];

		if (f->type != w[i].type || strcmp(f->path, w[i].path) || f->size != w[i].size ||
		    (w[i].link_target ? !f->link_target || strcmp(f->link_target, w[i].link_target)
				      : f->link_target != NULL))
			fail_msg("entry %zu: got (%u, '%s', '%s', %llu), wanted (%u, '%s', '%s', %llu)",
				 i, f->type, f->path, f->link_target ? f->link_target : "",
				 (unsigned long long)f->size, w[i].type, w[i].path,
				 w[i].link_target ? w[i].link_target : "",
				 (unsigned long long)w[i].size);
	}
	if (scan->n_files != n) {
		for (size_t i = 0; i < scan->n_files; i++)
			fprintf(stderr, "  %u %s\n", scan->files[i].type, scan->files[i].path);
		fail_msg("got %zu entries, wanted %zu", scan->n_files, n);
	}
	/* the public view is the same list, and it is sorted */
	assert_ptr_equal(scan->tree.files, scan->files);
	assert_int_equal(scan->tree.n_files, scan->n_files);
	for (size_t i = 1; i < scan->n_files; i++)
		assert_true(lk_path_cmp(scan->files[i - 1].path, scan->files[i].path) < 0);
	for (size_t i = 0; i < scan->n_files; i++)
		assert_int_equal(lk_scan_find(scan, scan->files[i].path), (long)i);
}

static int has_string(char **list, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i], s))
			return 1;
	return 0;
}

static void test_order_and_empty_dirs(void **state)
{
	struct lk_scan scan;
	struct stat st;
	char p[PATH_MAX];
	static const struct want w[] = {
		{ LK_FILE_REGULAR, "A", NULL, 1 },
		{ LK_FILE_REGULAR, "a/b/c", NULL, 3 },
		{ LK_FILE_REGULAR, "a/z", NULL, 0 },
		{ LK_FILE_REGULAR, "a-b", NULL, 2 },
		{ LK_FILE_REGULAR, "a.b", NULL, 4 },
		{ LK_FILE_REGULAR, "a0", NULL, 1 },
		{ LK_FILE_DIR, "e", NULL, 0 },
		{ LK_FILE_DIR, "x/y/z", NULL, 0 },
		{ LK_FILE_REGULAR, "x/y-file", NULL, 5 },
	};

	put("A", "1", 0644);
	put("a/b/c", "abc", 0755);
	put("a/z", "", 0600);
	put("a-b", "ab", 0644);
	put("a.b", "a.bb", 0644);
	put("a0", "0", 0644);
	mkdir_p("e");
	mkdir_p("x/y/z");
	put("x/y-file", "12345", 0644);
	scan_ok(NULL, &scan);
	expect_files(&scan, w, sizeof(w) / sizeof(w[0]));
	assert_int_equal(scan.total_bytes, 1 + 3 + 0 + 2 + 4 + 1 + 5);
	assert_string_equal(scan.tree.root, root);
	assert_string_equal(scan.root, root);
	assert_int_equal(scan.files[1].mode, 0755);
	assert_int_equal(scan.files[2].mode, 0600);
	assert_int_equal(scan.files[6].mode, 0755);
	/* stats are the file's own */
	path_of(p, sizeof(p), "a/b/c");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(scan.stats[1].ino, st.st_ino);
	assert_int_equal(scan.stats[1].dev, st.st_dev);
	assert_int_equal(scan.stats[1].nlink, 1);
	assert_int_equal(scan.stats[1].mtime_ns,
			 (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
	assert_int_equal(scan.stats[1].ctime_ns,
			 (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec);
	/* parents are implied, not listed */
	assert_int_equal(lk_scan_find(&scan, "a"), -1);
	assert_int_equal(lk_scan_find(&scan, "a/b"), -1);
	assert_int_equal(lk_scan_find(&scan, "nope"), -1);
	assert_int_equal(lk_scan_find(&scan, ""), -1);
	assert_int_equal(scan.n_excluded, 0);
	assert_int_equal(scan.n_skipped, 0);
	lk_scan_release(&scan);

	/* hard links show their link count; the walk is repeatable */
	put("h1", "hard", 0644);
	path_of(p, sizeof(p), "h1");
	{
		char q[PATH_MAX];

		path_of(q, sizeof(q), "h2");
		assert_int_equal(link(p, q), 0);
	}
	scan_ok(NULL, &scan);
	{
		long a = lk_scan_find(&scan, "h1"), b = lk_scan_find(&scan, "h2");

		assert_true(a >= 0 && b >= 0);
		assert_int_equal(scan.stats[a].nlink, 2);
		assert_int_equal(scan.stats[a].ino, scan.stats[b].ino);
	}
	lk_scan_release(&scan);
}

static void test_empty_root(void **state)
{
	struct lk_scan scan;

	scan_ok(NULL, &scan);
	assert_int_equal(scan.n_files, 0);
	assert_int_equal(scan.tree.n_files, 0);
	assert_int_equal(lk_scan_find(&scan, "x"), -1);
	lk_scan_release(&scan);
}

static void test_links(void **state)
{
	struct lk_scan scan;
	struct stat st;
	char p[PATH_MAX], t[PATH_MAX];

	put("lib/real.py", "real", 0644);
	put("lib/pkg/mod.py", "mod", 0644);
	ln("real.py", "lib/same-dir");			/* kept */
	ln("../lib/pkg", "bin/pkgdir");			/* kept, a dir: not descended */
	ln(".", "self");				/* kept: the root itself */
	ln("../../outside/o.txt", "lib/escape");	/* leaves the root: followed */
	ln("./../lib/./real.py", "lib/dots");		/* kept */
	snprintf(p, sizeof(p), "%s/o.txt", outside);
	put(p, "outside!", 0640);
	snprintf(p, sizeof(p), "%s/tree/d/deep.txt", outside);
	put(p, "deep", 0644);
	snprintf(t, sizeof(t), "%s/tree", outside);
	ln(t, "runfiles");				/* absolute, a dir outside: descended */
	path_of(t, sizeof(t), "lib/real.py");
	ln(t, "abs-inside");				/* absolute: followed even inside */
	scan_ok(NULL, &scan);
	{
		static const struct want w[] = {
			{ LK_FILE_REGULAR, "abs-inside", NULL, 4 },
			{ LK_FILE_SYMLINK, "bin/pkgdir", "../lib/pkg", 0 },
			{ LK_FILE_SYMLINK, "lib/dots", "./../lib/./real.py", 0 },
			{ LK_FILE_REGULAR, "lib/escape", NULL, 8 },
			{ LK_FILE_REGULAR, "lib/pkg/mod.py", NULL, 3 },
			{ LK_FILE_REGULAR, "lib/real.py", NULL, 4 },
			{ LK_FILE_SYMLINK, "lib/same-dir", "real.py", 0 },
			{ LK_FILE_REGULAR, "runfiles/d/deep.txt", NULL, 4 },
			{ LK_FILE_SYMLINK, "self", ".", 0 },
		};

		expect_files(&scan, w, sizeof(w) / sizeof(w[0]));
	}
	/* a followed link carries its target's mode and stamps */
	snprintf(p, sizeof(p), "%s/o.txt", outside);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(scan.files[3].mode, 0640);
	assert_int_equal(scan.stats[3].ino, st.st_ino);
	assert_int_equal(scan.total_bytes, 4 + 8 + 3 + 4 + 4);
	lk_scan_release(&scan);
}

static void test_relative_link_escaping_via_followed_dir(void **state)
{
	struct lk_scan scan;
	char t[PATH_MAX];

	/* Inside a followed directory, a relative link is judged by where it
	 * lands in the image: "../x" from runfiles/ is root/x. */
	put("x", "x", 0644);
	snprintf(t, sizeof(t), "%s/dir", outside);
	mkdir_p(t);
	snprintf(t, sizeof(t), "%s/dir/up", outside);
	assert_int_equal(symlink("../x", t), 0);
	snprintf(t, sizeof(t), "%s/dir/far", outside);
	assert_int_equal(symlink("../../../../../../../../etc/hostname", t), 0);
	snprintf(t, sizeof(t), "%s/dir", outside);
	ln(t, "runfiles");
	scan_ok(NULL, &scan);
	{
		static const struct want w[] = {
			{ LK_FILE_REGULAR, "runfiles/far", NULL, 0 },
			{ LK_FILE_SYMLINK, "runfiles/up", "../x", 0 },
			{ LK_FILE_REGULAR, "x", NULL, 1 },
		};
		struct stat st;

		assert_int_equal(stat("/etc/hostname", &st), 0);
		assert_int_equal(scan.n_files, 3);
		assert_string_equal(scan.files[0].path, w[0].path);
		assert_int_equal(scan.files[0].type, LK_FILE_REGULAR);
		assert_int_equal(scan.files[0].size, (uint64_t)st.st_size);
		assert_string_equal(scan.files[1].link_target, "../x");
		assert_int_equal(scan.files[1].type, LK_FILE_SYMLINK);
		assert_string_equal(scan.files[2].path, "x");
	}
	lk_scan_release(&scan);
}

static void test_loops(void **state)
{
	struct lk_scan scan;
	struct lk_scan_opts skip = { .bad_links = LK_BAD_LINK_SKIP };

	put("a/file", "f", 0644);
	ln(root, "a/to-root");				/* absolute link to an ancestor */
	scan_fails(NULL, LK_EXIT_BUILD, "a/to-root: symlink loop: points to a directory "
		   "that contains it");
	scan_fails(NULL, LK_EXIT_BUILD, "or set bad_links = skip");
	scan_ok(&skip, &scan);
	assert_int_equal(scan.n_files, 1);
	assert_string_equal(scan.files[0].path, "a/file");
	assert_int_equal(scan.n_skipped, 1);
	assert_string_equal(scan.skipped[0], "a/to-root");
	lk_scan_release(&scan);

	/* two links pointing at each other */
	{
		char p[PATH_MAX];

		path_of(p, sizeof(p), "a/to-root");
		assert_int_equal(unlink(p), 0);
	}
	ln("l2", "l1");
	ln("l1", "l2");
	scan_fails(NULL, LK_EXIT_BUILD, "l1: symlink loop (-> l2)");
	scan_ok(&skip, &scan);
	assert_int_equal(scan.n_files, 1);
	assert_int_equal(scan.n_skipped, 2);
	assert_true(has_string(scan.skipped, scan.n_skipped, "l1"));
	assert_true(has_string(scan.skipped, scan.n_skipped, "l2"));
	lk_scan_release(&scan);

	/* a relative link to a parent is kept as a link: no loop */
	rm_rf(root);
	mkdir_p("");
	put("b/file", "f", 0644);
	ln("..", "b/up");
	scan_ok(NULL, &scan);
	assert_int_equal(scan.n_files, 2);
	assert_int_equal(scan.files[1].type, LK_FILE_SYMLINK);
	lk_scan_release(&scan);
}

static void test_dangling(void **state)
{
	struct lk_scan scan;
	struct lk_scan_opts skip = { .bad_links = LK_BAD_LINK_SKIP };

	put("ok", "ok", 0644);
	ln("missing", "d/rel");
	scan_fails(NULL, LK_EXIT_BUILD, "/d/rel: dangling symlink (-> missing); fix or "
		   "remove the link, exclude it (exclude = d/rel), or set bad_links = skip");
	ln("/nonexistent/path", "d/abs");
	ln("../ok/below", "d/notdir");		/* through a file: ENOTDIR */
	scan_ok(&skip, &scan);
	/* d held only skipped links: it stays, as an empty directory */
	assert_int_equal(scan.n_files, 2);
	assert_string_equal(scan.files[0].path, "d");
	assert_int_equal(scan.files[0].type, LK_FILE_DIR);
	assert_string_equal(scan.files[1].path, "ok");
	assert_int_equal(scan.n_skipped, 3);
	assert_string_equal(scan.skipped[0], "d/abs");
	assert_string_equal(scan.skipped[1], "d/notdir");
	assert_string_equal(scan.skipped[2], "d/rel");
	lk_scan_release(&scan);
}

static void test_special_files(void **state)
{
	struct lk_scan scan;
	struct lk_scan_opts refuse = { .special_files = LK_SPECIAL_ERROR };
	char p[PATH_MAX];

	put("f", "f", 0644);
	path_of(p, sizeof(p), "pipe");
	assert_int_equal(mkfifo(p, 0644), 0);
	snprintf(p, sizeof(p), "%s/fifo", outside);
	assert_int_equal(mkfifo(p, 0644), 0);
	ln(p, "to-fifo");
	/* skipped by default, with the paths recorded; never opened (an open
	 * would block this test forever) */
	scan_ok(NULL, &scan);
	assert_int_equal(scan.n_files, 1);
	assert_int_equal(scan.n_skipped, 2);
	assert_string_equal(scan.skipped[0], "pipe");
	assert_string_equal(scan.skipped[1], "to-fifo");
	lk_scan_release(&scan);
	scan_fails(&refuse, LK_EXIT_BUILD, "/pipe: is a FIFO, which cannot go into an image; "
		   "remove it, exclude it (exclude = pipe), or set special_files = skip");
	path_of(p, sizeof(p), "pipe");
	unlink(p);
	scan_fails(&refuse, LK_EXIT_BUILD, "/to-fifo: is a FIFO");
}

static void test_excludes(void **state)
{
	struct lk_scan scan;
	static const char *const pats[] = {
		".git/", "*.pyc", "build/out", "docs/*.md", "/top.txt", "cache/", "",
	};
	struct lk_scan_opts opts = { .excludes = pats, .n_excludes = 7 };

	put(".git/HEAD", "ref", 0644);
	put(".git/objects/ab/cd", "obj", 0644);
	put("sub/.git/config", "c", 0644);
	put("sub/.gitignore", "x", 0644);
	put("a.pyc", "b", 0644);
	put("pkg/__pycache__/m.pyc", "b", 0644);
	put("pkg/m.py", "m", 0644);
	put("build/out/x", "x", 0644);
	put("build/keep", "k", 0644);
	put("docs/a.md", "a", 0644);
	put("docs/sub/b.md", "b", 0644);
	put("top.txt", "t", 0644);
	put("sub/top.txt", "t", 0644);
	put("cache", "a file, not a dir", 0644);
	put("sub/cache/x", "x", 0644);
	scan_ok(&opts, &scan);
	{
		static const struct want w[] = {
			{ LK_FILE_REGULAR, "build/keep", NULL, 1 },
			{ LK_FILE_REGULAR, "cache", NULL, 17 },
			{ LK_FILE_REGULAR, "docs/sub/b.md", NULL, 1 },
			/* everything inside was excluded: kept as an empty dir */
			{ LK_FILE_DIR, "pkg/__pycache__", NULL, 0 },
			{ LK_FILE_REGULAR, "pkg/m.py", NULL, 1 },
			{ LK_FILE_REGULAR, "sub/.gitignore", NULL, 1 },
			{ LK_FILE_REGULAR, "sub/top.txt", NULL, 1 },
		};

		expect_files(&scan, w, sizeof(w) / sizeof(w[0]));
	}
	/* a directory is recorded once, not its contents */
	assert_int_equal(scan.n_excluded, 8);
	assert_true(has_string(scan.excluded, scan.n_excluded, ".git"));
	assert_true(has_string(scan.excluded, scan.n_excluded, "sub/.git"));
	assert_true(has_string(scan.excluded, scan.n_excluded, "a.pyc"));
	assert_true(has_string(scan.excluded, scan.n_excluded, "pkg/__pycache__/m.pyc"));
	assert_true(has_string(scan.excluded, scan.n_excluded, "build/out"));
	assert_true(has_string(scan.excluded, scan.n_excluded, "docs/a.md"));
	assert_true(has_string(scan.excluded, scan.n_excluded, "top.txt"));
	assert_true(has_string(scan.excluded, scan.n_excluded, "sub/cache"));
	assert_false(has_string(scan.excluded, scan.n_excluded, ".git/HEAD"));
	lk_scan_release(&scan);

	/* an excluded dangling link or loop is no error */
	{
		static const char *const p2[] = { "bad*" };
		struct lk_scan_opts o2 = { .excludes = p2, .n_excludes = 1 };

		ln("nowhere", "bad-link");
		ln(root, "bad-loop");
		scan_ok(&o2, &scan);
		assert_int_equal(scan.n_excluded, 2);
		lk_scan_release(&scan);
	}
}

static void test_top_entries(void **state)
{
	struct lk_scan scan;
	static const char *const top[] = { "app.runfiles", "app", "app" };
	struct lk_scan_opts opts = { .top_entries = top, .n_top_entries = 3 };
	static const char *const missing[] = { "app", "gone" };
	struct lk_scan_opts bad = { .top_entries = missing, .n_top_entries = 2 };
	static const char *const nested[] = { "a/b" };
	struct lk_scan_opts bad2 = { .top_entries = nested, .n_top_entries = 1 };

	put("app", "#!launcher", 0755);
	put("app.runfiles/_main/main.py", "py", 0644);
	put("app.runfiles/MANIFEST", "m", 0644);
	put("other/ignored", "x", 0644);
	put("zzz", "x", 0644);
	scan_ok(&opts, &scan);
	{
		static const struct want w[] = {
			{ LK_FILE_REGULAR, "app", NULL, 10 },
			{ LK_FILE_REGULAR, "app.runfiles/MANIFEST", NULL, 1 },
			{ LK_FILE_REGULAR, "app.runfiles/_main/main.py", NULL, 2 },
		};

		expect_files(&scan, w, sizeof(w) / sizeof(w[0]));
	}
	lk_scan_release(&scan);
	scan_fails(&bad, LK_EXIT_USAGE, "/gone: not found (the discovery asked for this "
		   "top-level entry)");
	scan_fails(&bad2, LK_EXIT_BUILD, "top-level entry 'a/b' is not a plain name");
}

static void test_odd_names(void **state)
{
	struct lk_scan scan;
	char longdir[161], longfile[151], rel[400];
	long i;
	int fd;
	char buf[8];

	memset(longdir, 'd', 160);
	longdir[160] = '\0';
	memset(longfile, 'f', 150);
	longfile[150] = '\0';
	snprintf(rel, sizeof(rel), "%s/%s", longdir, longfile);
	put(rel, "long", 0644);
	put("new\nline", "nl", 0644);
	put("latin1-\xe9\xff", "bytes", 0644);
	put("sp ace", "s", 0644);
	scan_ok(NULL, &scan);
	assert_int_equal(scan.n_files, 4);
	assert_true(strlen(scan.files[0].path) + strlen(scan.files[1].path) +
		    strlen(scan.files[2].path) + strlen(scan.files[3].path) > 311);
	i = lk_scan_find(&scan, rel);
	assert_true(i >= 0);
	assert_int_equal(strlen(scan.files[i].path), 311);
	/* each opens by its path */
	for (size_t k = 0; k < scan.n_files; k++) {
		fd = lk_scan_open(&scan, (uint32_t)k);
		assert_true(fd >= 0);
		assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t)scan.files[k].size);
		close(fd);
	}
	assert_true(lk_scan_find(&scan, "new\nline") >= 0);
	assert_true(lk_scan_find(&scan, "latin1-\xe9\xff") >= 0);
	lk_scan_release(&scan);
}

static void test_path_too_long(void **state)
{
	struct lk_scan scan;
	char name[201];
	int fd, next;

	/* 21 levels of 200 characters: longer than PATH_MAX, reachable only
	 * with openat */
	memset(name, 'n', 200);
	name[200] = '\0';
	fd = open(root, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	for (int i = 0; i < 21; i++) {
		assert_int_equal(mkdirat(fd, name, 0755), 0);
		next = openat(fd, name, O_RDONLY | O_DIRECTORY);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	next = openat(fd, "f", O_WRONLY | O_CREAT, 0644);
	assert_true(next >= 0);
	close(next);
	close(fd);
	scan_fails(NULL, LK_EXIT_BUILD, "path too long");
	scan_fails(NULL, LK_EXIT_BUILD, "shorten the directory names or exclude the directory");
	(void)scan;
}

static void test_many_files(void **state)
{
	struct lk_scan scan;
	char name[32];
	int dfd;

	mkdir_p("big");
	{
		char p[PATH_MAX];

		path_of(p, sizeof(p), "big");
		dfd = open(p, O_RDONLY | O_DIRECTORY);
		assert_true(dfd >= 0);
	}
	/* created in an order unlike the sorted one */
	for (int i = 19999; i >= 0; i--) {
		int fd;

		snprintf(name, sizeof(name), "f%d", (i * 7919) % 20000);
		fd = openat(dfd, name, O_WRONLY | O_CREAT, 0644);
		assert_true(fd >= 0);
		close(fd);
	}
	close(dfd);
	put("big.txt", "after", 0644);
	scan_ok(NULL, &scan);
	assert_int_equal(scan.n_files, 20001);
	for (size_t i = 1; i < scan.n_files; i++)
		assert_true(lk_path_cmp(scan.files[i - 1].path, scan.files[i].path) < 0);
	assert_string_equal(scan.files[0].path, "big/f0");
	assert_string_equal(scan.files[1].path, "big/f1");
	assert_string_equal(scan.files[2].path, "big/f10");
	assert_string_equal(scan.files[20000].path, "big.txt");
	for (int i = 0; i < 20000; i += 997) {
		snprintf(name, sizeof(name), "big/f%d", i);
		assert_true(lk_scan_find(&scan, name) >= 0);
	}
	assert_int_equal(lk_scan_find(&scan, "big/f20000"), -1);
	lk_scan_release(&scan);
}

static void test_bad_roots(void **state)
{
	struct lk_scan scan;
	struct lk_error err;
	char p[PATH_MAX], want[PATH_MAX + 100];

	snprintf(p, sizeof(p), "%s/missing", base);
	assert_int_equal(lk_scan_tree(p, &no_opts, &scan, &err), LK_FAILED);
	snprintf(want, sizeof(want), "%s: no such directory; check the root you named", p);
	assert_non_null(strstr(err.msg, want));
	assert_int_equal(err.exit_code, LK_EXIT_USAGE);

	put("file", "x", 0644);
	path_of(p, sizeof(p), "file");
	assert_int_equal(lk_scan_tree(p, &no_opts, &scan, &err), LK_FAILED);
	snprintf(want, sizeof(want), "%s: the root is not a directory", p);
	assert_non_null(strstr(err.msg, want));
	assert_int_equal(err.exit_code, LK_EXIT_USAGE);

	path_of(p, sizeof(p), "file/below");
	assert_int_equal(lk_scan_tree(p, &no_opts, &scan, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "is not a directory"));

	/* a root given through a link (bazel-bin style) is resolved */
	snprintf(p, sizeof(p), "%s/link-to-root", base);
	assert_int_equal(symlink(root, p), 0);
	assert_int_equal(lk_scan_tree(p, NULL, &scan, &err), LK_OK);
	assert_string_equal(scan.root, root);
	assert_int_equal(scan.n_files, 1);
	lk_scan_release(&scan);
}

/* Unreadable entries, as an unprivileged user (root reads everything). */
static void test_unreadable(void **state)
{
	pid_t pid;
	int status;

	put("ok", "ok", 0644);
	put("secret/file", "s", 0644);
	assert_int_equal(chmod(base, 0755), 0);
	{
		char p[PATH_MAX];

		path_of(p, sizeof(p), "secret");
		assert_int_equal(chmod(p, 0000), 0);
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct lk_scan scan;
		struct lk_error err;
		int ok;

		if (getuid() == 0 && (setgid(65534) || setuid(65534)))
			_exit(3);
		ok = lk_scan_tree(root, &no_opts, &scan, &err) == LK_FAILED &&
		     strstr(err.msg, "/secret: cannot read directory: Permission denied; "
			    "make it readable or exclude it (exclude = secret/)");
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	{
		char p[PATH_MAX];

		path_of(p, sizeof(p), "secret");
		assert_int_equal(chmod(p, 0755), 0);
		path_of(p, sizeof(p), "secret/file");
		assert_int_equal(chmod(p, 0600), 0);
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct lk_scan scan;
		struct lk_error err;
		int ok;

		if (getuid() == 0 && (setgid(65534) || setuid(65534)))
			_exit(3);
		ok = lk_scan_tree(root, &no_opts, &scan, &err) == LK_FAILED &&
		     strstr(err.msg, "/secret/file: cannot read file: Permission denied; "
			    "make it readable or exclude it (exclude = secret/file)");
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_open(void **state)
{
	struct lk_scan scan;
	char p[PATH_MAX], t[PATH_MAX], buf[16];
	long i;
	int fd;

	put("data", "payload", 0644);
	put("lib/x", "x", 0644);
	ln("lib/x", "kept");
	mkdir_p("empty");
	snprintf(t, sizeof(t), "%s/dir", outside);
	mkdir_p(t);
	snprintf(p, sizeof(p), "%s/dir/inner", outside);
	put(p, "inner", 0644);
	ln(t, "followed");
	put("becomes-fifo", "x", 0644);
	put("becomes-dir", "x", 0644);
	scan_ok(NULL, &scan);

	i = lk_scan_find(&scan, "data");
	fd = lk_scan_open(&scan, (uint32_t)i);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 7);
	assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);
	/* through a followed directory link */
	i = lk_scan_find(&scan, "followed/inner");
	assert_true(i >= 0);
	fd = lk_scan_open(&scan, (uint32_t)i);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 5);
	close(fd);
	/* refusals */
	errno = 0;
	assert_int_equal(lk_scan_open(&scan, (uint32_t)lk_scan_find(&scan, "kept")), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(lk_scan_open(&scan, (uint32_t)lk_scan_find(&scan, "empty")), -1);
	assert_int_equal(errno, EISDIR);
	assert_int_equal(lk_scan_open(&scan, (uint32_t)scan.n_files), -1);
	assert_int_equal(errno, EINVAL);
	/* replaced since the scan: a FIFO is refused without blocking */
	path_of(p, sizeof(p), "becomes-fifo");
	unlink(p);
	assert_int_equal(mkfifo(p, 0644), 0);
	assert_int_equal(lk_scan_open(&scan, (uint32_t)lk_scan_find(&scan, "becomes-fifo")), -1);
	assert_int_equal(errno, EINVAL);
	path_of(p, sizeof(p), "becomes-dir");
	unlink(p);
	mkdir_p(p);
	assert_int_equal(lk_scan_open(&scan, (uint32_t)lk_scan_find(&scan, "becomes-dir")), -1);
	assert_int_equal(errno, EISDIR);
	path_of(p, sizeof(p), "data");
	unlink(p);
	assert_int_equal(lk_scan_open(&scan, (uint32_t)lk_scan_find(&scan, "data")), -1);
	assert_int_equal(errno, ENOENT);
	lk_scan_release(&scan);
	/* a released scan opens nothing */
	assert_int_equal(lk_scan_open(&scan, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_order_and_empty_dirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_links, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_link_escaping_via_followed_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dangling, setup, teardown),
		cmocka_unit_test_setup_teardown(test_special_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_excludes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_top_entries, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_too_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_roots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open, setup, teardown),
	};

	return cmocka_run_group_tests_name("scan", tests, NULL, NULL);
}
