/*
 * pyrf.h - private interfaces of the python-runfiles discovery plugin.
 *
 * The parsers here are pure functions of their input (no host, no I/O) so
 * that unit tests and fuzzers can call them directly; the module hides them
 * (-fvisibility=hidden) and exports only layerkit_discovery_v1.
 *
 * Every output buffer is caller-owned and fixed-size; nothing here
 * allocates except the unit engine in discover.c.
 */
#ifndef PYRF_H
#define PYRF_H

#include <stddef.h>
#include <stdint.h>

#include <layerkit/plugin.h>

/* Longest distribution name / version we accept (PEP 508 sets no limit;
 * real ones are far shorter, and longer ones are treated as malformed). */
#define PYRF_NAME_MAX		255
#define PYRF_VERSION_MAX	127
/* Longest RECORD field and resolved path; longer rows are refused. */
#define PYRF_PATH_MAX		4096

/* ---- names.c: repository names, PEP 503, dist-info directory names ---- */

/* How Bazel spelled a repository's directory name in the runfiles tree. */
enum pyrf_repo_style {
	PYRF_STYLE_WORKSPACE = 0,	/* no '~' or '+': pip_fastapi, pypi__fastapi */
	PYRF_STYLE_BAZEL6,		/* module~1.2.3~ext~repo (Bazel 6 / 7.0) */
	PYRF_STYLE_BAZEL71,		/* module~~ext~repo (Bazel 7.1+) */
	PYRF_STYLE_BAZEL8,		/* module++ext+repo, module+ (Bazel 8+) */
};

/* What a repository looks like by its name alone.  Only a hint: the
 * interpreter and the packages are recognised by content. */
enum pyrf_repo_kind {
	PYRF_REPO_OTHER = 0,
	PYRF_REPO_MAIN,		/* _main, __main__ */
	PYRF_REPO_PIP,		/* a pip hub or one distribution's repo */
	PYRF_REPO_PYTHON,	/* named like a hermetic interpreter toolchain */
};

struct pyrf_repo_name {
	enum pyrf_repo_style style;
	enum pyrf_repo_kind kind;
	char module[128];		/* "rules_python"; "" for WORKSPACE names */
	char module_version[64];	/* "0.31.0" (Bazel 6 / 7.0 only) */
	char extension[128];		/* "pip", "python"; "" for WORKSPACE names */
	char local[256];		/* the repo's own part: "pypi_311_fastapi" */
	char package[PYRF_NAME_MAX + 1];	/* PIP: PEP 503 name, "" if unknown */
	char python_version[16];	/* "3.11", "3.11.9" when the name says; else "" */
	char wheel_hash[65];		/* hex suffix of wheel-tagged names, else "" */
};

/*
 * Parses one repository directory name (no '/').  Always fills *out (kind
 * PYRF_REPO_OTHER when nothing is recognised).  Returns 0, or -1 when the
 * name is empty, holds '/', or a part is too long for *out (then out->kind
 * is PYRF_REPO_OTHER).
 */
int pyrf_repo_name_parse(const char *name, struct pyrf_repo_name *out);

/* "workspace", "bazel6", "bazel7.1", "bazel8". */
const char *pyrf_repo_style_name(enum pyrf_repo_style style);

/*
 * PEP 503 normalisation: runs of '-', '_', '.' become one '-', letters are
 * lowered.  Writes at most out_size bytes including the NUL.  Returns 0, or
 * -1 when the result does not fit or name is empty.
 */
int pyrf_pep503_normalise(const char *name, char *out, size_t out_size);

/* Whether name is a valid PEP 508 distribution name (ASCII letters and
 * digits, inner '.', '-', '_'), at most PYRF_NAME_MAX bytes. */
int pyrf_dist_name_valid(const char *name, size_t len);

/*
 * Splits a "NAME-VERSION.dist-info" directory name (the last component
 * only) into its name and version.  Returns 0, or -1 when it does not have
 * that form or a part is too long.
 */
int pyrf_distinfo_dirname_parse(const char *dirname, char *name, size_t name_size,
				char *version, size_t version_size);

/* ---- metadata.c: METADATA (RFC 822 headers) and patchlevel.h ---- */

enum pyrf_metadata_status {
	PYRF_META_OK = 0,
	PYRF_META_NO_NAME,	/* no Name header before the body */
	PYRF_META_NO_VERSION,	/* no Version header before the body */
	PYRF_META_BAD_NAME,	/* Name empty, too long or not PEP 508 */
	PYRF_META_BAD_VERSION,	/* Version empty, too long or with spaces */
	PYRF_META_BINARY,	/* a NUL byte in the headers */
};

struct pyrf_metadata {
	char name[PYRF_NAME_MAX + 1];		/* as written (not normalised) */
	char version[PYRF_VERSION_MAX + 1];
	unsigned line;		/* line of the problem (1-based), 0 if none */
};

/*
 * Reads the Name and Version headers of a core-metadata file (METADATA,
 * PKG-INFO): folded lines are unfolded, field names are case-insensitive,
 * the first of a repeated field wins, and the headers end at the first empty
 * line (or a line that is not a header, as Python's email parser does).
 * buf need not be NUL-terminated.  Returns an enum pyrf_metadata_status.
 */
int pyrf_metadata_parse(const char *buf, size_t len, struct pyrf_metadata *md);

/* One line saying what a status means ("no Name header", ...). */
const char *pyrf_metadata_strerror(int status);

/*
 * Finds `#define PY_VERSION "3.11.9"` in an include/python3.X/patchlevel.h.
 * Returns 0 with the version in out, or -1.
 */
int pyrf_patchlevel_version(const char *buf, size_t len, char *out, size_t out_size);

/* ---- record.c: RECORD (CSV) and the paths it lists ---- */

enum pyrf_record_status {
	PYRF_RECORD_ROW = 1,		/* *row is filled */
	PYRF_RECORD_END = 0,
	PYRF_RECORD_TOO_LONG = -1,	/* a field over PYRF_PATH_MAX; row skipped */
	PYRF_RECORD_UNTERMINATED = -2,	/* a quote never closed; rest skipped */
	PYRF_RECORD_NUL = -3,		/* a NUL byte in the row; row skipped */
};

/* One RECORD row.  The strings live in the reader and change on the next
 * call; fields the row does not have are "". */
struct pyrf_record_row {
	const char *path;
	const char *hash;
	const char *size;
	size_t n_fields;	/* fields the row had (extra ones are ignored) */
	unsigned line;		/* 1-based line where the row starts */
};

/* A CSV reader over a caller-owned buffer, with Python's csv dialect
 * ("excel": ',' separated, '"' quoting with "" for a quote, quoted fields
 * may hold commas and newlines, \n or \r\n line ends). */
struct pyrf_record_reader {
	const char *buf;
	size_t len, pos;
	unsigned line;
	char field[3][PYRF_PATH_MAX + 1];
};

/* Starts reading buf[0..len) (need not be NUL-terminated). */
void pyrf_record_init(struct pyrf_record_reader *r, const char *buf, size_t len);

/*
 * Reads the next non-empty row.  Returns an enum pyrf_record_status; after
 * a negative status, row->line names the bad row and the next call goes on
 * after it (so one bad row does not hide the others).
 */
int pyrf_record_next(struct pyrf_record_reader *r, struct pyrf_record_row *row);

/* One line saying what a negative status means. */
const char *pyrf_record_strerror(int status);

enum pyrf_path_status {
	PYRF_PATH_OK = 0,
	PYRF_PATH_EMPTY,	/* nothing left after removing "." and "" parts */
	PYRF_PATH_ABSOLUTE,	/* "/x", "C:/x", "\\x": never followed */
	PYRF_PATH_ESCAPES,	/* ".." leads above the boundary */
	PYRF_PATH_TOO_LONG,
};

/*
 * Resolves a path from a RECORD lexically, without touching the disk:
 * rel is taken relative to base (a '/'-separated directory below the
 * boundary, "" for the boundary itself) and ".." may climb to the boundary
 * but never above it (pip writes "../../../bin/x" for scripts in a venv).
 * Writes the boundary-relative result to out.  Returns an enum
 * pyrf_path_status; absolute paths are always refused.
 */
int pyrf_path_resolve(const char *base, const char *rel, char *out, size_t out_size);

/* One line saying what a status means. */
const char *pyrf_path_strerror(int status);

/* ---- detect.c: content rules and the launcher ---- */

/*
 * Whether the files tree->files[begin..end) form a hermetic CPython
 * install: a bin/python3 or bin/python3.N (file or link) and a
 * lib/python3.N/os.py, with paths taken from byte `offset` on (the repo's
 * prefix skipped; every path in the range must be longer than offset or
 * equal to the prefix without its '/').  On success writes "3.N" to
 * version (if not NULL) and returns 1; else 0.
 */
int pyrf_interpreter_detect(const struct lk_tree *tree, size_t begin, size_t end,
			    size_t offset, char *version, size_t version_size);

/*
 * If root names a regular file (links followed) with a directory
 * "<root>.runfiles" beside it, writes the directory that holds them to dir
 * and the launcher's name to base and returns 1.  Returns 0 when root is
 * anything else (left to the scan to judge), -1 when root does not fit.
 */
int pyrf_launcher_split(const char *root, char *dir, size_t dir_size,
			char *base, size_t base_size);

/* ---- discover.c: the unit engine ---- */

/* What legacy_external asks for. */
enum pyrf_legacy_mode {
	PYRF_LEGACY_KEEP = 0,	/* with the original repo's files, same unit */
	PYRF_LEGACY_SEPARATE,	/* in one `other` unit of their own */
	PYRF_LEGACY_DROP,	/* must be excluded by the scan; fail if present */
};

struct pyrf_settings {
	enum pyrf_legacy_mode legacy;
	const char *main_repo;		/* NULL: detect */
	const char *interpreter_repo;	/* NULL: detect; "none": there is none */
};

/* Assigns every file of tree to a unit through host.  Returns LK_OK,
 * LK_WARN (warnings were logged) or LK_FAILED (set_error called). */
int pyrf_discover(const struct lk_host *host, struct lk_ctx *ctx,
		  const struct pyrf_settings *settings, const struct lk_tree *tree);

#endif /* PYRF_H */
