/*
 * discover.c - assigns every file of a Bazel runfiles tree, a virtualenv or
 * a `pip install --target` tree to one unit.
 *
 * The tree is sorted component by component, so a directory's entries are
 * one contiguous range: the engine works on index ranges and never copies
 * the tree.  Each file gets an owner (an index into a table of unit
 * descriptors) that later, more precise rules overwrite: the repo's default
 * unit first, then an install root holding one distribution, then each
 * dist-info directory, then what each RECORD lists.  Units are handed to
 * the host at the end, in a fixed order, and only when they own a file.
 */
#include "pyrf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reading limits: a METADATA's headers are near its start, but the long
 * description follows; RECORDs of large packages reach a few MB. */
#define METADATA_MAX_BYTES	(16u << 20)
#define RECORD_MAX_BYTES	(64u << 20)
#define PATCHLEVEL_MAX_BYTES	(256u << 10)

/* A unit as discovery builds it; handed to the host in finish(). */
struct unit_desc {
	uint32_t kind;
	char *name;
	char *version;
	char *origin;
	size_t n_files;
	int host_id;
};

/* A top-level directory of a runfiles root. */
struct repo {
	const char *name;		/* points into the tree's path */
	size_t name_len;
	size_t begin, end;		/* tree range of prefix + name (+ "/...") */
	struct pyrf_repo_name parsed;
	int is_interpreter;
	int is_main;
	int default_unit;		/* where its unclaimed files go; -1 until set */
	char interpreter_version[16];
};

/* One *.dist-info directory found in a repo. */
struct dist {
	char *distinfo;		/* repo-relative path of the directory */
	char *install_root;	/* where bin/, data/, include/ sit ("" = repo) */
	char *record_base;	/* the directory RECORD paths are relative to */
	size_t begin, end;	/* tree range of the dist-info directory */
	char name[PYRF_NAME_MAX + 1];	/* PEP 503 normalised */
	int unit;
};

struct engine {
	const struct lk_host *host;
	struct lk_ctx *ctx;
	const struct lk_tree *tree;
	const struct pyrf_settings *set;
	int32_t *owner;			/* per file: unit descriptor or -1 */
	struct unit_desc *units;
	size_t n_units, cap_units;
	int warned;
	int interpreters;		/* interpreter units made */
	size_t legacy_files;
	uint64_t legacy_bytes;
	char *legacy_exclude;		/* the exclude pattern to suggest (drop) */
	char *path;			/* scratch for building tree paths */
	size_t path_cap;
};

/* ---- small helpers ---- */

static void logf_level(struct engine *e, int level, const char *fmt, ...) LK_PRINTF(3, 4);

static void logf_level(struct engine *e, int level, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (level <= LK_LOG_WARN)
		e->warned = 1;
	e->host->log(e->ctx, level, "%s", msg);
}

static int out_of_memory(struct engine *e)
{
	e->host->set_error(e->ctx, "out of memory while assigning %zu files to units",
			   e->tree->n_files);
	return LK_FAILED;
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* Builds "a" + "b" (+ "c") into e->path; returns it or NULL. */
static const char *make_path(struct engine *e, const char *a, size_t an,
			     const char *b, const char *c)
{
	size_t bn = b ? strlen(b) : 0, cn = c ? strlen(c) : 0;
	size_t need = an + bn + cn + 1;

	if (need > e->path_cap) {
		char *p = realloc(e->path, need * 2);

		if (!p)
			return NULL;
		e->path = p;
		e->path_cap = need * 2;
	}
	memcpy(e->path, a, an);
	if (bn)
		memcpy(e->path + an, b, bn);
	if (cn)
		memcpy(e->path + an + bn, c, cn);
	e->path[an + bn + cn] = '\0';
	return e->path;
}

/* The scan's order: component by component, '/' before every other byte. */
static int path_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		if (*a == *b) {
			if (!*a)
				return 0;
			continue;
		}
		if (!*a)
			return -1;
		if (!*b)
			return 1;
		if (*a == '/')
			return -1;
		if (*b == '/')
			return 1;
		return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
	}
}

/* Does path equal dir or lie below it? */
static int path_in_dir(const char *path, const char *dir, size_t dlen)
{
	return !strncmp(path, dir, dlen) && (path[dlen] == '/' || path[dlen] == '\0');
}

/* The range of dir (the entry itself or everything below it) within
 * [begin, end); empty when absent. */
static void dir_range(const struct lk_tree *t, size_t begin, size_t end, const char *dir,
		      size_t *rb, size_t *re)
{
	size_t lo = begin, hi = end, dlen = strlen(dir);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (path_cmp(t->files[mid].path, dir) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*rb = lo;
	while (lo < end && path_in_dir(t->files[lo].path, dir, dlen))
		lo++;
	*re = lo;
}

/* The end of the group sharing files[begin]'s component at offset. */
static size_t group_end(const struct lk_tree *t, size_t begin, size_t end, size_t offset)
{
	const char *p = t->files[begin].path + offset;
	size_t n = strcspn(p, "/"), i = begin + 1;

	while (i < end) {
		const char *q = t->files[i].path + offset;

		if (strncmp(q, p, n) != 0 || (q[n] != '/' && q[n] != '\0'))
			break;
		i++;
	}
	return i;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && !memcmp(s + n - k, suffix, k);
}

/* A tree path as seen from its runfiles root ("x.runfiles/" cut off), as
 * users name repos. */
static const char *runfiles_relative(const char *path)
{
	size_t cl = strcspn(path, "/");

	return path[cl] == '/' && ends_with(path, cl, ".runfiles") ? path + cl + 1 : path;
}

/* ---- unit descriptors ---- */

/* Finds the descriptor of (kind, name, version) or makes it; -1 on OOM.
 * The same distribution reached twice (two runfiles trees, a legacy
 * duplicate) is one unit. */
static int unit_get(struct engine *e, uint32_t kind, const char *name, const char *version,
		    const char *origin)
{
	struct unit_desc *u;

	for (size_t i = 0; i < e->n_units; i++) {
		u = &e->units[i];
		if (u->kind == kind && !strcmp(u->name, name) && !strcmp(u->version, version))
			return (int)i;
	}
	if (e->n_units == e->cap_units) {
		size_t cap = e->cap_units ? e->cap_units * 2 : 32;
		struct unit_desc *n = realloc(e->units, cap * sizeof(*n));

		if (!n)
			return -1;
		e->units = n;
		e->cap_units = cap;
	}
	u = &e->units[e->n_units];
	u->kind = kind;
	u->name = strdup(name);
	u->version = strdup(version);
	u->origin = strdup(origin);
	u->n_files = 0;
	u->host_id = -1;
	if (!u->name || !u->version || !u->origin) {
		free(u->name);
		free(u->version);
		free(u->origin);
		return -1;
	}
	return (int)e->n_units++;
}

static void assign_range(struct engine *e, size_t begin, size_t end, int unit)
{
	for (size_t i = begin; i < end; i++)
		e->owner[i] = unit;
}

/* ---- reading files of the tree ---- */

/* Reads a tree file if it is a regular file within limit; warns and
 * returns -1 otherwise.  The buffer goes back with host->free_buffer. */
static int read_tree_file(struct engine *e, long index, size_t limit, const char *what,
			  char **buf, size_t *len)
{
	const struct lk_file *f = &e->tree->files[index];

	if (f->type != LK_FILE_REGULAR) {
		logf_level(e, LK_LOG_WARN, "%s/%s: %s is not a regular file; ignored",
			   e->tree->root, f->path, what);
		return -1;
	}
	if (f->size > limit) {
		logf_level(e, LK_LOG_WARN, "%s/%s: %s of %llu bytes is over the %zu bytes read "
			   "here; ignored", e->tree->root, f->path, what,
			   (unsigned long long)f->size, limit);
		return -1;
	}
	if (e->host->read_file(e->ctx, (uint32_t)index, limit, buf, len) != LK_OK) {
		logf_level(e, LK_LOG_WARN, "%s/%s: cannot read this %s (it changed or is "
			   "unreadable); ignored", e->tree->root, f->path, what);
		return -1;
	}
	return 0;
}

/* ---- distributions ---- */

/* Where the last component of p[0..len) starts. */
static size_t last_component(const char *p, size_t len)
{
	while (len > 0 && p[len - 1] != '/')
		len--;
	return len;
}

/* The length of the install root of a site-packages directory p (of
 * length n): X for X/site-packages and X/lib/python3.N/site-packages
 * (or lib64), "" when X is the repo itself. */
static size_t site_packages_root_len(const char *p, size_t n)
{
	size_t parent = last_component(p, n), start, lib;

	parent = parent ? parent - 1 : 0;
	if (!parent)
		return 0;
	start = last_component(p, parent);
	if (strncmp(p + start, "python3", 7) != 0 || start == 0)
		return parent;
	lib = last_component(p, start - 1);
	if ((start - 1 - lib == 3 && !strncmp(p + lib, "lib", 3)) ||
	    (start - 1 - lib == 5 && !strncmp(p + lib, "lib64", 5)))
		return lib ? lib - 1 : 0;
	return parent;
}

/* Is a dist-info's parent directory P a place pip installs to, and if so
 * which are the install root and RECORD's base?  P is repo-relative. */
static int install_location(const char *p, char **install_root, char **record_base)
{
	size_t n = strlen(p);
	const char *last = base_name(p);
	size_t root_len;

	if (n == 0) {
		root_len = 0;	/* old rules_python, pip --target: the repo itself */
	} else if (!strcmp(last, "site-packages") || !strcmp(last, "dist-packages")) {
		root_len = site_packages_root_len(p, n);
	} else if (!strchr(p, '/')) {
		/* An old nested layout: pip/pypi__fastapi/fastapi-1.0.dist-info. */
		struct pyrf_repo_name rn;

		if (pyrf_repo_name_parse(p, &rn) != 0 || rn.kind != PYRF_REPO_PIP)
			return 0;
		root_len = n;
	} else {
		return 0;	/* vendored metadata inside a package */
	}
	*install_root = dup_n(p, root_len);
	*record_base = dup_n(p, n);
	if (!*install_root || !*record_base) {
		free(*install_root);
		free(*record_base);
		return -1;
	}
	return 1;
}

/* Name and version of a distribution: METADATA, else the dist-info
 * directory's name, else the repo's name. */
static int dist_identify(struct engine *e, const char *prefix, size_t plen, struct dist *d,
			 const struct pyrf_repo_name *rn, int only_dist)
{
	struct pyrf_metadata md;
	char name[PYRF_NAME_MAX + 1] = "", version[PYRF_VERSION_MAX + 1] = "";
	const char *dirname = base_name(d->distinfo);
	const char *mpath;
	long index;
	int have = 0;

	mpath = make_path(e, prefix, plen, d->distinfo, "/METADATA");
	if (!mpath)
		return -1;
	index = e->host->find_file(e->ctx, mpath);
	if (index < 0) {
		logf_level(e, LK_LOG_WARN, "%s/%s: missing; the distribution is named from its "
			   "directory name", e->tree->root, mpath);
	} else {
		char *buf;
		size_t len;

		if (read_tree_file(e, index, METADATA_MAX_BYTES, "METADATA", &buf, &len) == 0) {
			int st = pyrf_metadata_parse(buf, len, &md);

			e->host->free_buffer(e->ctx, buf);
			if (st == PYRF_META_OK) {
				snprintf(name, sizeof(name), "%s", md.name);
				snprintf(version, sizeof(version), "%s", md.version);
				have = 1;
			} else {
				logf_level(e, LK_LOG_WARN, "%s/%s:%u: %s; the distribution is "
					   "named from its directory name", e->tree->root,
					   e->tree->files[index].path, md.line,
					   pyrf_metadata_strerror(st));
			}
		}
	}
	if (!have && pyrf_distinfo_dirname_parse(dirname, name, sizeof(name),
						  version, sizeof(version)) == 0)
		have = 1;
	if (!have && only_dist && rn && rn->package[0]) {
		snprintf(name, sizeof(name), "%s", rn->package);
		version[0] = '\0';
		have = 1;
	}
	if (!have) {
		/* Still unnamed: the directory name as it is, minus .dist-info. */
		size_t n = strlen(dirname) - strlen(".dist-info");

		snprintf(name, sizeof(name), "%.*s", (int)n, dirname);
	}
	if (pyrf_pep503_normalise(name, d->name, sizeof(d->name)) != 0)
		snprintf(d->name, sizeof(d->name), "unnamed");
	if (!have)
		logf_level(e, LK_LOG_WARN, "%s/%s%s: no usable name; calling it '%s'",
			   e->tree->root, prefix, d->distinfo, d->name);

	{
		char origin[PYRF_PATH_MAX + 64];

		snprintf(origin, sizeof(origin), "dist-info %s%s", runfiles_relative(prefix),
			 d->distinfo);
		d->unit = unit_get(e, LK_UNIT_PACKAGE, d->name, version, origin);
	}
	return d->unit < 0 ? -1 : 0;
}

struct record_report {
	size_t bad_rows, refused, missing, excluded_missing, conflicts;
	unsigned bad_line, refused_line, missing_line, conflict_line;
	char bad_what[128];
	char refused_path[256];
	char refused_why[96];
	char missing_path[256];
	char conflict_path[256];
};

/* Claims what one RECORD lists (only files still with the repo's default
 * unit) and reports what it could not use. */
static int record_apply(struct engine *e, const char *prefix, size_t plen,
			size_t repo_begin, size_t repo_end, struct dist *d, long index,
			int default_unit)
{
	struct pyrf_record_reader *r;
	struct pyrf_record_row row;
	struct record_report rep;
	char resolved[PYRF_PATH_MAX + 1];
	const char *rpath = e->tree->files[index].path;
	char *buf;
	size_t len;
	int st;

	if (read_tree_file(e, index, RECORD_MAX_BYTES, "RECORD", &buf, &len) < 0)
		return 0;
	r = malloc(sizeof(*r));
	if (!r) {
		e->host->free_buffer(e->ctx, buf);
		return -1;
	}
	memset(&rep, 0, sizeof(rep));
	pyrf_record_init(r, buf, len);
	while ((st = pyrf_record_next(r, &row)) != PYRF_RECORD_END) {
		const char *full;
		long fi;

		if (st < 0) {
			if (!rep.bad_rows++) {
				rep.bad_line = row.line;
				snprintf(rep.bad_what, sizeof(rep.bad_what), "%s",
					 pyrf_record_strerror(st));
			}
			continue;
		}
		st = pyrf_path_resolve(d->record_base, row.path, resolved, sizeof(resolved));
		if (st != PYRF_PATH_OK) {
			if (!rep.refused++) {
				rep.refused_line = row.line;
				snprintf(rep.refused_path, sizeof(rep.refused_path), "%s", row.path);
				snprintf(rep.refused_why, sizeof(rep.refused_why), "%s",
					 pyrf_path_strerror(st));
			}
			continue;
		}
		full = make_path(e, prefix, plen, resolved, NULL);
		if (!full)
			goto out_free_reader;
		fi = e->host->find_file(e->ctx, full);
		if (fi < 0 || (size_t)fi < repo_begin || (size_t)fi >= repo_end) {
			const char *b = base_name(resolved);

			/* Bazel's pip rules leave out byte code and names with
			 * spaces: expected, not worth a warning. */
			if (ends_with(b, strlen(b), ".pyc") || strchr(resolved, ' ') ||
			    strstr(resolved, "__pycache__/")) {
				rep.excluded_missing++;
			} else if (!rep.missing++) {
				rep.missing_line = row.line;
				snprintf(rep.missing_path, sizeof(rep.missing_path), "%s", row.path);
			}
			continue;
		}
		if (e->owner[fi] == default_unit) {
			e->owner[fi] = d->unit;
		} else if (e->owner[fi] != d->unit && !rep.conflicts++) {
			rep.conflict_line = row.line;
			snprintf(rep.conflict_path, sizeof(rep.conflict_path), "%s", row.path);
		}
	}
	free(r);
	e->host->free_buffer(e->ctx, buf);

	if (rep.bad_rows)
		logf_level(e, LK_LOG_WARN, "%s/%s:%u: %zu malformed row(s), first: %s; skipped",
			   e->tree->root, rpath, rep.bad_line, rep.bad_rows, rep.bad_what);
	if (rep.refused)
		logf_level(e, LK_LOG_WARN, "%s/%s:%u: %zu path(s) refused and not followed, "
			   "first '%s': %s", e->tree->root, rpath, rep.refused_line,
			   rep.refused, rep.refused_path, rep.refused_why);
	if (rep.missing)
		logf_level(e, LK_LOG_WARN, "%s/%s:%u: lists %zu file(s) that are not in the tree, "
			   "first '%s'; the install may be incomplete", e->tree->root, rpath,
			   rep.missing_line, rep.missing, rep.missing_path);
	if (rep.excluded_missing)
		logf_level(e, LK_LOG_DEBUG, "%s/%s: %zu listed .pyc or space-named file(s) are "
			   "absent (Bazel leaves them out)", e->tree->root, rpath,
			   rep.excluded_missing);
	if (rep.conflicts)
		logf_level(e, LK_LOG_INFO, "%s/%s:%u: %zu listed file(s) already belong to another "
			   "distribution, first '%s'; they stay with it", e->tree->root, rpath,
			   rep.conflict_line, rep.conflicts, rep.conflict_path);
	return 0;

out_free_reader:
	free(r);
	e->host->free_buffer(e->ctx, buf);
	return -1;
}

static void dists_free(struct dist *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].distinfo);
		free(d[i].install_root);
		free(d[i].record_base);
	}
	free(d);
}

/* Finds the distributions of a repo; *out is malloc'ed. */
static int find_dists(struct engine *e, size_t plen, size_t begin, size_t end,
		      struct dist **out, size_t *n_out)
{
	const struct lk_tree *t = e->tree;
	struct dist *d = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = begin; i < end; ) {
		const char *path = t->files[i].path, *rel, *c, *hit = NULL;
		size_t hit_len = 0, dlen, j;
		char *ir = NULL, *rb = NULL, *parent;
		int ok;

		if (strlen(path) <= plen || !strstr(path + plen, ".dist-info")) {
			i++;
			continue;
		}
		rel = path + plen;
		/* The first directory component named *.dist-info. */
		for (c = rel; *c; ) {
			size_t cl = strcspn(c, "/");
			int is_dir = c[cl] == '/' || t->files[i].type == LK_FILE_DIR;

			if (is_dir && cl > 10 && ends_with(c, cl, ".dist-info")) {
				hit = c;
				hit_len = cl;
				break;
			}
			c += cl;
			if (*c == '/')
				c++;
		}
		if (!hit) {
			i++;
			continue;
		}
		dlen = (size_t)(hit - path) + hit_len;
		for (j = i; j < end && path_in_dir(t->files[j].path, path, dlen); j++)
			;
		parent = dup_n(rel, hit > rel ? (size_t)(hit - rel - 1) : 0);
		if (!parent)
			goto out_free_dists;
		ok = install_location(parent, &ir, &rb);
		free(parent);
		if (ok < 0)
			goto out_free_dists;
		if (ok == 0) {
			logf_level(e, LK_LOG_DEBUG, "%s/%.*s: not in a site-packages or a repo's "
				   "top; taken as part of the package around it",
				   t->root, (int)dlen, path);
			i = j;
			continue;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct dist *nd = realloc(d, nc * sizeof(*nd));

			if (!nd) {
				free(ir);
				free(rb);
				goto out_free_dists;
			}
			d = nd;
			cap = nc;
		}
		memset(&d[n], 0, sizeof(d[n]));
		d[n].install_root = ir;
		d[n].record_base = rb;
		d[n].distinfo = dup_n(rel, dlen - plen);
		d[n].begin = i;
		d[n].end = j;
		d[n].unit = -1;
		n++;
		if (!d[n - 1].distinfo)
			goto out_free_dists;
		i = j;
	}
	*out = d;
	*n_out = n;
	return 0;

out_free_dists:
	dists_free(d, n);
	return -1;
}

/* The range of a repo-relative directory ("" = the whole repo). */
static void install_root_range(struct engine *e, const char *prefix, size_t plen,
			       size_t begin, size_t end, const char *ir, size_t *rb, size_t *re)
{
	const char *full;

	if (!*ir) {
		*rb = begin;
		*re = end;
		return;
	}
	full = make_path(e, prefix, plen, ir, NULL);
	if (!full) {
		*rb = *re = begin;
		return;
	}
	dir_range(e->tree, begin, end, full, rb, re);
}

static int cmp_install_root_len(const void *a, const void *b)
{
	const struct dist *x = a, *y = b;
	size_t lx = strlen(x->install_root), ly = strlen(y->install_root);

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/*
 * The packages of one repo (or of a whole venv / target dir when prefix is
 * ""): every file first goes to the repo's default unit, then to the
 * distribution that owns it.  label names the repo in messages and units.
 */
static int process_packages(struct engine *e, const char *prefix, size_t plen,
			    size_t begin, size_t end, const char *label,
			    const struct pyrf_repo_name *rn, int interpreter_unit,
			    int *default_out)
{
	struct dist *d = NULL;
	size_t n = 0;
	int def = -1, rc = -1;

	if (find_dists(e, plen, begin, end, &d, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (dist_identify(e, prefix, plen, &d[i], rn, n == 1) < 0)
			goto out_free_dists;

	/* The repo's main package takes what no RECORD claims. */
	if (interpreter_unit >= 0) {
		def = interpreter_unit;
	} else if (n == 1) {
		def = d[0].unit;
	} else if (rn && rn->package[0]) {
		for (size_t i = 0; i < n; i++)
			if (!strcmp(d[i].name, rn->package))
				def = d[i].unit;
	}
	if (def < 0) {
		char origin[600];

		snprintf(origin, sizeof(origin), n ? "repo %s: files no RECORD lists among %zu "
			 "distributions" : "repo %s (no distribution)", label, n);
		def = unit_get(e, LK_UNIT_SUPPORT, label, "", origin);
		if (def < 0)
			goto out_free_dists;
	}
	assign_range(e, begin, end, def);

	/* An install root with one distribution is all that distribution's
	 * (bin/, data/, include/ from the wheel's .data too); deeper roots
	 * are applied after shallower ones so they win. */
	if (n > 1)
		qsort(d, n, sizeof(*d), cmp_install_root_len);
	for (size_t i = 0; i < n; ) {
		size_t j = i + 1, rb, re;

		while (j < n && !strcmp(d[j].install_root, d[i].install_root))
			j++;
		if (j - i == 1 && !(interpreter_unit >= 0 && !d[i].install_root[0])) {
			install_root_range(e, prefix, plen, begin, end, d[i].install_root, &rb, &re);
			assign_range(e, rb, re, d[i].unit);
		} else if (j - i > 1) {
			for (size_t k = i; k < j; k++) {
				const char *rp = make_path(e, prefix, plen, d[k].distinfo, "/RECORD");

				if (!rp)
					goto out_free_dists;
				if (e->host->find_file(e->ctx, rp) < 0)
					logf_level(e, LK_LOG_WARN, "%s/%s: missing, so the files of "
						   "'%s' cannot be told apart from the %zu other "
						   "distributions in %s%s; they go to '%s'",
						   e->tree->root, rp, d[k].name, j - i - 1, label,
						   d[i].install_root[0] ? "/" : "",
						   e->units[def].name);
			}
		}
		i = j;
	}
	for (size_t i = 0; i < n; i++)
		assign_range(e, d[i].begin, d[i].end, d[i].unit);

	/* RECORDs split shared install roots, and are checked everywhere. */
	for (size_t i = 0; i < n; i++) {
		const char *rp = make_path(e, prefix, plen, d[i].distinfo, "/RECORD");
		long ri;

		if (!rp)
			goto out_free_dists;
		ri = e->host->find_file(e->ctx, rp);
		if (ri < 0) {
			logf_level(e, LK_LOG_DEBUG, "%s/%s: no RECORD (rules_python leaves it out); "
				   "the distribution owns its install root", e->tree->root, rp);
			continue;
		}
		if (record_apply(e, prefix, plen, begin, end, &d[i], ri, def) < 0)
			goto out_free_dists;
	}
	if (default_out)
		*default_out = def;
	rc = 0;

out_free_dists:
	dists_free(d, n);
	return rc;
}

/* ---- runfiles roots ---- */

/* The version of an interpreter repo: patchlevel.h, else its name. */
/* Does version ("3.11.9") belong to minor ("3.11")? */
static int same_minor(const char *version, const char *minor)
{
	size_t n = strlen(minor);

	return !strncmp(version, minor, n) && (version[n] == '.' || version[n] == '\0');
}

/* The version of an interpreter repo: patchlevel.h, else its name, else
 * the lib/python3.N directory's. */
static void interpreter_version(struct engine *e, const char *prefix, size_t plen,
				struct repo *r, char *out, size_t out_size)
{
	char rel[600];
	const char *p;
	long index;

	snprintf(rel, sizeof(rel), "%.*s/include/python%s/patchlevel.h", (int)r->name_len,
		 r->name, r->interpreter_version);
	p = make_path(e, prefix, plen, rel, NULL);
	index = p ? e->host->find_file(e->ctx, p) : -1;
	if (index >= 0 && e->tree->files[index].type == LK_FILE_REGULAR &&
	    e->tree->files[index].size <= PATCHLEVEL_MAX_BYTES) {
		char *buf;
		size_t len;

		if (e->host->read_file(e->ctx, (uint32_t)index, PATCHLEVEL_MAX_BYTES,
				       &buf, &len) == LK_OK) {
			int rc = pyrf_patchlevel_version(buf, len, out, out_size);

			e->host->free_buffer(e->ctx, buf);
			if (rc == 0 && same_minor(out, r->interpreter_version))
				return;
		}
	}
	if (r->parsed.python_version[0] &&
	    same_minor(r->parsed.python_version, r->interpreter_version))
		snprintf(out, out_size, "%s", r->parsed.python_version);
	else
		snprintf(out, out_size, "%s", r->interpreter_version);
}

static int repo_is(const struct repo *r, const char *name)
{
	return strlen(name) == r->name_len && !strncmp(r->name, name, r->name_len);
}

/* Repos of Bazel rule sets and generated configs are never the app. */
static int repo_is_tooling(const struct repo *r)
{
	static const char *const prefixes[] = {
		"bazel_", "rules_", "local_config_", "platforms", "build_bazel_",
		"io_bazel_", "com_google_", "remotejdk", "remote_java", "aspect_",
	};
	const char *n = r->parsed.module[0] ? r->parsed.module : r->parsed.local;

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(n, prefixes[i], strlen(prefixes[i])))
			return 1;
	return 0;
}

static int find_main_repo(struct engine *e, const char *prefix, struct repo *repos, size_t n,
			  const char *launcher)
{
	const struct lk_tree *t = e->tree;
	size_t candidates = 0, cand = 0;

	if (e->set->main_repo) {
		for (size_t i = 0; i < n; i++)
			if (repo_is(&repos[i], e->set->main_repo))
				return (int)i;
		e->host->set_error(e->ctx, "main_repo = %s: no such repository in %s/%s; "
				   "fix the option or remove it to detect the main repo",
				   e->set->main_repo, t->root, prefix);
		return -2;
	}
	for (size_t i = 0; i < n; i++)
		if (repos[i].parsed.kind == PYRF_REPO_MAIN)
			return (int)i;
	/* The py_binary's own executable sits in its repo's runfiles. */
	if (launcher && *launcher) {
		for (size_t i = 0; i < n; i++) {
			if (repos[i].is_interpreter || repos[i].parsed.kind == PYRF_REPO_PIP)
				continue;
			for (size_t f = repos[i].begin; f < repos[i].end; f++)
				if (!strcmp(base_name(t->files[f].path), launcher))
					return (int)i;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (repos[i].is_interpreter || repos[i].parsed.kind != PYRF_REPO_OTHER ||
		    repo_is_tooling(&repos[i]))
			continue;
		candidates++;
		cand = i;
	}
	if (candidates == 1) {
		logf_level(e, LK_LOG_INFO, "%s/%s: taking '%.*s' as the main repo (the only one "
			   "that is not pip, an interpreter or rules); set main_repo to override",
			   t->root, prefix, (int)repos[cand].name_len, repos[cand].name);
		return (int)cand;
	}
	if (candidates > 1)
		logf_level(e, LK_LOG_WARN, "%s/%s: cannot tell which repo is the app's (%zu "
			   "candidates); set main_repo = NAME; they become support units",
			   t->root, prefix, candidates);
	return -1;
}

/* Legacy external runfiles: <main>/external/<repo>/... duplicates <repo>/... */
static int process_legacy(struct engine *e, const char *prefix, size_t plen,
			  struct repo *repos, size_t n, struct repo *main_repo,
			  int app_unit)
{
	const struct lk_tree *t = e->tree;
	size_t eb, ee, off;
	const char *ext;
	char main_name[512];
	int legacy_unit = -1;

	snprintf(main_name, sizeof(main_name), "%.*s", (int)main_repo->name_len, main_repo->name);
	ext = make_path(e, prefix, plen, main_name, "/external");
	if (!ext)
		return -1;
	dir_range(t, main_repo->begin, main_repo->end, ext, &eb, &ee);
	off = strlen(ext) + 1;
	for (size_t i = eb; i < ee; ) {
		size_t ge, cl;
		const char *c;
		struct repo *orig = NULL;

		if (strlen(t->files[i].path) < off) {
			i++;		/* "external" itself as an empty dir */
			continue;
		}
		ge = group_end(t, i, ee, off);
		c = t->files[i].path + off;
		cl = strcspn(c, "/");
		for (size_t r = 0; r < n; r++)
			if (&repos[r] != main_repo && repos[r].name_len == cl &&
			    !strncmp(repos[r].name, c, cl))
				orig = &repos[r];
		if (!orig) {
			i = ge;		/* not a duplicate: the app's own "external" */
			continue;
		}
		if (!e->legacy_exclude) {
			char pat[1024];

			snprintf(pat, sizeof(pat), "%s/", ext);
			e->legacy_exclude = strdup(pat);
		}
		for (size_t f = i; f < ge; f++) {
			const char *p = t->files[f].path;
			int unit = orig->default_unit;

			e->legacy_files++;
			e->legacy_bytes += t->files[f].size;
			if (e->set->legacy == PYRF_LEGACY_SEPARATE) {
				if (legacy_unit < 0) {
					legacy_unit = unit_get(e, LK_UNIT_OTHER, "legacy-external", "",
							       "legacy external runfiles "
							       "(<main>/external/<repo>/ duplicates)");
					if (legacy_unit < 0)
						return -1;
				}
				unit = legacy_unit;
			} else {
				/* The original sits at prefix + the part after
				 * "<main>/external/". */
				const char *orig_path = make_path(e, prefix, plen, p + off, NULL);
				long oi;

				if (!orig_path)
					return -1;
				oi = e->host->find_file(e->ctx, orig_path);
				if (oi >= 0 && e->owner[oi] >= 0)
					unit = e->owner[oi];
			}
			e->owner[f] = unit >= 0 ? unit : app_unit;
		}
		i = ge;
	}
	return 0;
}

static int make_app_unit(struct engine *e, const char *launcher, int several_roots)
{
	char origin[512];
	const char *name = launcher && *launcher && !several_roots ? launcher : "app";

	snprintf(origin, sizeof(origin), "main repo, MANIFEST, _repo_mapping and launcher%s",
		 several_roots ? " of every runfiles tree" : "");
	return unit_get(e, LK_UNIT_APP, name, "", origin);
}

/*
 * One runfiles root: prefix is "" (the tree is NAME.runfiles) or
 * "NAME.runfiles/".  Files at its top (MANIFEST, _repo_mapping) and the
 * main repo are the app; every other top directory is a repo.
 */
static int process_runfiles(struct engine *e, const char *prefix, size_t begin, size_t end,
			    const char *launcher, int app_unit)
{
	const struct lk_tree *t = e->tree;
	size_t plen = strlen(prefix), n = 0, cap = 0;
	struct repo *repos = NULL;
	int main_idx, rc = -1, interp_named = 0;

	for (size_t i = begin; i < end; ) {
		size_t ge = group_end(t, i, end, plen);
		const char *c = t->files[i].path + plen;
		size_t cl = strcspn(c, "/");

		if (ge - i == 1 && c[cl] == '\0') {
			e->owner[i] = app_unit;		/* MANIFEST, _repo_mapping, ... */
			i = ge;
			continue;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 32;
			struct repo *nr = realloc(repos, nc * sizeof(*nr));

			if (!nr)
				goto out_nomem;
			repos = nr;
			cap = nc;
		}
		memset(&repos[n], 0, sizeof(repos[n]));
		repos[n].name = c;
		repos[n].name_len = cl;
		repos[n].begin = i;
		repos[n].end = ge;
		repos[n].default_unit = -1;
		{
			char name[512];

			snprintf(name, sizeof(name), "%.*s", (int)cl, c);
			pyrf_repo_name_parse(name, &repos[n].parsed);
		}
		n++;
		i = ge;
	}

	/* The interpreter, by content unless the option names it. */
	for (size_t r = 0; r < n; r++) {
		struct repo *rp = &repos[r];
		size_t off = plen + rp->name_len + 1;

		if (e->set->interpreter_repo) {
			if (!strcmp(e->set->interpreter_repo, "none") ||
			    !repo_is(rp, e->set->interpreter_repo))
				continue;
			interp_named = 1;
			rp->is_interpreter = 1;
			if (!pyrf_interpreter_detect(t, rp->begin, rp->end, off,
						     rp->interpreter_version,
						     sizeof(rp->interpreter_version))) {
				snprintf(rp->interpreter_version, sizeof(rp->interpreter_version),
					 "%s", rp->parsed.python_version[0] ?
					 rp->parsed.python_version : "3");
				logf_level(e, LK_LOG_WARN, "%s/%s%.*s: interpreter_repo names it, but "
					   "it has no bin/python3 and lib/python3.N/os.py",
					   t->root, prefix, (int)rp->name_len, rp->name);
			}
		} else {
			rp->is_interpreter = pyrf_interpreter_detect(t, rp->begin, rp->end, off,
						rp->interpreter_version,
						sizeof(rp->interpreter_version));
		}
	}
	if (e->set->interpreter_repo && strcmp(e->set->interpreter_repo, "none") &&
	    !interp_named) {
		e->host->set_error(e->ctx, "interpreter_repo = %s: no such repository in %s/%s; "
				   "fix the option, set it to 'none', or remove it to detect "
				   "the interpreter by its files", e->set->interpreter_repo,
				   t->root, prefix);
		goto out_free_repos;
	}

	main_idx = find_main_repo(e, prefix, repos, n, launcher);
	if (main_idx == -2)
		goto out_free_repos;

	for (size_t r = 0; r < n; r++) {
		struct repo *rp = &repos[r];
		char name[512], rprefix[PYRF_PATH_MAX + 1];
		size_t rplen;

		snprintf(name, sizeof(name), "%.*s", (int)rp->name_len, rp->name);
		if ((int)r == main_idx) {
			rp->is_main = 1;
			rp->default_unit = app_unit;
			assign_range(e, rp->begin, rp->end, app_unit);
			continue;
		}
		if (rp->is_interpreter) {
			char version[32], uname[40], origin[700];

			interpreter_version(e, prefix, plen, rp, version, sizeof(version));
			snprintf(uname, sizeof(uname), "python%s", rp->interpreter_version);
			snprintf(origin, sizeof(origin), e->set->interpreter_repo ?
				 "interpreter_repo %s" :
				 "interpreter %s (bin/python3 and lib/python3.N/os.py)", name);
			rp->default_unit = unit_get(e, LK_UNIT_INTERPRETER, uname, version, origin);
			if (rp->default_unit < 0)
				goto out_nomem;
			assign_range(e, rp->begin, rp->end, rp->default_unit);
			e->interpreters++;
			continue;
		}
		/* A copy: process_packages reuses the engine's path scratch. */
		rplen = (size_t)snprintf(rprefix, sizeof(rprefix), "%s%s/", prefix, name);
		if (rplen >= sizeof(rprefix))
			goto out_nomem;
		if (process_packages(e, rprefix, rplen, rp->begin, rp->end, name, &rp->parsed,
				     -1, &rp->default_unit) < 0)
			goto out_nomem;
	}
	if (main_idx >= 0 && process_legacy(e, prefix, plen, repos, n, &repos[main_idx],
					    app_unit) < 0)
		goto out_nomem;
	rc = 0;
	goto out_free_repos;

out_nomem:
	rc = -1;
	out_of_memory(e);
out_free_repos:
	free(repos);
	return rc;
}

/* ---- the tree's shape ---- */

/* Does the tree itself look like one NAME.runfiles directory? */
static int tree_is_runfiles(struct engine *e)
{
	const struct lk_tree *t = e->tree;
	const char *rb = base_name(t->root);

	if (ends_with(rb, strlen(rb), ".runfiles"))
		return 1;
	for (size_t i = 0; i < t->n_files; ) {
		size_t ge = group_end(t, i, t->n_files, 0);
		const char *p = t->files[i].path;
		size_t cl = strcspn(p, "/");
		int leaf = ge - i == 1 && p[cl] == '\0';

		if (leaf && !strcmp(p, "pyvenv.cfg"))
			return 0;
		if (leaf && (!strcmp(p, "MANIFEST") || !strcmp(p, "_repo_mapping")))
			return 1;
		if (!leaf && ((cl == 5 && !strncmp(p, "_main", 5)) ||
			      (cl == 8 && !strncmp(p, "__main__", 8)) ||
			      memchr(p, '~', cl) || memchr(p, '+', cl)))
			return 1;
		if (!leaf && e->set->main_repo && strlen(e->set->main_repo) == cl &&
		    !strncmp(p, e->set->main_repo, cl))
			return 1;
		i = ge;
	}
	return 0;
}

/* ---- handing units to the host ---- */

static int kind_rank(uint32_t kind)
{
	switch (kind) {
	case LK_UNIT_INTERPRETER:
		return 0;
	case LK_UNIT_PACKAGE:
		return 1;
	case LK_UNIT_SUPPORT:
		return 2;
	case LK_UNIT_OTHER:
		return 3;
	default:
		return 4;	/* the app last: it changes most */
	}
}

static int cmp_unit_order(const void *a, const void *b)
{
	const struct unit_desc *x = *(const struct unit_desc *const *)a;
	const struct unit_desc *y = *(const struct unit_desc *const *)b;
	int c;

	if (kind_rank(x->kind) != kind_rank(y->kind))
		return kind_rank(x->kind) - kind_rank(y->kind);
	c = strcmp(x->name, y->name);
	if (c)
		return c;
	return strcmp(x->version, y->version);
}

static int finish(struct engine *e)
{
	const struct lk_tree *t = e->tree;
	struct unit_desc **order;
	int unclassified = -1;
	size_t n = 0;

	for (size_t i = 0; i < t->n_files; i++) {
		if (e->owner[i] < 0) {
			/* Every path has a rule; this is a safety net. */
			if (unclassified < 0) {
				unclassified = unit_get(e, LK_UNIT_OTHER, "unclassified", "",
							"files no rule matched");
				if (unclassified < 0)
					return out_of_memory(e);
				logf_level(e, LK_LOG_DEBUG, "%s/%s: matched no rule", t->root,
					   t->files[i].path);
			}
			e->owner[i] = unclassified;
		}
		e->units[e->owner[i]].n_files++;
	}
	order = malloc((e->n_units ? e->n_units : 1) * sizeof(*order));
	if (!order)
		return out_of_memory(e);
	for (size_t i = 0; i < e->n_units; i++)
		if (e->units[i].n_files)
			order[n++] = &e->units[i];
	qsort(order, n, sizeof(*order), cmp_unit_order);
	for (size_t i = 0; i < n; i++) {
		struct unit_desc *u = order[i];

		u->host_id = e->host->unit_add(e->ctx, u->kind, u->name, u->version, u->origin);
		if (u->host_id < 0) {
			free(order);
			return LK_FAILED;
		}
	}
	free(order);
	for (size_t i = 0; i < t->n_files; i++) {
		int rc = e->host->unit_claim(e->ctx, e->units[e->owner[i]].host_id, (uint32_t)i);

		if (rc != LK_OK)
			return LK_FAILED;
	}
	return LK_OK;
}

/* ---- entry ---- */

/* The parent of NAME.runfiles directories (a launcher's directory): each
 * runfiles tree, then the launchers beside them, then anything else. */
static int discover_beside_runfiles(struct engine *e, size_t n_roots)
{
	const struct lk_tree *t = e->tree;
	int app_unit, other = -1;

	for (size_t i = 0; i < t->n_files; ) {
		size_t ge = group_end(t, i, t->n_files, 0);
		const char *p = t->files[i].path;
		size_t cl = strcspn(p, "/");
		char launcher[512], prefix[520];

		if (p[cl] == '/' && ends_with(p, cl, ".runfiles") && cl < sizeof(launcher)) {
			snprintf(launcher, sizeof(launcher), "%.*s",
				 (int)(cl - strlen(".runfiles")), p);
			snprintf(prefix, sizeof(prefix), "%.*s/", (int)cl, p);
			app_unit = make_app_unit(e, launcher, n_roots > 1);
			if (app_unit < 0)
				return out_of_memory(e);
			if (process_runfiles(e, prefix, i, ge, launcher, app_unit) < 0)
				return LK_FAILED;
		}
		i = ge;
	}
	for (size_t i = 0; i < t->n_files; ) {
		size_t ge = group_end(t, i, t->n_files, 0), rb = 0, re = 0;
		const char *p = t->files[i].path;
		size_t cl = strcspn(p, "/");
		char runfiles[530];

		if (e->owner[i] >= 0) {
			i = ge;
			continue;
		}
		if (p[cl] == '\0' && cl + sizeof(".runfiles") <= sizeof(runfiles)) {
			snprintf(runfiles, sizeof(runfiles), "%s.runfiles", p);
			dir_range(t, 0, t->n_files, runfiles, &rb, &re);
		}
		if (rb < re) {
			/* A launcher: NAME beside NAME.runfiles. */
			app_unit = make_app_unit(e, p, n_roots > 1);
			if (app_unit < 0)
				return out_of_memory(e);
			assign_range(e, i, ge, app_unit);
		} else {
			if (other < 0) {
				other = unit_get(e, LK_UNIT_OTHER, "outside-runfiles", "",
						 "files beside the runfiles trees");
				if (other < 0)
					return out_of_memory(e);
			}
			assign_range(e, i, ge, other);
			logf_level(e, LK_LOG_INFO, "%s/%.*s: not part of a runfiles tree; in unit "
				   "'outside-runfiles'", t->root, (int)cl, p);
		}
		i = ge;
	}
	return LK_OK;
}

/* The tree is one NAME.runfiles directory. */
static int discover_runfiles_dir(struct engine *e)
{
	const char *base = base_name(e->tree->root);
	size_t bl = strlen(base);
	char launcher[512] = "";
	int app_unit;

	if (ends_with(base, bl, ".runfiles") && bl < sizeof(launcher))
		snprintf(launcher, sizeof(launcher), "%.*s", (int)(bl - strlen(".runfiles")), base);
	app_unit = make_app_unit(e, launcher, 0);
	if (app_unit < 0)
		return out_of_memory(e);
	if (process_runfiles(e, "", 0, e->tree->n_files, launcher, app_unit) < 0)
		return LK_FAILED;
	return LK_OK;
}

/* A virtualenv, a pip --target tree or a Python install: one repo, the
 * root, named after it. */
static int discover_loose(struct engine *e)
{
	const struct lk_tree *t = e->tree;
	const struct pyrf_settings *set = e->set;
	const char *label = base_name(t->root);
	char version[16] = "";
	int interp = -1;

	if (!*label)
		label = "site-packages";
	if (set->main_repo || (set->interpreter_repo && strcmp(set->interpreter_repo, "none")))
		logf_level(e, LK_LOG_INFO, "%s: not a runfiles tree, so main_repo and "
			   "interpreter_repo do not apply", t->root);
	if ((!set->interpreter_repo || strcmp(set->interpreter_repo, "none")) &&
	    pyrf_interpreter_detect(t, 0, t->n_files, 0, version, sizeof(version))) {
		char uname[40], origin[600];

		snprintf(uname, sizeof(uname), "python%s", version);
		snprintf(origin, sizeof(origin), "interpreter %s (bin/python3 and "
			 "lib/python3.N/os.py); its site-packages are split by RECORD", label);
		interp = unit_get(e, LK_UNIT_INTERPRETER, uname, version, origin);
		if (interp < 0)
			return out_of_memory(e);
		e->interpreters++;
	}
	if (process_packages(e, "", 0, 0, t->n_files, label, NULL, interp, NULL) < 0)
		return out_of_memory(e);
	if (!e->interpreters)
		logf_level(e, LK_LOG_INFO, "%s: no interpreter in the tree (a virtualenv or a "
			   "pip --target tree); the image's base must provide python3", t->root);
	return LK_OK;
}

/* Legacy duplicates found: report them, or refuse them (drop). */
static int report_legacy(struct engine *e)
{
	const char *root = e->tree->root;

	if (e->set->legacy == PYRF_LEGACY_DROP) {
		e->host->set_error(e->ctx, "%s: %zu files (%llu bytes) under %s duplicate external "
				   "repos (Bazel's --legacy_external_runfiles), and "
				   "legacy_external = drop; a discovery plugin cannot leave files "
				   "out, so exclude them in the app's section (exclude = %s) or "
				   "build with --nolegacy_external_runfiles", root,
				   e->legacy_files, (unsigned long long)e->legacy_bytes,
				   e->legacy_exclude, e->legacy_exclude);
		return LK_FAILED;
	}
	logf_level(e, LK_LOG_INFO, "%s: %zu files (%llu bytes) under %s duplicate external repos "
		   "(legacy external runfiles); %s", root, e->legacy_files,
		   (unsigned long long)e->legacy_bytes, e->legacy_exclude,
		   e->set->legacy == PYRF_LEGACY_SEPARATE ? "kept in unit 'legacy-external'" :
		   "kept in their repos' units, so each shares its original's layer");
	return LK_OK;
}

int pyrf_discover(const struct lk_host *host, struct lk_ctx *ctx,
		  const struct pyrf_settings *settings, const struct lk_tree *tree)
{
	struct engine e = {
		.host = host, .ctx = ctx, .tree = tree, .set = settings,
	};
	size_t n_roots = 0;
	int rc, runfiles;

	if (tree->n_files == 0) {
		host->log(ctx, LK_LOG_WARN, "%s: the tree is empty; no units", tree->root);
		return LK_WARN;
	}
	e.owner = malloc(tree->n_files * sizeof(*e.owner));
	if (!e.owner)
		return out_of_memory(&e);
	memset(e.owner, 0xff, tree->n_files * sizeof(*e.owner));

	for (size_t i = 0; i < tree->n_files; i = group_end(tree, i, tree->n_files, 0)) {
		const char *p = tree->files[i].path;
		size_t cl = strcspn(p, "/");

		if (p[cl] == '/' && ends_with(p, cl, ".runfiles"))
			n_roots++;
	}
	runfiles = n_roots || tree_is_runfiles(&e);
	if (n_roots)
		rc = discover_beside_runfiles(&e, n_roots);
	else if (runfiles)
		rc = discover_runfiles_dir(&e);
	else
		rc = discover_loose(&e);
	if (rc != LK_OK)
		goto out_free_units;

	if (runfiles && !e.interpreters &&
	    !(settings->interpreter_repo && !strcmp(settings->interpreter_repo, "none")))
		logf_level(&e, LK_LOG_WARN, "%s: no hermetic interpreter (no repo with bin/python3 "
			   "and lib/python3.N/os.py); the image's base must provide python3, or "
			   "set interpreter_repo", tree->root);
	if (e.legacy_files) {
		rc = report_legacy(&e);
		if (rc != LK_OK)
			goto out_free_units;
	}
	rc = finish(&e);
	if (rc == LK_OK && e.warned)
		rc = LK_WARN;

out_free_units:
	for (size_t i = 0; i < e.n_units; i++) {
		free(e.units[i].name);
		free(e.units[i].version);
		free(e.units[i].origin);
	}
	free(e.units);
	free(e.owner);
	free(e.path);
	free(e.legacy_exclude);
	return rc;
}
