/* common.h - errors, logging and small helpers shared by the core modules. */
#ifndef LK_COMMON_H
#define LK_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include "layerkit/plugin.h"

/* Exit codes of the CLI. */
#define LK_EXIT_OK     0
#define LK_EXIT_BUILD  1	/* the build failed */
#define LK_EXIT_USAGE  2	/* bad command line or configuration */

/* Error kept by the caller and filled by the module that failed; the
 * message is complete (what, where, what to do) and has no trailing newline. */
struct lk_error {
	int exit_code;		/* LK_EXIT_BUILD or LK_EXIT_USAGE */
	char msg[4096];
};

void lk_error_clear(struct lk_error *err);
/* Sets the message (replacing it) and the exit code; returns LK_FAILED. */
int lk_error_set(struct lk_error *err, int exit_code, const char *fmt, ...) LK_PRINTF(3, 4);
/* Prefixes the existing message with "prefix: ". */
void lk_error_prefix(struct lk_error *err, const char *fmt, ...) LK_PRINTF(2, 3);

/* Logging to stderr: 0 = quiet (errors only), 1 = normal (+warnings, info), 2 = verbose (+debug). */
extern int lk_verbosity;
void lk_log(int level, const char *fmt, ...) LK_PRINTF(2, 3);
void lk_vlog(int level, const char *fmt, va_list ap);

/* Allocation that aborts on exhaustion (the only sane reaction in a CLI). */
void *lk_xmalloc(size_t n);
void *lk_xcalloc(size_t n, size_t size);
void *lk_xrealloc(void *p, size_t n);
char *lk_xstrdup(const char *s);
char *lk_xasprintf(const char *fmt, ...) LK_PRINTF(1, 2);

/* Grow *items (each of size elem) to hold at least need elements. */
void lk_grow(void **items, size_t *cap, size_t need, size_t elem);

/* "a//b/./c/" -> "a/b/c" (malloc'ed; the caller frees); NULL when a
 * component is "..".  Leading '/' is dropped: the result is relative. */
char *lk_path_normalise(const char *path);

/* Path order used everywhere: component by component, '/' before any byte. */
int lk_path_cmp(const char *a, const char *b);

/* Strict parsers; return 0 on success, -1 on a bad value. */
int lk_parse_bool(const char *s, int *out);
int lk_parse_int64(const char *s, int64_t *out);
int lk_parse_size(const char *s, uint64_t *out);	/* 10, 10K, 10KiB, 10MB (K = KiB) */

/* Hex of a sha256 digest (64 chars + NUL). */
#define LK_SHA256_HEX_LEN 64
void lk_hex(const unsigned char *bytes, size_t n, char *out);

#endif
