/* common.c - errors, logging, allocation and parsing helpers of the core. */
#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lk_verbosity = 1;

void lk_error_clear(struct lk_error *err)
{
	err->exit_code = 0;
	err->msg[0] = '\0';
}

int lk_error_set(struct lk_error *err, int exit_code, const char *fmt, ...)
{
	va_list ap;

	err->exit_code = exit_code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return LK_FAILED;
}

void lk_error_prefix(struct lk_error *err, const char *fmt, ...)
{
	char prefix[1024];
	char old[sizeof(err->msg)];
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	n = strlen(prefix);
	/* Keep the prefix whole; the old message is cut if both do not fit. */
	if (n + 2 >= sizeof(err->msg))
		n = sizeof(err->msg) - 3;
	memcpy(err->msg, prefix, n);
	memcpy(err->msg + n, ": ", 2);
	memcpy(err->msg + n + 2, old, strnlen(old, sizeof(err->msg) - n - 3));
	err->msg[n + 2 + strnlen(old, sizeof(err->msg) - n - 3)] = '\0';
}

void lk_vlog(int level, const char *fmt, va_list ap)
{
	static const char *const tags[] = { "error", "warning", "info", "debug" };

	if (level == LK_LOG_ERROR ? 0 : level == LK_LOG_WARN ? lk_verbosity < 1 :
	    level == LK_LOG_INFO ? lk_verbosity < 1 : lk_verbosity < 2)
		return;
	if (level < 0 || level > LK_LOG_DEBUG)
		level = LK_LOG_DEBUG;
	/* one line per message, also when several threads log at once */
	flockfile(stderr);
	fprintf(stderr, "layerkit: %s: ", tags[level]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

void lk_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lk_vlog(level, fmt, ap);
	va_end(ap);
}

static void out_of_memory(size_t n)
{
	fprintf(stderr, "layerkit: error: out of memory (allocating %zu bytes)\n", n);
	abort();
}

void *lk_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		out_of_memory(n);
	return p;
}

void *lk_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		out_of_memory(n * size);
	return p;
}

void *lk_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		out_of_memory(n);
	return q;
}

char *lk_xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");

	if (!p)
		out_of_memory(strlen(s));
	return p;
}

char *lk_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		out_of_memory(0);
	return p;
}

void lk_grow(void **items, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 8;

	if (need <= *cap)
		return;
	while (n < need)
		n *= 2;
	*items = lk_xrealloc(*items, n * elem);
	*cap = n;
}

int lk_path_cmp(const char *a, const char *b)
{
	const unsigned char *x = (const unsigned char *)a;
	const unsigned char *y = (const unsigned char *)b;

	while (*x && *x == *y) {
		x++;
		y++;
	}
	if (*x == *y)
		return 0;
	/* '/' ends a component: it sorts before every other byte, but after
	 * the end of the string (a directory before its children). */
	if (*x == '\0')
		return -1;
	if (*y == '\0')
		return 1;
	if (*x == '/')
		return -1;
	if (*y == '/')
		return 1;
	return *x < *y ? -1 : 1;
}

int lk_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = 1;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int lk_parse_int64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return -1;
	*out = v;
	return 0;
}

int lk_parse_size(const char *s, uint64_t *out)
{
	static const struct { const char *suffix; uint64_t mult; } units[] = {
		{ "", 1 }, { "b", 1 },
		{ "k", 1024ULL }, { "kb", 1000ULL }, { "kib", 1024ULL },
		{ "m", 1024ULL << 10 }, { "mb", 1000000ULL }, { "mib", 1024ULL << 10 },
		{ "g", 1024ULL << 20 }, { "gb", 1000000000ULL }, { "gib", 1024ULL << 20 },
		{ "t", 1024ULL << 30 }, { "tb", 1000000000000ULL }, { "tib", 1024ULL << 30 },
	};
	char *end;
	unsigned long long v;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	while (isspace((unsigned char)*end))
		end++;
	char suffix[8];
	size_t n = 0;
	while (*end && !isspace((unsigned char)*end) && n + 1 < sizeof(suffix))
		suffix[n++] = (char)tolower((unsigned char)*end++);
	suffix[n] = '\0';
	while (isspace((unsigned char)*end))
		end++;
	if (*end)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!strcmp(suffix, units[i].suffix)) {
			if (v > UINT64_MAX / units[i].mult)
				return -1;
			*out = v * units[i].mult;
			return 0;
		}
	}
	return -1;
}

void lk_hex(const unsigned char *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * n] = '\0';
}

char *lk_path_normalise(const char *p)
{
	char *out = lk_xmalloc(strlen(p) + 1);
	size_t n = 0;

	while (*p) {
		size_t len;

		while (*p == '/')
			p++;
		len = strcspn(p, "/");
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			free(out);
			return NULL;
		}
		if (len && !(len == 1 && p[0] == '.')) {
			if (n)
				out[n++] = '/';
			memcpy(out + n, p, len);
			n += len;
		}
		p += len;
	}
	out[n] = '\0';
	return out;
}
