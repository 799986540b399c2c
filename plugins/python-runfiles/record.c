/*
 * record.c - RECORD rows (PEP 376 / the wheel spec: CSV of path,hash,size)
 * and the lexical resolution of the paths they list.
 *
 * A RECORD is untrusted input: rows may be malformed, fields huge, paths
 * absolute or climbing out with "..".  Nothing here touches the disk; the
 * caller looks resolved paths up in the scanned tree only.
 */
#include "pyrf.h"

#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)

void pyrf_record_init(struct pyrf_record_reader *r, const char *buf, size_t len)
{
	r->buf = buf;
	r->len = len;
	r->pos = 0;
	r->line = 1;
}

/* Skips to the start of the next line (after a bad row). */
static void skip_line(struct pyrf_record_reader *r)
{
	while (r->pos < r->len) {
		char c = r->buf[r->pos++];

		if (c == '\n') {
			r->line++;
			return;
		}
	}
}

int pyrf_record_next(struct pyrf_record_reader *r, struct pyrf_record_row *row)
{
	size_t field = 0, flen = 0;
	int quoted = 0, status = PYRF_RECORD_ROW;

	row->path = r->field[0];
	row->hash = r->field[1];
	row->size = r->field[2];
	row->n_fields = 0;

	/* Empty lines are skipped, as csv.reader yields nothing useful for them. */
	while (r->pos < r->len && (r->buf[r->pos] == '\n' || r->buf[r->pos] == '\r')) {
		if (r->buf[r->pos] == '\n')
			r->line++;
		r->pos++;
	}
	if (r->pos >= r->len)
		return PYRF_RECORD_END;
	row->line = r->line;
	for (int i = 0; i < 3; i++)
		r->field[i][0] = '\0';

	while (r->pos < r->len) {
		char c = r->buf[r->pos++];

		if (c == '\0') {
			status = PYRF_RECORD_NUL;
			goto skip_bad_row;
		}
		if (quoted) {
			if (c == '"') {
				if (r->pos < r->len && r->buf[r->pos] == '"') {
					r->pos++;	/* "" is one quote */
				} else {
					quoted = 0;
					continue;
				}
			} else if (c == '\n') {
				r->line++;
			}
		} else if (c == '"' && flen == 0) {
			quoted = 1;
			continue;
		} else if (c == ',') {
			if (field < 3)
				r->field[field][flen] = '\0';
			field++;
			flen = 0;
			continue;
		} else if (c == '\n' || c == '\r') {
			if (c == '\r' && r->pos < r->len && r->buf[r->pos] == '\n')
				r->pos++;
			r->line++;
			break;
		}
		/* Fields past the third are counted, not kept. */
		if (field < 3) {
			if (flen >= PYRF_PATH_MAX) {
				status = PYRF_RECORD_TOO_LONG;
				goto skip_bad_row;
			}
			r->field[field][flen++] = c;
		}
	}
	if (quoted) {
		/* The quote swallowed the rest of the file: nothing after it
		 * can be trusted as rows. */
		r->pos = r->len;
		return PYRF_RECORD_UNTERMINATED;
	}
	if (field < 3)
		r->field[field][flen] = '\0';
	row->n_fields = field + 1;
	return PYRF_RECORD_ROW;

skip_bad_row:
	if (quoted) {
		/* Find the closing quote so a newline inside it is not taken
		 * for the end of the row. */
		while (r->pos < r->len) {
			char c = r->buf[r->pos++];

			if (c == '\n')
				r->line++;
			if (c == '"') {
				if (r->pos < r->len && r->buf[r->pos] == '"')
					r->pos++;
				else
					break;
			}
		}
	}
	skip_line(r);
	return status;
}

const char *pyrf_record_strerror(int status)
{
	switch (status) {
	case PYRF_RECORD_TOO_LONG:
		return "a field longer than " STR(PYRF_PATH_MAX) " bytes";
	case PYRF_RECORD_UNTERMINATED:
		return "a quoted field that is never closed";
	case PYRF_RECORD_NUL:
		return "a NUL byte (not a text file)";
	}
	return "no error";
}

/* Pushes one component onto out (length *o); -1 when it does not fit. */
static int push_component(char *out, size_t out_size, size_t *o, const char *s, size_t n)
{
	size_t need = (*o ? 1 : 0) + n + 1;

	if (*o + need > out_size)
		return -1;
	if (*o)
		out[(*o)++] = '/';
	memcpy(out + *o, s, n);
	*o += n;
	out[*o] = '\0';
	return 0;
}

/* Applies the components of path to out; returns a pyrf_path_status. */
static int apply_components(char *out, size_t out_size, size_t *o, const char *path)
{
	for (const char *p = path; *p; ) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			char *last;

			if (*o == 0)
				return PYRF_PATH_ESCAPES;
			last = strrchr(out, '/');
			*o = last ? (size_t)(last - out) : 0;
			out[*o] = '\0';
		} else if (n > 0 && !(n == 1 && p[0] == '.')) {
			if (push_component(out, out_size, o, p, n) < 0)
				return PYRF_PATH_TOO_LONG;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	return PYRF_PATH_OK;
}

int pyrf_path_resolve(const char *base, const char *rel, char *out, size_t out_size)
{
	size_t o = 0;
	int rc;

	if (out_size == 0)
		return PYRF_PATH_TOO_LONG;
	out[0] = '\0';
	if (!rel || !*rel)
		return PYRF_PATH_EMPTY;
	/* Absolute in any spelling a RECORD might carry: POSIX, a Windows
	 * drive, or a backslash root.  Never resolved, never looked up. */
	if (rel[0] == '/' || rel[0] == '\\' ||
	    (((rel[0] | 0x20) >= 'a' && (rel[0] | 0x20) <= 'z') && rel[1] == ':'))
		return PYRF_PATH_ABSOLUTE;
	rc = apply_components(out, out_size, &o, base ? base : "");
	if (rc != PYRF_PATH_OK) {
		out[0] = '\0';
		return rc;
	}
	rc = apply_components(out, out_size, &o, rel);
	if (rc != PYRF_PATH_OK) {
		out[0] = '\0';
		return rc;
	}
	return o ? PYRF_PATH_OK : PYRF_PATH_EMPTY;
}

const char *pyrf_path_strerror(int status)
{
	switch (status) {
	case PYRF_PATH_OK:
		return "ok";
	case PYRF_PATH_EMPTY:
		return "an empty path";
	case PYRF_PATH_ABSOLUTE:
		return "an absolute path";
	case PYRF_PATH_ESCAPES:
		return "'..' leads out of the distribution's repository";
	case PYRF_PATH_TOO_LONG:
		return "a path longer than " STR(PYRF_PATH_MAX) " bytes";
	}
	return "unknown status";
}
