/* test_share.c - the shared store: which units move, where, the links left behind, the layers' tars. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "model.h"
#include "share.h"
#include "tar.h"
#include "tree_fixture.h"

/*
 * r/interp/{bin/python3.11, bin/python3 -> python3.11, lib/os.py}    interpreter 3.11.9
 * r/pip_a/site-packages/{a/__init__.py, a-1.0.dist-info/METADATA}    package a 1.0
 * venv/site-packages/{b/..., b-2.0.dist-info/..., c/..., c-3.0...}   packages b 2.0, c 3.0 (one dir)
 * r/pip_d/site-packages/d/x.py, d/up -> ../../../pip_a/...            package d 4.0 (link leaves it)
 * r/tools/t.py                                                       support (never moves)
 * r/pip_e/e.py                                                       package e, no version
 * r/_main/app.py                                                     app
 */
struct fixture {
	struct tree_fixture t;
	struct lk_unit_table units;
	struct lk_plan plan;
};

static void unit_of(struct fixture *f, uint32_t kind, const char *name, const char *version,
		    const char *const *dirs)
{
	int u = lk_unit_table_add(&f->units, kind, name, version, dirs[0]);

	assert_true(u >= 0);
	for (size_t i = 0; i < f->t.scan.n_files; i++) {
		const char *p = f->t.scan.files[i].path;

		for (size_t d = 0; dirs[d]; d++)
			if (!strncmp(p, dirs[d], strlen(dirs[d])) &&
			    (p[strlen(dirs[d])] == '/' || !p[strlen(dirs[d])]))
				assert_int_equal(lk_unit_table_claim(&f->units, u, (uint32_t)i,
								     f->t.scan.files[i].size), LK_OK);
	}
}

/* One layer per unit, in unit order (the app last). */
static void fixture_plan(struct fixture *f)
{
	struct lk_error err;

	lk_plan_init(&f->plan, "test");
	for (uint32_t u = 0; u < f->units.n_units; u++) {
		assert_int_equal(lk_plan_add_layer(&f->plan, f->units.units[u].name, "test"), (int)u);
		assert_int_equal(lk_plan_add_unit(&f->plan, (int)u, u, "own"), LK_OK);
	}
	lk_error_clear(&err);
	if (lk_plan_check(&f->plan, &f->units, &f->t.scan.tree, 100, &err) != LK_OK)
		fail_msg("%s", err.msg);
}

/* The same tree in every fixture; app_text makes two apps differ. */
static void fixture_init(struct fixture *f, const char *app_text)
{
	static const char *const interp[] = { "r/interp", NULL };
	static const char *const a[] = { "r/pip_a", NULL };
	static const char *const b[] = { "venv/site-packages/b", "venv/site-packages/b-2.0.dist-info", NULL };
	static const char *const c[] = { "venv/site-packages/c", "venv/site-packages/c-3.0.dist-info", NULL };
	static const char *const d[] = { "r/pip_d", NULL };
	static const char *const tools[] = { "r/tools", NULL };
	static const char *const e[] = { "r/pip_e", NULL };
	static const char *const app[] = { "r/_main", NULL };

	tree_init(&f->t);
	tree_text(&f->t, "r/interp/bin/python3.11", "ELF python", 0755);
	tree_symlink(&f->t, "r/interp/bin/python3", "python3.11");
	tree_text(&f->t, "r/interp/lib/os.py", "import sys\n", 0644);
	tree_text(&f->t, "r/pip_a/site-packages/a/__init__.py", "A = 1\n", 0644);
	tree_text(&f->t, "r/pip_a/site-packages/a-1.0.dist-info/METADATA", "Name: a\n", 0644);
	tree_text(&f->t, "venv/site-packages/b/__init__.py", "B = 2\n", 0644);
	tree_text(&f->t, "venv/site-packages/b-2.0.dist-info/RECORD", "b/__init__.py\n", 0644);
	tree_text(&f->t, "venv/site-packages/c/__init__.py", "C = 3\n", 0644);
	tree_text(&f->t, "venv/site-packages/c-3.0.dist-info/RECORD", "c/__init__.py\n", 0644);
	tree_text(&f->t, "r/pip_d/site-packages/d/x.py", "D\n", 0644);
	tree_symlink(&f->t, "r/pip_d/site-packages/d/up", "../../../pip_a/site-packages/a/__init__.py");
	tree_text(&f->t, "r/tools/t.py", "tool\n", 0644);
	tree_text(&f->t, "r/pip_e/e.py", "E\n", 0644);
	tree_text(&f->t, "r/_main/app.py", app_text, 0644);
	tree_scan(&f->t);
	lk_unit_table_init(&f->units, f->t.scan.n_files);
	unit_of(f, LK_UNIT_INTERPRETER, "python3.11", "3.11.9", interp);
	unit_of(f, LK_UNIT_PACKAGE, "a", "1.0", a);
	unit_of(f, LK_UNIT_PACKAGE, "b", "2.0", b);
	unit_of(f, LK_UNIT_PACKAGE, "c", "3.0", c);
	unit_of(f, LK_UNIT_PACKAGE, "d", "4.0", d);
	unit_of(f, LK_UNIT_SUPPORT, "tools", "1", tools);
	unit_of(f, LK_UNIT_PACKAGE, "e", "", e);
	unit_of(f, LK_UNIT_APP, "app", "", app);
	fixture_plan(f);
}

static void fixture_release(struct fixture *f)
{
	lk_plan_release(&f->plan);
	lk_unit_table_release(&f->units);
	tree_release(&f->t);
}

static const struct lk_share_link *link_named(const struct lk_share *s, const char *name)
{
	for (size_t i = 0; i < s->n_links; i++)
		if (!strcmp(s->links[i].name, name))
			return &s->links[i];
	return NULL;
}

static void test_placement(void **state)
{
	struct fixture f;
	struct lk_share s;
	struct lk_error err;
	char *p;

	fixture_init(&f, "print('v1')\n");
	lk_error_clear(&err);
	if (lk_share_init(&s, "/opt//layerkit/store/", "app", &f.t.scan, &f.units, &f.plan, &err))
		fail_msg("%s", err.msg);
	assert_string_equal(s.store, "opt/layerkit/store");
	assert_string_equal(s.units[0].dir, "opt/layerkit/store/interpreter-python3.11-3.11.9");
	assert_string_equal(s.units[0].root, "r/interp");
	/* The longest common directory, not the repository. */
	assert_string_equal(s.units[1].dir, "opt/layerkit/store/package-a-1.0");
	assert_string_equal(s.units[1].root, "r/pip_a/site-packages");
	assert_string_equal(s.units[2].root, "venv/site-packages");
	/* d's link leaves the unit; support and unversioned units stay. */
	assert_null(s.units[4].dir);
	assert_non_null(strstr(s.units[4].why_not, "points outside the unit"));
	assert_null(s.units[5].dir);
	assert_null(s.units[5].why_not);
	assert_null(s.units[6].dir);
	assert_non_null(strstr(s.units[6].why_not, "no version"));
	assert_null(s.units[7].dir);
	assert_int_equal(s.n_moved, 4);

	/* A unit alone in its directory: one link there; sharing one: one per entry. */
	assert_int_equal(s.n_links, 1 + 1 + 2 + 2);
	assert_string_equal(link_named(&s, "app/r/interp")->target,
			    "../../opt/layerkit/store/interpreter-python3.11-3.11.9");
	assert_string_equal(link_named(&s, "app/r/pip_a/site-packages")->target,
			    "../../../opt/layerkit/store/package-a-1.0");
	assert_string_equal(link_named(&s, "app/venv/site-packages/b")->target,
			    "../../../opt/layerkit/store/package-b-2.0/b");
	assert_string_equal(link_named(&s, "app/venv/site-packages/c-3.0.dist-info")->target,
			    "../../../opt/layerkit/store/package-c-3.0/c-3.0.dist-info");
	for (size_t i = 1; i < s.n_links; i++)
		assert_true(lk_path_cmp(s.links[i - 1].name, s.links[i].name) < 0);

	p = lk_share_image_path(&s, &f.t.scan, tree_index(&f.t, "r/interp/bin/python3"));
	assert_string_equal(p, "opt/layerkit/store/interpreter-python3.11-3.11.9/bin/python3");
	free(p);
	p = lk_share_image_path(&s, &f.t.scan, tree_index(&f.t, "r/tools/t.py"));
	assert_string_equal(p, "app/r/tools/t.py");
	free(p);

	/* Entries: moved layers and the app's (links); others unchanged. */
	assert_int_equal(s.link_layer, 7);
	assert_non_null(s.entries[0]);
	assert_null(s.entries[4]);
	assert_null(s.entries[5]);
	assert_int_equal(s.n_entries[7], 1 + s.n_links);
	for (size_t l = 0; l < s.n_layers; l++)
		for (size_t i = 1; s.entries[l] && i < s.n_entries[l]; i++)
			assert_true(lk_path_cmp(s.entries[l][i - 1].name, s.entries[l][i].name) < 0);
	lk_share_release(&s);
	fixture_release(&f);
}

static void test_refused_stores(void **state)
{
	struct fixture f;
	struct lk_share s;
	struct lk_error err;

	fixture_init(&f, "x\n");
	lk_error_clear(&err);
	assert_int_equal(lk_share_init(&s, "/", "app", &f.t.scan, &f.units, &f.plan, &err), LK_FAILED);
	assert_int_equal(err.exit_code, LK_EXIT_USAGE);
	lk_share_release(&s);
	assert_int_equal(lk_share_init(&s, "/opt/../etc", "app", &f.t.scan, &f.units, &f.plan, &err),
			 LK_FAILED);
	lk_share_release(&s);
	/* The tree itself would land in the store. */
	assert_int_equal(lk_share_init(&s, "/app/r", "app", &f.t.scan, &f.units, &f.plan, &err),
			 LK_FAILED);
	assert_non_null(strstr(err.msg, "in the way of the store"));
	lk_share_release(&s);
	/* ... or on a file where the store needs a directory. */
	assert_int_equal(lk_share_init(&s, "/r/tools/t.py/store", "", &f.t.scan, &f.units, &f.plan,
				       &err), LK_FAILED);
	lk_share_release(&s);
	fixture_release(&f);
}

static void test_same_name_and_version_stay(void **state)
{
	struct fixture f;
	struct lk_share s;
	struct lk_error err;
	int u;

	fixture_init(&f, "x\n");
	/* Rename c to b 2.0: the second b cannot have the same directory. */
	u = 3;
	free((char *)f.units.units[u].name);
	f.units.units[u].name = lk_xstrdup("b");
	free((char *)f.units.units[u].version);
	f.units.units[u].version = lk_xstrdup("2.0");
	lk_error_clear(&err);
	assert_int_equal(lk_share_init(&s, "/store", "app", &f.t.scan, &f.units, &f.plan, &err), LK_OK);
	assert_non_null(s.units[2].dir);
	assert_null(s.units[3].dir);
	assert_non_null(strstr(s.units[3].why_not, "already has /store/package-b-2.0"));
	lk_share_release(&s);
	fixture_release(&f);
}

/* ---- the layers' tars ---- */

struct digest_sink {
	EVP_MD_CTX *md;
	unsigned char *data;
	size_t len, cap;
};

static int sink(void *opaque, const void *data, size_t len, struct lk_error *err)
{
	struct digest_sink *d = opaque;

	lk_grow((void **)&d->data, &d->cap, d->len + len, 1);
	memcpy(d->data + d->len, data, len);
	d->len += len;
	return LK_OK;
}

/* The tar of one layer with the share's entries, in memory (caller frees). */
static unsigned char *layer_tar(struct fixture *f, const struct lk_share *s, size_t layer,
				size_t *len)
{
	struct lk_tar_opts opts = { .prefix = s->prefix };
	struct digest_sink d = { 0 };
	struct lk_error err;
	const struct lk_plan_layer *l = &f->plan.layers[layer];
	int rc;

	lk_error_clear(&err);
	rc = s->entries[layer] ?
	     lk_tar_write_entries(&f->t.scan, s->entries[layer], s->n_entries[layer], &opts, sink, &d, &err) :
	     lk_tar_write(&f->t.scan, l->files, l->n_files, &opts, sink, &d, &err);
	if (rc != LK_OK)
		fail_msg("%s", err.msg);
	*len = d.len;
	return d.data;
}

static void test_two_apps_same_layers(void **state)
{
	struct fixture f1, f2;
	struct lk_share s1, s2;
	struct lk_error err;

	/* Other app code, another prefix: the moved units' tars are equal. */
	fixture_init(&f1, "print('one')\n");
	fixture_init(&f2, "print('two, longer')\n");
	lk_error_clear(&err);
	assert_int_equal(lk_share_init(&s1, "/opt/layerkit/store", "app", &f1.t.scan, &f1.units,
				       &f1.plan, &err), LK_OK);
	assert_int_equal(lk_share_init(&s2, "/opt/layerkit/store", "srv/other", &f2.t.scan,
				       &f2.units, &f2.plan, &err), LK_OK);
	for (size_t l = 0; l < f1.plan.n_layers; l++) {
		size_t n1, n2;
		unsigned char *t1 = layer_tar(&f1, &s1, l, &n1), *t2 = layer_tar(&f2, &s2, l, &n2);
		int same = n1 == n2 && !memcmp(t1, t2, n1);

		/* interpreter, a, b, c moved; d, tools, e, app did not. */
		if (l <= 3 && !same)
			fail_msg("layer %zu (%s) differs between the apps", l, f1.plan.layers[l].name);
		if (l > 3 && same)
			fail_msg("layer %zu (%s) should differ (the prefix is in it)", l,
				 f1.plan.layers[l].name);
		free(t1);
		free(t2);
	}
	lk_share_release(&s1);
	lk_share_release(&s2);
	fixture_release(&f1);
	fixture_release(&f2);
}

static void test_app_layer_tar_holds_the_links(void **state)
{
	struct fixture f;
	struct lk_share s;
	struct lk_error err;
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	unsigned char *tar;
	size_t len;
	int links = 0, app = 0;

	fixture_init(&f, "x\n");
	lk_error_clear(&err);
	assert_int_equal(lk_share_init(&s, "/opt/layerkit/store", "app", &f.t.scan, &f.units,
				       &f.plan, &err), LK_OK);
	tar = layer_tar(&f, &s, 7, &len);
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_memory(a, tar, len), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		const struct lk_share_link *l = link_named(&s, name);

		if (archive_entry_filetype(e) == AE_IFLNK) {
			assert_non_null(l);
			assert_string_equal(archive_entry_symlink(e), l->target);
			links++;
		}
		app += !strcmp(name, "app/r/_main/app.py");
	}
	assert_int_equal(links, (int)s.n_links);
	assert_int_equal(app, 1);
	archive_read_free(a);
	free(tar);
	lk_share_release(&s);
	fixture_release(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_placement),
		cmocka_unit_test(test_refused_stores),
		cmocka_unit_test(test_same_name_and_version_stay),
		cmocka_unit_test(test_two_apps_same_layers),
		cmocka_unit_test(test_app_layer_tar_holds_the_links),
	};

	return cmocka_run_group_tests_name("share", tests, NULL, NULL);
}
