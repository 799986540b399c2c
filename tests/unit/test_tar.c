/* test_tar.c - layer tar: normalisation, entry order, names, links; read back with libarchive. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <locale.h>

#include "tar.h"
#include "tree_fixture.h"

/* ---- the tar in memory, and read back ---- */

struct membuf {
	unsigned char *data;
	size_t len, cap;
	size_t max_chunk;	/* largest chunk the sink got */
	size_t fail_after;	/* fail once this many bytes arrived (0 = never) */
};

static int mem_sink(void *opaque, const void *data, size_t len, struct lk_error *err)
{
	struct membuf *m = opaque;

	if (m->fail_after && m->len + len > m->fail_after)
		return lk_error_set(err, LK_EXIT_BUILD, "test sink: disk full");
	lk_grow((void **)&m->data, &m->cap, m->len + len, 1);
	memcpy(m->data + m->len, data, len);
	m->len += len;
	if (len > m->max_chunk)
		m->max_chunk = len;
	return LK_OK;
}

struct read_entry {
	char *name;		/* as stored, trailing '/' of directories removed */
	unsigned type;		/* AE_IF* */
	unsigned perm;
	int64_t uid, gid, mtime;
	int has_mtime_ns;
	char *uname, *gname;
	char *symlink, *hardlink;
	unsigned char *data;
	size_t size;
};

struct read_tar {
	struct read_entry *e;
	size_t n, cap;
};

static void read_tar(const struct membuf *m, struct read_tar *out)
{
	struct archive *a = archive_read_new();
	struct archive_entry *entry;

	memset(out, 0, sizeof(*out));
	assert_int_equal(archive_read_support_format_tar(a), ARCHIVE_OK);
	assert_int_equal(archive_read_open_memory(a, m->data, m->len), ARCHIVE_OK);
	/* ARCHIVE_WARN: a UTF-8 name that the test's "C" locale cannot show;
	 * its UTF-8 form is read instead. */
	for (;;) {
		int r = archive_read_next_header(a, &entry);
		struct read_entry *e;
		const char *s;
		size_t len;

		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			break;
		lk_grow((void **)&out->e, &out->cap, out->n + 1, sizeof(*out->e));
		e = &out->e[out->n++];
		memset(e, 0, sizeof(*e));
		s = archive_entry_pathname(entry);
		e->name = lk_xstrdup(s ? s : archive_entry_pathname_utf8(entry));
		len = strlen(e->name);
		if (len > 1 && e->name[len - 1] == '/')
			e->name[len - 1] = '\0';
		e->type = archive_entry_filetype(entry);
		e->perm = archive_entry_perm(entry) & 07777;
		e->uid = archive_entry_uid(entry);
		e->gid = archive_entry_gid(entry);
		e->mtime = archive_entry_mtime(entry);
		e->has_mtime_ns = archive_entry_mtime_nsec(entry) != 0;
		s = archive_entry_uname(entry);
		e->uname = lk_xstrdup(s ? s : "");
		s = archive_entry_gname(entry);
		e->gname = lk_xstrdup(s ? s : "");
		s = archive_entry_symlink(entry);
		if (!s)
			s = archive_entry_symlink_utf8(entry);
		e->symlink = s ? lk_xstrdup(s) : NULL;
		s = archive_entry_hardlink(entry);
		e->hardlink = s ? lk_xstrdup(s) : NULL;
		e->size = (size_t)archive_entry_size(entry);
		e->data = lk_xmalloc(e->size + 1);
		if (e->size)
			assert_int_equal(archive_read_data(a, e->data, e->size), (la_ssize_t)e->size);
	}
	assert_int_equal(archive_read_free(a), ARCHIVE_OK);
}

static void read_tar_release(struct read_tar *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->e[i].name);
		free(r->e[i].uname);
		free(r->e[i].gname);
		free(r->e[i].symlink);
		free(r->e[i].hardlink);
		free(r->e[i].data);
	}
	free(r->e);
}

static const struct read_entry *find_entry(const struct read_tar *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (!strcmp(r->e[i].name, name))
			return &r->e[i];
	return NULL;
}

static int write_tar(struct tree_fixture *t, const uint32_t *files, size_t n,
		     const char *prefix, int64_t mtime, int keep_setuid, struct membuf *m,
		     struct lk_error *err)
{
	struct lk_tar_opts opts = { .mtime = mtime, .prefix = prefix, .keep_setuid = keep_setuid };

	lk_error_clear(err);
	return lk_tar_write(&t->scan, files, n, &opts, mem_sink, m, err);
}

/* ---- helpers ---- */

static void test_mode(void **state)
{
	assert_int_equal(lk_tar_mode(LK_FILE_REGULAR, 0600, 0), 0644);
	assert_int_equal(lk_tar_mode(LK_FILE_REGULAR, 0444, 0), 0644);
	assert_int_equal(lk_tar_mode(LK_FILE_REGULAR, 0700, 0), 0755);
	assert_int_equal(lk_tar_mode(LK_FILE_REGULAR, 0610, 0), 0755);	/* any x bit */
	assert_int_equal(lk_tar_mode(LK_FILE_REGULAR, 0601, 0), 0755);
	assert_int_equal(lk_tar_mode(LK_FILE_REGULAR, 04755, 0), 0755);
	assert_int_equal(lk_tar_mode(LK_FILE_REGULAR, 04755, 1), 04755);
	assert_int_equal(lk_tar_mode(LK_FILE_REGULAR, 02644, 1), 02644);
	assert_int_equal(lk_tar_mode(LK_FILE_DIR, 0700, 0), 0755);
	assert_int_equal(lk_tar_mode(LK_FILE_DIR, 01777, 0), 0755);
	assert_int_equal(lk_tar_mode(LK_FILE_DIR, 01777, 1), 01755);
	assert_int_equal(lk_tar_mode(LK_FILE_SYMLINK, 0700, 1), 0777);
}

static void expect_name(const char *prefix, const char *path, const char *want)
{
	char *got = lk_tar_entry_name(prefix, path);

	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_entry_name(void **state)
{
	expect_name("", "a", "a");
	expect_name("", "a/b.py", "a/b.py");
	expect_name("app", "a/b.py", "app/a/b.py");
	expect_name("a/b", "x", "a/b/x");
	expect_name("", "..a/b..", "..a/b..");		/* dots inside names are fine */
	expect_name("", "", NULL);
	expect_name("", "/etc/passwd", NULL);
	expect_name("", "../x", NULL);
	expect_name("", "a/../../x", NULL);
	expect_name("", "a/./b", NULL);
	expect_name("", "a//b", NULL);
	expect_name("", "a/", NULL);
	expect_name("", ".", NULL);
	expect_name("..", "x", NULL);
	expect_name("/app", "x", NULL);
}

static void test_link_inside(void **state)
{
	assert_int_equal(lk_tar_link_inside("a/l", "../b"), 0);
	assert_int_equal(lk_tar_link_inside("a/b/l", "../../x"), 0);
	assert_int_equal(lk_tar_link_inside("l", "x/y"), 0);
	assert_int_equal(lk_tar_link_inside("l", "./x"), 0);
	assert_int_equal(lk_tar_link_inside("a/l", "x/../../b"), 0);
	assert_int_equal(lk_tar_link_inside("l", "../x"), -1);
	assert_int_equal(lk_tar_link_inside("a/l", "../../x"), -1);
	assert_int_equal(lk_tar_link_inside("a/l", "x/../../../b"), -1);
	assert_int_equal(lk_tar_link_inside("a/l", "/etc/passwd"), -1);
	assert_int_equal(lk_tar_link_inside("a/l", ""), -1);
}

/* ---- whole tars ---- */

/* A small tree exercising every kind of entry. */
static void sample_tree(struct tree_fixture *t)
{
	tree_init(t);
	tree_text(t, "a.txt", "alpha\n", 0600);
	tree_text(t, "sub/run.sh", "#!/bin/sh\necho hi\n", 0700);
	tree_text(t, "sub/deep/x.py", "print(1)\n", 0640);
	tree_symlink(t, "sub/link", "../a.txt");
	tree_mkdirs(t, "empty");
	tree_text(t, "z/y/file", "", 0644);
	tree_scan(t);
}

/* Every name once; every parent emitted, once, before its children. */
static void assert_well_formed(const struct read_tar *r, const char *prefix)
{
	for (size_t i = 0; i < r->n; i++) {
		const char *name = r->e[i].name;
		char parent[PATH_MAX];
		const char *slash = strrchr(name, '/');

		assert_true(name[0] != '/' && strncmp(name, "./", 2) != 0);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(r->e[j].name, name);
		if (*prefix) {
			size_t n = strlen(name) < strlen(prefix) ? strlen(name) : strlen(prefix);

			assert_true(!strncmp(name, prefix, n));	/* a prefix dir, or under it */
		}
		if (!slash)
			continue;
		memcpy(parent, name, (size_t)(slash - name));
		parent[slash - name] = '\0';
		{
			int found = 0;

			for (size_t j = 0; j < i; j++)
				if (!strcmp(r->e[j].name, parent) && r->e[j].type == AE_IFDIR)
					found = 1;
			assert_true(found);
		}
	}
}

static void check_order(const char *prefix, const char *const *want, size_t n_want)
{
	struct tree_fixture t;
	struct membuf m = { 0 };
	struct read_tar r;
	struct lk_error err;
	uint32_t *all;

	sample_tree(&t);
	all = tree_all(&t);
	assert_int_equal(write_tar(&t, all, t.scan.n_files, prefix, 1700000000, 0, &m, &err), LK_OK);
	read_tar(&m, &r);
	assert_int_equal(r.n, n_want);
	for (size_t i = 0; i < n_want; i++)
		assert_string_equal(r.e[i].name, want[i]);
	assert_well_formed(&r, prefix);
	for (size_t i = 0; i < r.n; i++) {
		const struct read_entry *e = &r.e[i];

		assert_int_equal(e->uid, 0);
		assert_int_equal(e->gid, 0);
		assert_string_equal(e->uname, "");
		assert_string_equal(e->gname, "");
		assert_int_equal(e->mtime, 1700000000);
		assert_false(e->has_mtime_ns);
	}
	read_tar_release(&r);
	free(m.data);
	free(all);
	tree_release(&t);
}

static void test_order_root(void **state)
{
	static const char *const want[] = {
		"a.txt", "empty", "sub", "sub/deep", "sub/deep/x.py", "sub/link",
		"sub/run.sh", "z", "z/y", "z/y/file",
	};
	check_order("", want, sizeof(want) / sizeof(want[0]));
}

static void test_order_prefix(void **state)
{
	static const char *const want[] = {
		"app", "app/a.txt", "app/empty", "app/sub", "app/sub/deep", "app/sub/deep/x.py",
		"app/sub/link", "app/sub/run.sh", "app/z", "app/z/y", "app/z/y/file",
	};
	check_order("app", want, sizeof(want) / sizeof(want[0]));
}

static void test_order_deep_prefix(void **state)
{
	static const char *const want[] = {
		"a", "a/b", "a/b/a.txt", "a/b/empty", "a/b/sub", "a/b/sub/deep",
		"a/b/sub/deep/x.py", "a/b/sub/link", "a/b/sub/run.sh", "a/b/z", "a/b/z/y",
		"a/b/z/y/file",
	};
	check_order("a/b", want, sizeof(want) / sizeof(want[0]));
}

static void test_metadata_and_content(void **state)
{
	struct tree_fixture t;
	struct membuf m = { 0 };
	struct read_tar r;
	struct lk_error err;
	const struct read_entry *e;
	uint32_t *all;

	sample_tree(&t);
	all = tree_all(&t);
	assert_int_equal(write_tar(&t, all, t.scan.n_files, "app", 0, 0, &m, &err), LK_OK);
	read_tar(&m, &r);

	e = find_entry(&r, "app");
	assert_int_equal(e->type, AE_IFDIR);
	assert_int_equal(e->perm, 0755);
	e = find_entry(&r, "app/empty");
	assert_int_equal(e->type, AE_IFDIR);
	assert_int_equal(e->perm, 0755);
	e = find_entry(&r, "app/a.txt");
	assert_int_equal(e->type, AE_IFREG);
	assert_int_equal(e->perm, 0644);
	assert_int_equal(e->size, 6);
	assert_memory_equal(e->data, "alpha\n", 6);
	e = find_entry(&r, "app/sub/run.sh");
	assert_int_equal(e->perm, 0755);
	assert_memory_equal(e->data, "#!/bin/sh\necho hi\n", e->size);
	e = find_entry(&r, "app/sub/deep/x.py");
	assert_int_equal(e->perm, 0644);
	e = find_entry(&r, "app/sub/link");
	assert_int_equal(e->type, AE_IFLNK);
	assert_int_equal(e->perm, 0777);
	assert_string_equal(e->symlink, "../a.txt");
	e = find_entry(&r, "app/z/y/file");
	assert_int_equal(e->size, 0);
	assert_int_equal(e->mtime, 0);

	/* Short ASCII names need no PAX record: one 512-byte header per
	 * entry, contents padded to 512, the two zero records, no padding
	 * beyond them. */
	{
		size_t want = 1024;

		for (size_t i = 0; i < r.n; i++)
			want += 512 + (r.e[i].size + 511) / 512 * 512;
		assert_int_equal(m.len, want);
	}
	read_tar_release(&r);
	free(m.data);
	free(all);
	tree_release(&t);
}

static void test_large_file_and_chunks(void **state)
{
	const size_t size = 3 * LK_TAR_BLOCK_SIZE + 12345;
	unsigned char *data = lk_xmalloc(size);
	struct tree_fixture t;
	struct membuf m = { 0 };
	struct read_tar r;
	struct lk_error err;
	const struct read_entry *e;
	uint32_t *all;
	uint32_t x = 12345;

	for (size_t i = 0; i < size; i++) {
		x = x * 1103515245 + 12345;
		data[i] = (unsigned char)(x >> 16);
	}
	tree_init(&t);
	tree_text(&t, "a", "small", 0644);
	tree_file(&t, "big.bin", data, size, 0644);
	tree_scan(&t);
	all = tree_all(&t);
	assert_int_equal(write_tar(&t, all, t.scan.n_files, "", 0, 0, &m, &err), LK_OK);
	/* The sink sees libarchive's big blocks, not 512-byte records. */
	assert_int_equal(m.max_chunk, LK_TAR_BLOCK_SIZE);
	read_tar(&m, &r);
	e = find_entry(&r, "big.bin");
	assert_non_null(e);
	assert_int_equal(e->size, size);
	assert_memory_equal(e->data, data, size);
	read_tar_release(&r);
	free(m.data);
	free(all);
	free(data);
	tree_release(&t);
}

static void test_long_and_non_utf8_names(void **state)
{
	char longdir[201], longname[201], longpath[512], l1[600];
	const char *bad = "bad\xff\xfe.txt";
	const char *utf8 = "caf\xc3\xa9.py";
	struct tree_fixture t;
	struct membuf m1 = { 0 }, m2 = { 0 };
	struct read_tar r;
	struct lk_error err;
	const struct read_entry *e;
	uint32_t *all;

	memset(longdir, 'd', 200);
	longdir[200] = '\0';
	memset(longname, 'n', 200);
	longname[200] = '\0';
	snprintf(longpath, sizeof(longpath), "%s/%s", longdir, longname);
	tree_init(&t);
	tree_text(&t, longpath, "long", 0644);
	tree_text(&t, bad, "bad", 0644);
	tree_text(&t, utf8, "utf8", 0644);
	tree_symlink(&t, "to-bad", bad);
	tree_scan(&t);
	all = tree_all(&t);
	assert_int_equal(write_tar(&t, all, t.scan.n_files, "app", 0, 0, &m1, &err), LK_OK);
	read_tar(&m1, &r);
	snprintf(l1, sizeof(l1), "app/%s", longpath);
	e = find_entry(&r, l1);
	assert_non_null(e);
	assert_memory_equal(e->data, "long", 4);
	snprintf(l1, sizeof(l1), "app/%s", bad);
	assert_non_null(find_entry(&r, l1));
	snprintf(l1, sizeof(l1), "app/%s", utf8);
	assert_non_null(find_entry(&r, l1));
	e = find_entry(&r, "app/to-bad");
	assert_string_equal(e->symlink, bad);
	assert_well_formed(&r, "app");
	read_tar_release(&r);
	/* Only the entries whose name or target is not UTF-8 are marked
	 * BINARY; the UTF-8 and long names are plain PAX path records. */
	{
		size_t marks = 0;

		for (size_t i = 0; i + 10 <= m1.len; i++)
			marks += !memcmp(m1.data + i, "hdrcharset", 10);
		assert_int_equal(marks, 2);
	}

	/* Names are stored as bytes: the locale does not change the tar. */
	if (setlocale(LC_ALL, "C.UTF-8")) {
		assert_int_equal(write_tar(&t, all, t.scan.n_files, "app", 0, 0, &m2, &err), LK_OK);
		assert_int_equal(m1.len, m2.len);
		assert_memory_equal(m1.data, m2.data, m1.len);
		setlocale(LC_ALL, "C");
	}
	free(m1.data);
	free(m2.data);
	free(all);
	tree_release(&t);
}

static void test_hard_links(void **state)
{
	struct tree_fixture t;
	struct membuf m = { 0 };
	struct read_tar r;
	struct lk_error err;
	const struct read_entry *e;
	uint32_t *all, only_second[1];

	tree_init(&t);
	tree_text(&t, "a/first", "shared content", 0755);
	tree_hardlink(&t, "b/second", "a/first");
	tree_hardlink(&t, "c", "a/first");
	tree_text(&t, "d", "other", 0644);
	tree_scan(&t);
	all = tree_all(&t);
	assert_int_equal(write_tar(&t, all, t.scan.n_files, "app", 0, 0, &m, &err), LK_OK);
	read_tar(&m, &r);
	e = find_entry(&r, "app/a/first");
	assert_int_equal(e->size, 14);
	assert_null(e->hardlink);
	e = find_entry(&r, "app/b/second");
	assert_string_equal(e->hardlink, "app/a/first");
	assert_int_equal(e->size, 0);
	e = find_entry(&r, "app/c");
	assert_string_equal(e->hardlink, "app/a/first");
	e = find_entry(&r, "app/d");
	assert_null(e->hardlink);
	assert_int_equal(e->size, 5);
	read_tar_release(&r);
	free(m.data);

	/* Alone in a layer, a link is an ordinary file. */
	memset(&m, 0, sizeof(m));
	only_second[0] = tree_index(&t, "b/second");
	assert_int_equal(write_tar(&t, only_second, 1, "", 0, 0, &m, &err), LK_OK);
	read_tar(&m, &r);
	assert_int_equal(r.n, 2);
	e = find_entry(&r, "b/second");
	assert_null(e->hardlink);
	assert_memory_equal(e->data, "shared content", 14);
	read_tar_release(&r);
	free(m.data);
	free(all);
	tree_release(&t);
}

static void test_setuid(void **state)
{
	struct tree_fixture t;
	struct membuf m = { 0 };
	struct read_tar r;
	struct lk_error err;
	uint32_t *all;

	tree_init(&t);
	tree_text(&t, "bin/su", "x", 0755);
	tree_mkdirs(&t, "tmp");
	tree_scan(&t);
	/* As the scan would report them (chmod +s needs no privilege, but be sure). */
	t.scan.files[tree_index(&t, "bin/su")].mode = 04755;
	t.scan.files[tree_index(&t, "tmp")].mode = 01777;
	all = tree_all(&t);

	assert_int_equal(write_tar(&t, all, t.scan.n_files, "", 0, 0, &m, &err), LK_OK);
	read_tar(&m, &r);
	assert_int_equal(find_entry(&r, "bin/su")->perm, 0755);
	assert_int_equal(find_entry(&r, "tmp")->perm, 0755);
	read_tar_release(&r);
	free(m.data);

	memset(&m, 0, sizeof(m));
	assert_int_equal(write_tar(&t, all, t.scan.n_files, "", 0, 1, &m, &err), LK_OK);
	read_tar(&m, &r);
	assert_int_equal(find_entry(&r, "bin/su")->perm, 04755);
	assert_int_equal(find_entry(&r, "tmp")->perm, 01755);
	read_tar_release(&r);
	free(m.data);
	free(all);
	tree_release(&t);
}

static void test_reproducible(void **state)
{
	struct tree_fixture t1, t2;
	struct membuf m1 = { 0 }, m2 = { 0 };
	struct lk_error err;
	uint32_t *all1, *all2;

	/* Same content, different place and file times. */
	sample_tree(&t1);
	sleep(1);
	sample_tree(&t2);
	all1 = tree_all(&t1);
	all2 = tree_all(&t2);
	assert_int_equal(write_tar(&t1, all1, t1.scan.n_files, "app", 42, 0, &m1, &err), LK_OK);
	assert_int_equal(write_tar(&t2, all2, t2.scan.n_files, "app", 42, 0, &m2, &err), LK_OK);
	assert_int_equal(m1.len, m2.len);
	assert_memory_equal(m1.data, m2.data, m1.len);
	free(m1.data);
	free(m2.data);
	free(all1);
	free(all2);
	tree_release(&t1);
	tree_release(&t2);
}

/* Entries named by the caller (the shared store), with added links. */
static void test_entries(void **state)
{
	struct tree_fixture t;
	struct membuf m = { 0 };
	struct read_tar r;
	struct lk_error err;
	struct lk_tar_opts opts = { .mtime = 7, .prefix = "ignored" };
	const struct read_entry *e;
	uint32_t a, b, c;

	tree_init(&t);
	tree_text(&t, "pkg/x.py", "x = 1\n", 0644);
	tree_hardlink(&t, "pkg/y.py", "pkg/x.py");
	tree_text(&t, "run", "#!/bin/sh\n", 0755);
	tree_scan(&t);
	a = tree_index(&t, "pkg/x.py");
	b = tree_index(&t, "pkg/y.py");
	c = tree_index(&t, "run");
	{
		const struct lk_tar_entry entries[] = {
			{ "app/pkg", LK_TAR_LINK, "../store/pkg-1.0" },
			{ "app/run", c, NULL },
			{ "store/pkg-1.0/x.py", a, NULL },
			{ "store/pkg-1.0/y.py", b, NULL },
		};

		lk_error_clear(&err);
		assert_int_equal(lk_tar_write_entries(&t.scan, entries, 4, &opts, mem_sink, &m, &err), LK_OK);
	}
	read_tar(&m, &r);
	assert_well_formed(&r, "");
	assert_null(find_entry(&r, "ignored"));
	e = find_entry(&r, "app/pkg");
	assert_int_equal(e->type, AE_IFLNK);
	assert_string_equal(e->symlink, "../store/pkg-1.0");
	assert_int_equal(find_entry(&r, "app/run")->perm, 0755);
	assert_int_equal(find_entry(&r, "store")->type, AE_IFDIR);
	assert_memory_equal(find_entry(&r, "store/pkg-1.0/x.py")->data, "x = 1\n", 6);
	/* Hard links are found among the entries, under the entries' names. */
	assert_string_equal(find_entry(&r, "store/pkg-1.0/y.py")->hardlink, "store/pkg-1.0/x.py");
	assert_int_equal(find_entry(&r, "store/pkg-1.0/x.py")->mtime, 7);
	read_tar_release(&r);

	/* Unsorted, unclean, or escaping entries are refused. */
	{
		const struct lk_tar_entry unsorted[] = { { "b", a, NULL }, { "a", c, NULL } };
		const struct lk_tar_entry unclean[] = { { "../x", a, NULL } };
		const struct lk_tar_entry escaping[] = { { "app/l", LK_TAR_LINK, "../../etc" } };
		const struct lk_tar_entry unknown[] = { { "a", 9999, NULL } };

		m.len = 0;
		assert_int_equal(lk_tar_write_entries(&t.scan, unsorted, 2, &opts, mem_sink, &m, &err), LK_FAILED);
		assert_int_equal(lk_tar_write_entries(&t.scan, unclean, 1, &opts, mem_sink, &m, &err), LK_FAILED);
		assert_non_null(strstr(err.msg, "../x"));
		assert_int_equal(lk_tar_write_entries(&t.scan, escaping, 1, &opts, mem_sink, &m, &err), LK_FAILED);
		assert_non_null(strstr(err.msg, "app/l"));
		assert_int_equal(lk_tar_write_entries(&t.scan, unknown, 1, &opts, mem_sink, &m, &err), LK_FAILED);
	}
	free(m.data);
	tree_release(&t);
}

/* Keeps the head of the stream and counts the rest (for huge files). */
struct head_sink {
	unsigned char head[65536];
	uint64_t total;
};

static int head_sink(void *opaque, const void *data, size_t len, struct lk_error *err)
{
	struct head_sink *h = opaque;

	if (h->total < sizeof(h->head)) {
		size_t n = sizeof(h->head) - h->total < len ? sizeof(h->head) - h->total : len;

		memcpy(h->head + h->total, data, n);
	}
	h->total += len;
	return LK_OK;
}

/* A file over 8 GiB (ustar's size field limit) gets a PAX size record. */
static void test_huge_sparse_file(void **state)
{
	const uint64_t size = (8ULL << 30) + 1;
	struct head_sink *h = lk_xcalloc(1, sizeof(*h));
	struct lk_tar_opts opts = { .mtime = 0, .prefix = "" };
	struct archive_entry *entry;
	struct tree_fixture t;
	struct lk_error err;
	struct archive *a;
	uint32_t first = 0;
	int fd;

	/* Reading 8 GiB of holes takes 0.6 s on tmpfs, ten times that on disk. */
	if (access("/dev/shm", W_OK) != 0) {
		free(h);
		skip();
	}
	tree_init_in(&t, "/dev/shm");
	tree_text(&t, "huge", "", 0644);
	fd = open(tree_path(&t, "huge"), O_WRONLY);
	assert_true(fd >= 0);
	if (ftruncate(fd, (off_t)size) != 0) {
		close(fd);
		tree_release(&t);
		free(h);
		skip();
	}
	close(fd);
	tree_scan(&t);
	assert_int_equal(lk_tar_write(&t.scan, &first, 1, &opts, head_sink, h, &err), LK_OK);
	/* Header(s), the content padded to 512, two zero records. */
	assert_true(h->total >= size + 1024);
	assert_true(h->total < size + 8192);
	a = archive_read_new();
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_memory(a, h->head, sizeof(h->head)), ARCHIVE_OK);
	assert_int_equal(archive_read_next_header(a, &entry), ARCHIVE_OK);
	assert_string_equal(archive_entry_pathname(entry), "huge");
	assert_int_equal(archive_entry_size(entry), (la_int64_t)size);
	archive_read_free(a);
	tree_release(&t);
	free(h);
}

/* ---- failures ---- */

static void test_file_changed_size(void **state)
{
	struct tree_fixture t;
	struct membuf m = { 0 };
	struct lk_error err;
	uint32_t *all;

	sample_tree(&t);
	all = tree_all(&t);

	tree_text(&t, "a.txt", "alpha grew\n", 0644);
	assert_int_equal(write_tar(&t, all, t.scan.n_files, "", 0, 0, &m, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "a.txt"));
	assert_non_null(strstr(err.msg, "changed while being read"));
	assert_non_null(strstr(err.msg, t.root));

	tree_text(&t, "a.txt", "al", 0644);
	m.len = 0;
	assert_int_equal(write_tar(&t, all, t.scan.n_files, "", 0, 0, &m, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "a.txt"));
	assert_non_null(strstr(err.msg, "changed while being read"));

	assert_int_equal(unlink(tree_path(&t, "a.txt")), 0);
	m.len = 0;
	assert_int_equal(write_tar(&t, all, t.scan.n_files, "", 0, 0, &m, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "a.txt"));
	assert_non_null(strstr(err.msg, "rerun the build"));
	free(m.data);
	free(all);
	tree_release(&t);
}

static void test_sink_failure(void **state)
{
	const size_t size = 2 * LK_TAR_BLOCK_SIZE;
	unsigned char *data = lk_xcalloc(1, size);
	struct tree_fixture t;
	struct membuf m = { .fail_after = LK_TAR_BLOCK_SIZE + 1 };
	struct lk_error err;
	uint32_t *all;

	tree_init(&t);
	tree_file(&t, "big", data, size, 0644);
	tree_scan(&t);
	all = tree_all(&t);
	assert_int_equal(write_tar(&t, all, t.scan.n_files, "", 0, 0, &m, &err), LK_FAILED);
	assert_string_equal(err.msg, "test sink: disk full");
	assert_true(m.len <= LK_TAR_BLOCK_SIZE + 1);
	free(m.data);
	free(all);
	free(data);
	tree_release(&t);
}

static void test_bad_lists(void **state)
{
	struct tree_fixture t;
	struct membuf m = { 0 };
	struct lk_error err;
	uint32_t reversed[2], dup[2], out_of_range[1];

	sample_tree(&t);
	reversed[0] = 1;
	reversed[1] = 0;
	assert_int_equal(write_tar(&t, reversed, 2, "", 0, 0, &m, &err), LK_FAILED);
	assert_non_null(strstr(err.msg, "tree order"));
	dup[0] = dup[1] = 0;
	assert_int_equal(write_tar(&t, dup, 2, "", 0, 0, &m, &err), LK_FAILED);
	out_of_range[0] = 1000;
	assert_int_equal(write_tar(&t, out_of_range, 1, "", 0, 0, &m, &err), LK_FAILED);
	assert_int_equal(m.len, 0);

	/* A symlink that escapes the tree is never stored as a link. */
	free((char *)t.scan.files[tree_index(&t, "sub/link")].link_target);
	t.scan.files[tree_index(&t, "sub/link")].link_target = lk_xstrdup("../../etc/passwd");
	{
		uint32_t *all = tree_all(&t);

		assert_int_equal(write_tar(&t, all, t.scan.n_files, "", 0, 0, &m, &err), LK_FAILED);
		assert_non_null(strstr(err.msg, "sub/link"));
		assert_non_null(strstr(err.msg, "leaves the tree"));
		free(all);
	}
	/* Nor a path with "..". */
	free((char *)t.scan.files[0].path);
	t.scan.files[0].path = lk_xstrdup("../a.txt");
	assert_int_equal(write_tar(&t, out_of_range, 0, "", 0, 0, &m, &err), LK_OK);
	{
		uint32_t first[1] = { 0 };

		assert_int_equal(write_tar(&t, first, 1, "", 0, 0, &m, &err), LK_FAILED);
		assert_non_null(strstr(err.msg, "../a.txt"));
	}
	free(m.data);
	tree_release(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mode),
		cmocka_unit_test(test_entry_name),
		cmocka_unit_test(test_link_inside),
		cmocka_unit_test(test_order_root),
		cmocka_unit_test(test_order_prefix),
		cmocka_unit_test(test_order_deep_prefix),
		cmocka_unit_test(test_metadata_and_content),
		cmocka_unit_test(test_large_file_and_chunks),
		cmocka_unit_test(test_long_and_non_utf8_names),
		cmocka_unit_test(test_hard_links),
		cmocka_unit_test(test_setuid),
		cmocka_unit_test(test_reproducible),
		cmocka_unit_test(test_huge_sparse_file),
		cmocka_unit_test(test_entries),
		cmocka_unit_test(test_file_changed_size),
		cmocka_unit_test(test_sink_failure),
		cmocka_unit_test(test_bad_lists),
	};

	return cmocka_run_group_tests_name("tar", tests, NULL, NULL);
}
