/*
 * metadata.c - the Name and Version of a core-metadata file, and the
 * version in CPython's patchlevel.h.
 *
 * Only the header block is read: the body (the long description) can be
 * megabytes and is never looked at, so a huge line there costs nothing.
 */
#include "pyrf.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

enum field {
	FIELD_NONE = 0,
	FIELD_NAME,
	FIELD_VERSION,
	FIELD_OTHER,
};

/* A header value being unfolded into a fixed buffer. */
struct value {
	char *buf;
	size_t size, len;
	int seen, overflow;
};

static void value_append(struct value *v, const char *s, size_t n)
{
	/* Unfolding: trim both ends, and join continuation lines with one space. */
	while (n && (*s == ' ' || *s == '\t')) {
		s++;
		n--;
	}
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	if (!n)
		return;
	if (v->len) {
		if (v->len + 1 >= v->size) {
			v->overflow = 1;
			return;
		}
		v->buf[v->len++] = ' ';
	}
	if (v->len + n >= v->size) {
		v->overflow = 1;
		return;
	}
	memcpy(v->buf + v->len, s, n);
	v->len += n;
	v->buf[v->len] = '\0';
}

static int version_valid(const char *s, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

int pyrf_metadata_parse(const char *buf, size_t len, struct pyrf_metadata *md)
{
	struct value name = { md->name, sizeof(md->name), 0, 0, 0 };
	struct value version = { md->version, sizeof(md->version), 0, 0, 0 };
	struct value *cur = NULL;
	unsigned line = 0, name_line = 0, version_line = 0, last_line = 0;
	size_t pos = 0;

	md->name[0] = md->version[0] = '\0';
	md->line = 0;
	while (pos < len) {
		const char *s = buf + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		const char *colon;

		pos += n + (nl ? 1 : 0);
		line++;
		if (memchr(s, '\0', n)) {
			md->line = line;
			return PYRF_META_BINARY;
		}
		if (n && s[n - 1] == '\r')
			n--;
		if (n == 0)
			break;		/* end of the headers */
		if (s[0] == ' ' || s[0] == '\t') {
			/* A folded continuation of the previous field. */
			if (cur)
				value_append(cur, s, n);
			continue;
		}
		colon = memchr(s, ':', n);
		if (!colon || colon == s)
			break;		/* not a header: the body starts here */
		for (const char *k = s; k < colon; k++)
			if ((unsigned char)*k <= ' ' || (unsigned char)*k >= 0x7f)
				goto headers_done;
		cur = NULL;
		if ((size_t)(colon - s) == 4 && !strncasecmp(s, "Name", 4) && !name.seen) {
			cur = &name;
			name_line = line;
		} else if ((size_t)(colon - s) == 7 && !strncasecmp(s, "Version", 7) &&
			   !version.seen) {
			cur = &version;
			version_line = line;
		}
		if (cur) {
			cur->seen = 1;
			value_append(cur, colon + 1, (size_t)(s + n - colon - 1));
		}
		last_line = line;
	}
headers_done:
	if (!name.seen) {
		md->line = last_line + 1;
		return PYRF_META_NO_NAME;
	}
	if (name.overflow || !pyrf_dist_name_valid(md->name, name.len)) {
		md->line = name_line;
		md->name[0] = '\0';
		return PYRF_META_BAD_NAME;
	}
	if (!version.seen) {
		md->line = last_line + 1;
		return PYRF_META_NO_VERSION;
	}
	if (version.overflow || !version_valid(md->version, version.len)) {
		md->line = version_line;
		md->version[0] = '\0';
		return PYRF_META_BAD_VERSION;
	}
	return PYRF_META_OK;
}

const char *pyrf_metadata_strerror(int status)
{
	switch (status) {
	case PYRF_META_OK:
		return "ok";
	case PYRF_META_NO_NAME:
		return "no Name header before the body";
	case PYRF_META_NO_VERSION:
		return "no Version header before the body";
	case PYRF_META_BAD_NAME:
		return "the Name is empty, too long or not a valid distribution name";
	case PYRF_META_BAD_VERSION:
		return "the Version is empty, too long or holds spaces";
	case PYRF_META_BINARY:
		return "a NUL byte in the headers (not a text file)";
	}
	return "unknown status";
}

int pyrf_patchlevel_version(const char *buf, size_t len, char *out, size_t out_size)
{
	static const char key[] = "PY_VERSION";
	size_t klen = sizeof(key) - 1;

	for (size_t pos = 0; pos < len; ) {
		const char *s = buf + pos, *nl = memchr(s, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - s) : len - pos;
		size_t i = 0, start;

		pos += n + (nl ? 1 : 0);
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i >= n || s[i] != '#')
			continue;
		i++;
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (n - i < 6 || strncmp(s + i, "define", 6) != 0)
			continue;
		i += 6;
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (n - i <= klen || strncmp(s + i, key, klen) != 0 ||
		    (s[i + klen] != ' ' && s[i + klen] != '\t'))
			continue;
		i += klen;
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i >= n || s[i] != '"')
			continue;
		start = ++i;
		while (i < n && s[i] != '"')
			i++;
		if (i >= n || i == start || i - start >= out_size ||
		    !version_valid(s + start, i - start))
			return -1;
		memcpy(out, s + start, i - start);
		out[i - start] = '\0';
		return 0;
	}
	return -1;
}
