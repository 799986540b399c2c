/*
 * config.c - layering.ini, read with inih, with file:line in every error.
 *
 * Two passes.  The first feeds inih one line at a time from our own reader
 * (which counts lines, since the installed inih does not pass line numbers,
 * and refuses lines longer than inih's buffer instead of letting it split
 * them) and collects every section with its values and their lines.  The
 * second checks sections, keys and values and fills struct lk_config;
 * [layerkit] goes first because its values are the apps' defaults.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A sane bound for a hand-written file; anything bigger is not one. */
#define CONFIG_MAX_BYTES (4 * 1024 * 1024)

static const char *const default_excludes[] = { ".git/", ".hg/", ".svn/", ".bzr/" };

void lk_string_list_push(struct lk_string_list *l, const char *s)
{
	l->items = lk_xrealloc(l->items, (l->n + 1) * sizeof(*l->items));
	l->items[l->n++] = lk_xstrdup(s);
}

void lk_string_list_release(struct lk_string_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

static void conf_values_free(struct lk_conf_value *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].value);
	}
	free(v);
}

static void conf_values_push(struct lk_conf_value **v, size_t *n, const char *key,
			     const char *value, int line)
{
	*v = lk_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[*n].key = lk_xstrdup(key);
	(*v)[*n].value = lk_xstrdup(value);
	(*v)[*n].line = line;
	(*n)++;
}

void lk_config_init(struct lk_config *cfg)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	struct lk_global *g = &cfg->global;
	int64_t mtime;

	memset(cfg, 0, sizeof(*cfg));
	cfg->dir = lk_xstrdup(".");
	g->output = lk_xstrdup("out");
	g->compression = LK_COMPRESS_GZIP;
	g->compression_level = -1;
	g->bad_links = 0;	/* LK_BAD_LINK_ERROR */
	g->special_files = 0;	/* LK_SPECIAL_SKIP */
	g->max_layers = LK_MAX_LAYERS_DEFAULT;
	for (size_t i = 0; i < sizeof(default_excludes) / sizeof(default_excludes[0]); i++)
		lk_string_list_push(&g->exclude, default_excludes[i]);
	if (sde && *sde) {
		if (lk_parse_int64(sde, &mtime) == 0 && mtime >= 0)
			g->mtime = mtime;
		else
			lk_log(LK_LOG_WARN, "SOURCE_DATE_EPOCH='%s' is not a whole number of "
			       "seconds >= 0; ignored, using mtime 0", sde);
	}
}

static void app_release(struct lk_app *a)
{
	free(a->name);
	free(a->root);
	free(a->discovery);
	free(a->strategy);
	free(a->output);
	free(a->tag);
	free(a->prefix);
	free(a->workdir);
	free(a->user);
	free(a->shared_store);
	free(a->base);
	free(a->platform);
	free(a->image_name);
	free(a->archive);
	lk_string_list_release(&a->entrypoint);
	lk_string_list_release(&a->cmd);
	lk_string_list_release(&a->env);
	lk_string_list_release(&a->label_keys);
	lk_string_list_release(&a->label_values);
	lk_string_list_release(&a->exclude);
	conf_values_free(a->strategy_opts, a->n_strategy_opts);
	conf_values_free(a->discovery_opts, a->n_discovery_opts);
}

void lk_config_release(struct lk_config *cfg)
{
	struct lk_global *g = &cfg->global;

	free(cfg->path);
	free(cfg->dir);
	lk_string_list_release(&g->plugin_path);
	free(g->output);
	free(g->cache_dir);
	free(g->architecture);
	free(g->os);
	free(g->shared_store);
	lk_string_list_release(&g->exclude);
	for (size_t i = 0; i < cfg->n_apps; i++)
		app_release(&cfg->apps[i]);
	free(cfg->apps);
	for (size_t i = 0; i < cfg->n_plugins; i++) {
		free(cfg->plugins[i].kind);
		free(cfg->plugins[i].name);
		conf_values_free(cfg->plugins[i].values, cfg->plugins[i].n_values);
	}
	free(cfg->plugins);
	memset(cfg, 0, sizeof(*cfg));
}

struct lk_app *lk_config_find_app(struct lk_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_apps; i++)
		if (!strcmp(cfg->apps[i].name, name))
			return &cfg->apps[i];
	return NULL;
}

const struct lk_plugin_section *lk_config_plugin_section(const struct lk_config *cfg,
							 const char *kind, const char *name)
{
	for (size_t i = 0; i < cfg->n_plugins; i++)
		if (!strcmp(cfg->plugins[i].kind, kind) && !strcmp(cfg->plugins[i].name, name))
			return &cfg->plugins[i];
	return NULL;
}

/* "/" + prefix, the default working directory. */
static char *default_workdir(const char *prefix)
{
	return lk_xasprintf("/%s", prefix);
}

static struct lk_app *app_new(struct lk_config *cfg, const char *name, int line)
{
	struct lk_app *a;

	cfg->apps = lk_xrealloc(cfg->apps, (cfg->n_apps + 1) * sizeof(*cfg->apps));
	a = &cfg->apps[cfg->n_apps++];
	memset(a, 0, sizeof(*a));
	a->name = lk_xstrdup(name);
	a->line = line;
	a->format = -1;
	return a;
}

/* Fills what the app's section left unset from the globals and defaults. */
static void app_fill_defaults(struct lk_config *cfg, struct lk_app *a, const char *output)
{
	struct lk_string_list own = a->exclude;

	if (!a->discovery)
		a->discovery = lk_xstrdup("generic-dir");
	if (!a->strategy)
		a->strategy = lk_xstrdup("two-layer");
	if (!a->output)
		a->output = lk_xstrdup(output);
	if (!a->tag)
		a->tag = lk_xstrdup("latest");
	if (!a->prefix)
		a->prefix = lk_xstrdup("app");
	if (!a->workdir)
		a->workdir = default_workdir(a->prefix);
	if (!a->max_layers)
		a->max_layers = cfg->global.max_layers;
	if (a->format < 0)
		a->format = cfg->global.format;
	if (!a->archive && a->format == LK_FORMAT_DOCKER_ARCHIVE)
		a->archive = lk_xasprintf("%s.tar", a->output);
	/* Unset: the global's; "" (set empty in the app): off. */
	if (!a->shared_store && cfg->global.shared_store)
		a->shared_store = lk_xstrdup(cfg->global.shared_store);
	if (a->shared_store && !a->shared_store[0]) {
		free(a->shared_store);
		a->shared_store = NULL;
	}
	/* The global patterns first, then the app's own. */
	memset(&a->exclude, 0, sizeof(a->exclude));
	for (size_t i = 0; i < cfg->global.exclude.n; i++)
		lk_string_list_push(&a->exclude, cfg->global.exclude.items[i]);
	for (size_t i = 0; i < own.n; i++)
		lk_string_list_push(&a->exclude, own.items[i]);
	lk_string_list_release(&own);
}

struct lk_app *lk_config_add_app(struct lk_config *cfg, const char *name, const char *root)
{
	struct lk_app *a;
	char *output;

	if (lk_config_find_app(cfg, name))
		return NULL;
	a = app_new(cfg, name, 0);
	a->root = lk_xstrdup(root);
	output = cfg->path ? lk_xasprintf("%s/%s", cfg->global.output, name) :
		 lk_xasprintf("%s/oci", cfg->global.output);
	app_fill_defaults(cfg, a, output);
	free(output);
	return a;
}

/* ---- pass 1: lines, sections and values as written ---- */

struct raw_section {
	char *name;
	int line;
	struct lk_conf_value *values;
	size_t n_values;
};

struct ini_loader {
	const char *path;		/* as the user named it, for messages */
	const char *buf;
	size_t len, pos;
	int lineno;			/* of the line inih is handling */
	int line_indented;
	int prev_key;			/* inih has a previous key to continue */
	struct raw_section *sections;
	size_t n_sections;
	long cur;			/* index of the current section, -1 = none */
	int failed_line;		/* 0 = no error of ours */
	struct lk_error *err;
};

static int loader_error(struct ini_loader *ld, int line, const char *fmt, ...) LK_PRINTF(3, 4);

static int loader_error(struct ini_loader *ld, int line, const char *fmt, ...)
{
	char msg[3072];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!ld->failed_line) {
		ld->failed_line = line;
		lk_error_set(ld->err, LK_EXIT_USAGE, "%s:%d: %s", ld->path, line, msg);
	}
	return LK_FAILED;
}

/* A byte a text file does not hold (tab, CR before LF and LF aside). */
static int check_text(struct ini_loader *ld)
{
	size_t line_start = 0;
	int line = 1;

	for (size_t i = 0; i < ld->len; i++) {
		unsigned char c = (unsigned char)ld->buf[i];

		if (c == '\n') {
			line++;
			line_start = i + 1;
			continue;
		}
		if (c == '\0')
			return loader_error(ld, line, "NUL byte at column %zu: this is not "
					    "a text file; layering.ini must be plain text",
					    i - line_start + 1);
		if (c == '\r' && i + 1 < ld->len && ld->buf[i + 1] == '\n')
			continue;
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return loader_error(ld, line, "control character 0x%02x at column "
					    "%zu: this looks like binary data; layering.ini "
					    "must be plain text", c, i - line_start + 1);
	}
	return LK_OK;
}

static void section_open(struct ini_loader *ld, const char *name, size_t len)
{
	struct raw_section *s;

	ld->sections = lk_xrealloc(ld->sections, (ld->n_sections + 1) * sizeof(*ld->sections));
	s = &ld->sections[ld->n_sections];
	memset(s, 0, sizeof(*s));
	s->name = lk_xmalloc(len + 1);
	memcpy(s->name, name, len);
	s->name[len] = '\0';
	s->line = ld->lineno;
	ld->cur = (long)ld->n_sections++;
	for (size_t i = 0; i + 1 < ld->n_sections; i++) {
		if (strcmp(ld->sections[i].name, s->name))
			continue;
		if (!strncmp(s->name, "app.", 4))
			loader_error(ld, ld->lineno, "app '%s' is defined twice (first at "
				     "line %d); rename one of them or merge the sections",
				     s->name + 4, ld->sections[i].line);
		else
			loader_error(ld, ld->lineno, "section [%s] appears twice (first at "
				     "line %d); merge the two sections", s->name,
				     ld->sections[i].line);
		break;
	}
}

/*
 * inih's reader: one line into str (at most num - 1 bytes, like fgets).
 * Also tracks the line number and the section headers, as inih sees them:
 * an indented line after a key continues that key's value.
 */
static char *ini_read_line(char *str, int num, void *stream)
{
	struct ini_loader *ld = stream;
	const char *line, *nl, *s;
	size_t n, content, next;

	if (ld->failed_line || ld->pos >= ld->len)
		return NULL;
	line = ld->buf + ld->pos;
	nl = memchr(line, '\n', ld->len - ld->pos);
	n = nl ? (size_t)(nl - line) : ld->len - ld->pos;
	next = ld->pos + n + (nl ? 1 : 0);
	ld->lineno++;
	if (ld->lineno == 1 && n >= 3 && !memcmp(line, "\xef\xbb\xbf", 3)) {
		line += 3;	/* UTF-8 byte order mark */
		n -= 3;
	}
	content = n && line[n - 1] == '\r' ? n - 1 : n;
	/* inih needs room for "\r\n\0": a longer line would be cut in two. */
	if (num < 4 || content > (size_t)num - 3) {
		loader_error(ld, ld->lineno, "line is %zu characters long, the limit is "
			     "%d; split the value over indented continuation lines",
			     content, num - 3);
		return NULL;
	}
	memcpy(str, line, n);
	str[n] = '\n';
	str[n + 1] = '\0';
	ld->pos = next;

	for (s = str; *s == ' ' || *s == '\t'; s++)
		;
	ld->line_indented = s > str;
	if (*s == '[' && !(ld->line_indented && ld->prev_key)) {
		const char *end = strchr(s + 1, ']');

		if (end) {
			ld->prev_key = 0;
			section_open(ld, s + 1, (size_t)(end - s - 1));
		}
	}
	return ld->failed_line ? NULL : str;
}

static int ini_on_value(void *user, const char *section, const char *name, const char *value)
{
	struct ini_loader *ld = user;
	struct raw_section *s;

	if (ld->failed_line)
		return 0;
	if (ld->line_indented && ld->prev_key) {
		/* A continuation line: append to the value it continues. */
		struct lk_conf_value *v;
		char *joined;

		s = &ld->sections[ld->cur];
		v = &s->values[s->n_values - 1];
		joined = v->value[0] ? lk_xasprintf("%s\n%s", v->value, value) : lk_xstrdup(value);
		free(v->value);
		v->value = joined;
		return 1;
	}
	ld->prev_key = 1;
	if (ld->cur < 0) {
		loader_error(ld, ld->lineno, "'%s' is outside any section; put it under "
			     "[layerkit] or an [app.NAME] section", name);
		return 0;
	}
	s = &ld->sections[ld->cur];
	for (size_t i = 0; i < s->n_values; i++) {
		if (!strcmp(s->values[i].key, name)) {
			loader_error(ld, ld->lineno, "duplicate key '%s' in [%s] (first set "
				     "at line %d); remove one of them (to continue a value, "
				     "indent the next line)", name, s->name, s->values[i].line);
			return 0;
		}
	}
	conf_values_push(&s->values, &s->n_values, name, value, ld->lineno);
	return 1;
}

/* The text of line number line (for syntax error messages). */
static void line_text(const struct ini_loader *ld, int line, char *out, size_t size)
{
	const char *p = ld->buf, *end = ld->buf + ld->len;
	size_t n;

	for (int i = 1; i < line && p < end; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		p = nl ? nl + 1 : end;
	}
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	n = 0;
	while (p + n < end && p[n] != '\n' && p[n] != '\r')
		n++;
	if (n >= size)
		n = size - 1;
	memcpy(out, p, n);
	out[n] = '\0';
}

/* ---- pass 2: checking and filling ---- */

struct checker {
	struct lk_config *cfg;
	const char *path;
	struct lk_error *err;
	int output_set;
};

static int conf_error(struct checker *c, int line, const char *fmt, ...) LK_PRINTF(3, 4);

static int conf_error(struct checker *c, int line, const char *fmt, ...)
{
	char msg[3072];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return lk_error_set(c->err, LK_EXIT_USAGE, "%s:%d: %s", c->path, line, msg);
}

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[64];

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) ==
				      tolower((unsigned char)b[j - 1]) ? 0 : 1;
			size_t best = diag + cost;

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* The candidate closest to word, if close enough to be a likely typo. */
static const char *closest(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t best_d = SIZE_MAX;

	for (size_t i = 0; i < n; i++) {
		size_t d = edit_distance(word, cands[i]);

		if (d < best_d) {
			best_d = d;
			best = cands[i];
		}
	}
	if (best && best_d <= (strlen(best) > 5 ? 2u : 1u))
		return best;
	return NULL;
}

/* ASCII classes, whatever the locale: names in the file are ASCII. */
static int ascii_lower(int c)
{
	return c >= 'a' && c <= 'z';
}

static int ascii_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int ascii_alnum(int c)
{
	return ascii_lower(c) || ascii_digit(c) || (c >= 'A' && c <= 'Z');
}

static int is_scalar(struct checker *c, const struct lk_conf_value *v)
{
	if (!strchr(v->value, '\n'))
		return 1;
	conf_error(c, v->line, "'%s' takes one value, but indented continuation lines "
		   "follow it; write the value on one line", v->key);
	return 0;
}

static int need_value(struct checker *c, const struct lk_conf_value *v)
{
	if (!is_scalar(c, v))
		return 0;
	if (v->value[0])
		return 1;
	conf_error(c, v->line, "'%s' is empty; give it a value or remove the line", v->key);
	return 0;
}

static int parse_int_range(struct checker *c, const struct lk_conf_value *v,
			   int64_t min, int64_t max, int64_t *out)
{
	if (!need_value(c, v))
		return LK_FAILED;
	if (lk_parse_int64(v->value, out) < 0)
		return conf_error(c, v->line, "%s = '%s' is not a whole number; use a "
				  "number from %lld to %lld", v->key, v->value,
				  (long long)min, (long long)max);
	if (*out < min || *out > max)
		return conf_error(c, v->line, "%s = %lld is out of range; use a number "
				  "from %lld to %lld", v->key, (long long)*out,
				  (long long)min, (long long)max);
	return LK_OK;
}

static int parse_bool_value(struct checker *c, const struct lk_conf_value *v, int *out)
{
	if (!need_value(c, v))
		return LK_FAILED;
	if (lk_parse_bool(v->value, out) < 0)
		return conf_error(c, v->line, "%s = '%s' is not a boolean; use true or "
				  "false (also yes/no, on/off, 1/0)", v->key, v->value);
	return LK_OK;
}

/* One of names[]; its index in *out. */
static int parse_enum(struct checker *c, const struct lk_conf_value *v,
		      const char *const *names, size_t n, int *out)
{
	char allowed[256] = "";

	if (!need_value(c, v))
		return LK_FAILED;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(v->value, names[i])) {
			*out = (int)i;
			return LK_OK;
		}
		snprintf(allowed + strlen(allowed), sizeof(allowed) - strlen(allowed),
			 "%s%s", i ? ", " : "", names[i]);
	}
	return conf_error(c, v->line, "%s = '%s' is not allowed; use one of: %s",
			  v->key, v->value, allowed);
}

/* A path as written, resolved against the config file's directory. */
static char *resolve_path(const struct checker *c, const char *p)
{
	if (p[0] == '/')
		return lk_xstrdup(p);
	return lk_xasprintf("%s/%s", c->cfg->dir, p);
}

static int parse_path(struct checker *c, const struct lk_conf_value *v, char **out)
{
	if (!need_value(c, v))
		return LK_FAILED;
	free(*out);
	*out = resolve_path(c, v->value);
	return LK_OK;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* Splits on any byte of seps (and newlines), trims, drops empty items. */
static void split_list(const char *value, const char *seps, struct lk_string_list *out)
{
	char *copy = lk_xstrdup(value), *save = NULL, *tok;
	char delims[16];

	snprintf(delims, sizeof(delims), "%s\n", seps);
	for (tok = strtok_r(copy, delims, &save); tok; tok = strtok_r(NULL, delims, &save)) {
		char *item = trim(tok);

		if (*item)
			lk_string_list_push(out, item);
	}
	free(copy);
}

static int valid_name(const char *s, int app)
{
	if (!*s)
		return 0;
	if (app && !(ascii_lower((unsigned char)*s) || ascii_digit((unsigned char)*s)))
		return 0;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ascii_lower(ch) || ascii_digit(ch) || ch == '-')
			continue;
		if (app && (ch == '.' || ch == '_'))
			continue;
		return 0;
	}
	return 1;
}

static int parse_plugin_name(struct checker *c, const struct lk_conf_value *v, char **out)
{
	if (!need_value(c, v))
		return LK_FAILED;
	if (!valid_name(v->value, 0))
		return conf_error(c, v->line, "%s = '%s' is not a plugin name; plugin "
				  "names are lowercase letters, digits and '-' (e.g. "
				  "two-layer); `layerkit plugins` lists them", v->key, v->value);
	free(*out);
	*out = lk_xstrdup(v->value);
	return LK_OK;
}

/* ---- [layerkit] ---- */

static int g_plugin_path(struct checker *c, const struct lk_conf_value *v)
{
	struct lk_string_list items = { 0 };
	struct lk_global *g = &c->cfg->global;

	split_list(v->value, ":", &items);
	lk_string_list_release(&g->plugin_path);
	for (size_t i = 0; i < items.n; i++) {
		char *p = resolve_path(c, items.items[i]);

		lk_string_list_push(&g->plugin_path, p);
		free(p);
	}
	lk_string_list_release(&items);
	return LK_OK;
}

static int g_output(struct checker *c, const struct lk_conf_value *v)
{
	c->output_set = 1;
	return parse_path(c, v, &c->cfg->global.output);
}

static int g_compression(struct checker *c, const struct lk_conf_value *v)
{
	/* Index = enum lk_compression. */
	static const char *const names[] = { "none", "gzip", "zstd" };
	int val;

	if (parse_enum(c, v, names, 3, &val) != LK_OK)
		return LK_FAILED;
	c->cfg->global.compression = (enum lk_compression)val;
	return LK_OK;
}

static int g_compression_level(struct checker *c, const struct lk_conf_value *v)
{
	int64_t val;

	/* The range is checked against the compressor once [layerkit] is read. */
	if (parse_int_range(c, v, -1, 22, &val) != LK_OK)
		return LK_FAILED;
	c->cfg->global.compression_level = (int)val;
	return LK_OK;
}

static int g_mtime(struct checker *c, const struct lk_conf_value *v)
{
	if (!need_value(c, v))
		return LK_FAILED;
	if (lk_parse_int64(v->value, &c->cfg->global.mtime) < 0 || c->cfg->global.mtime < 0)
		return conf_error(c, v->line, "mtime = '%s' is not a whole number of "
				  "seconds since 1970 (>= 0); use e.g. 0 or 1700000000",
				  v->value);
	return LK_OK;
}

static int g_jobs(struct checker *c, const struct lk_conf_value *v)
{
	int64_t val;

	if (parse_int_range(c, v, 0, 1024, &val) != LK_OK)
		return LK_FAILED;
	c->cfg->global.jobs = (unsigned)val;
	return LK_OK;
}

static int g_cache_dir(struct checker *c, const struct lk_conf_value *v)
{
	return parse_path(c, v, &c->cfg->global.cache_dir);
}

/* OCI platform words: "amd64", "arm64", "linux" ... */
static int parse_platform_word(struct checker *c, const struct lk_conf_value *v, char **out)
{
	if (!need_value(c, v))
		return LK_FAILED;
	for (const char *p = v->value; *p; p++)
		if (!ascii_lower((unsigned char)*p) && !ascii_digit((unsigned char)*p) && *p != '_')
			return conf_error(c, v->line, "%s = '%s' is not an OCI platform "
					  "name; use the GOARCH/GOOS spelling, e.g. "
					  "architecture = amd64, os = linux", v->key, v->value);
	free(*out);
	*out = lk_xstrdup(v->value);
	return LK_OK;
}

static int g_verify(struct checker *c, const struct lk_conf_value *v)
{
	/* Index = enum lk_verify (cache.h). */
	static const char *const names[] = { "stat", "content" };

	return parse_enum(c, v, names, 2, &c->cfg->global.verify);
}

static int g_format(struct checker *c, const struct lk_conf_value *v)
{
	/* Index = enum lk_output_format (config.h). */
	static const char *const names[] = { "oci", "docker-archive" };

	return parse_enum(c, v, names, 2, &c->cfg->global.format);
}

static int g_architecture(struct checker *c, const struct lk_conf_value *v)
{
	return parse_platform_word(c, v, &c->cfg->global.architecture);
}

static int g_os(struct checker *c, const struct lk_conf_value *v)
{
	return parse_platform_word(c, v, &c->cfg->global.os);
}

static int g_bad_links(struct checker *c, const struct lk_conf_value *v)
{
	/* Index = enum lk_bad_link_policy. */
	static const char *const names[] = { "error", "skip" };

	return parse_enum(c, v, names, 2, &c->cfg->global.bad_links);
}

static int g_special_files(struct checker *c, const struct lk_conf_value *v)
{
	/* Index = enum lk_special_policy. */
	static const char *const names[] = { "skip", "error" };

	return parse_enum(c, v, names, 2, &c->cfg->global.special_files);
}

static int g_keep_setuid(struct checker *c, const struct lk_conf_value *v)
{
	return parse_bool_value(c, v, &c->cfg->global.keep_setuid);
}

static int g_exclude(struct checker *c, const struct lk_conf_value *v)
{
	/* Setting it replaces the defaults: "exclude =" keeps everything. */
	lk_string_list_release(&c->cfg->global.exclude);
	split_list(v->value, ",", &c->cfg->global.exclude);
	return LK_OK;
}

static int g_max_layers(struct checker *c, const struct lk_conf_value *v)
{
	int64_t val;

	if (parse_int_range(c, v, 1, LK_MAX_LAYERS_CAP, &val) != LK_OK)
		return LK_FAILED;
	c->cfg->global.max_layers = (uint32_t)val;
	return LK_OK;
}


/* "/opt/layerkit/store" -> "opt/layerkit/store"; an empty value gives "" (off). */
static int parse_store(struct checker *c, const struct lk_conf_value *v, char **out)
{
	char *p;

	if (!is_scalar(c, v))
		return LK_FAILED;
	p = lk_path_normalise(v->value);
	if (v->value[0] && (v->value[0] != '/' || !p || !p[0])) {
		free(p);
		return conf_error(c, v->line, "shared_store = '%s' is not a directory in the "
				  "image; give an absolute path without '..', e.g. "
				  "/opt/layerkit/store (or leave it empty: off)", v->value);
	}
	free(*out);
	*out = p;
	return LK_OK;
}

static int g_shared_store(struct checker *c, const struct lk_conf_value *v)
{
	if (parse_store(c, v, &c->cfg->global.shared_store) != LK_OK)
		return LK_FAILED;
	if (!c->cfg->global.shared_store[0]) {
		free(c->cfg->global.shared_store);
		c->cfg->global.shared_store = NULL;
	}
	return LK_OK;
}

struct global_key {
	const char *key;
	int (*apply)(struct checker *c, const struct lk_conf_value *v);
};

static const struct global_key global_keys[] = {
	{ "plugin_path", g_plugin_path },
	{ "output", g_output },
	{ "compression", g_compression },
	{ "compression_level", g_compression_level },
	{ "mtime", g_mtime },
	{ "jobs", g_jobs },
	{ "cache_dir", g_cache_dir },
	{ "verify", g_verify },
	{ "architecture", g_architecture },
	{ "os", g_os },
	{ "bad_links", g_bad_links },
	{ "special_files", g_special_files },
	{ "keep_setuid", g_keep_setuid },
	{ "exclude", g_exclude },
	{ "max_layers", g_max_layers },
	{ "shared_store", g_shared_store },
	{ "format", g_format },
};

#define N_GLOBAL_KEYS (sizeof(global_keys) / sizeof(global_keys[0]))

/* ---- [app.NAME] ---- */

static int a_root(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	return parse_path(c, v, &a->root);
}

static int a_discovery(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	return parse_plugin_name(c, v, &a->discovery);
}

static int a_strategy(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	return parse_plugin_name(c, v, &a->strategy);
}

static int a_output(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	return parse_path(c, v, &a->output);
}

static int a_tag(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	const char *t = v->value;
	size_t n = strlen(t);
	int ok = n >= 1 && n <= 128 && (ascii_alnum((unsigned char)t[0]) || t[0] == '_');

	if (!need_value(c, v))
		return LK_FAILED;
	for (size_t i = 1; ok && i < n; i++)
		ok = ascii_alnum((unsigned char)t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-';
	if (!ok)
		return conf_error(c, v->line, "tag = '%s' is not a valid OCI tag; use up "
				  "to 128 letters, digits, '_', '.' and '-', not starting "
				  "with '.' or '-' (e.g. latest, v1.2.3)", t);
	free(a->tag);
	a->tag = lk_xstrdup(t);
	return LK_OK;
}

/* A JSON array of strings, or words separated by white space. */
static int parse_command(struct checker *c, const struct lk_conf_value *v,
			 struct lk_string_list *out)
{
	const char *s = v->value;
	json_error_t jerr;
	json_t *arr;
	size_t i;
	json_t *item;

	lk_string_list_release(out);
	while (isspace((unsigned char)*s))
		s++;
	if (*s != '[') {
		split_list(s, " \t", out);
		return LK_OK;
	}
	arr = json_loads(s, JSON_REJECT_DUPLICATES, &jerr);
	if (!arr)
		return conf_error(c, v->line + (jerr.line > 1 ? jerr.line - 1 : 0),
				  "%s is not a valid JSON array: %s; write e.g. "
				  "[\"python3\", \"-m\", \"app\"] or plain words",
				  v->key, jerr.text);
	/* It starts with '[' and jansson decodes only arrays and objects
	 * without JSON_DECODE_ANY: arr is an array. */
	json_array_foreach(arr, i, item) {
		if (!json_is_string(item)) {
			json_decref(arr);
			lk_string_list_release(out);
			return conf_error(c, v->line, "%s: item %zu of the JSON array is "
					  "not a string; quote every item", v->key, i + 1);
		}
		lk_string_list_push(out, json_string_value(item));
	}
	json_decref(arr);
	return LK_OK;
}

static int a_entrypoint(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	a->has_entrypoint = 1;
	return parse_command(c, v, &a->entrypoint);
}

static int a_cmd(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	a->has_cmd = 1;
	return parse_command(c, v, &a->cmd);
}


static int a_prefix(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	char *p;

	if (!is_scalar(c, v))
		return LK_FAILED;
	p = lk_path_normalise(v->value);
	if (!p)
		return conf_error(c, v->line, "prefix = '%s' contains '..'; name a "
				  "directory inside the image, e.g. app or opt/web ('/' "
				  "puts the tree at the image root)", v->value);
	free(a->prefix);
	a->prefix = p;
	return LK_OK;
}

static int a_workdir(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	if (!need_value(c, v))
		return LK_FAILED;
	if (v->value[0] != '/')
		return conf_error(c, v->line, "workdir = '%s' is relative; the working "
				  "directory in an image is absolute, e.g. /app", v->value);
	free(a->workdir);
	a->workdir = lk_xstrdup(v->value);
	a->workdir_set = 1;
	return LK_OK;
}

static int numeric_id(const char *s, size_t n)
{
	uint64_t v = 0;

	if (!n || n > 10)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!ascii_digit((unsigned char)s[i]))
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return v <= 4294967294u;	/* (uid_t)-1 means "no change" */
}

static int a_user(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	const char *s = v->value, *colon;

	if (!need_value(c, v))
		return LK_FAILED;
	colon = strchr(s, ':');
	if (colon ? !numeric_id(s, (size_t)(colon - s)) || !numeric_id(colon + 1, strlen(colon + 1))
		  : !numeric_id(s, strlen(s)))
		return conf_error(c, v->line, "user = '%s' is not a numeric uid or uid:gid "
				  "(0 to 4294967294); write e.g. 65532:65532: a user name "
				  "would have to exist in the image's /etc/passwd, which "
				  "layerkit does not write", s);
	free(a->user);
	a->user = lk_xstrdup(s);
	return LK_OK;
}

static int a_exclude(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	split_list(v->value, ",", &a->exclude);
	return LK_OK;
}

static int a_max_layers(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	int64_t val;

	if (parse_int_range(c, v, 1, LK_MAX_LAYERS_CAP, &val) != LK_OK)
		return LK_FAILED;
	a->max_layers = (uint32_t)val;
	return LK_OK;
}

static int a_shared_store(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	return parse_store(c, v, &a->shared_store);
}

static int a_base(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	/* Layout or registry reference: told apart when the build resolves it
	 * (core/base.h), relative to the config file's directory. */
	if (!need_value(c, v))
		return LK_FAILED;
	free(a->base);
	a->base = lk_xstrdup(v->value);
	return LK_OK;
}

static int a_platform(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	const char *s = v->value, *slash = strchr(s, '/');

	if (!need_value(c, v))
		return LK_FAILED;
	if (!slash || slash == s || !slash[1] || slash[1] == '/' || strchr(s, ' '))
		return conf_error(c, v->line, "platform = '%s' is not OS/ARCH[/VARIANT]; "
				  "write e.g. linux/amd64 or linux/arm64/v8", s);
	free(a->platform);
	a->platform = lk_xstrdup(s);
	return LK_OK;
}

static int a_image_name(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	if (!need_value(c, v))
		return LK_FAILED;
	free(a->image_name);
	a->image_name = lk_xstrdup(v->value);
	return LK_OK;
}

static int a_format(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	static const char *const names[] = { "oci", "docker-archive" };

	return parse_enum(c, v, names, 2, &a->format);
}

static int a_archive(struct checker *c, struct lk_app *a, const struct lk_conf_value *v)
{
	return parse_path(c, v, &a->archive);
}

struct app_key {
	const char *key;
	int (*apply)(struct checker *c, struct lk_app *a, const struct lk_conf_value *v);
};

static const struct app_key app_keys[] = {
	{ "root", a_root },
	{ "discovery", a_discovery },
	{ "strategy", a_strategy },
	{ "output", a_output },
	{ "tag", a_tag },
	{ "entrypoint", a_entrypoint },
	{ "cmd", a_cmd },
	{ "workdir", a_workdir },
	{ "user", a_user },
	{ "prefix", a_prefix },
	{ "exclude", a_exclude },
	{ "max_layers", a_max_layers },
	{ "shared_store", a_shared_store },
	{ "base", a_base },
	{ "platform", a_platform },
	{ "image_name", a_image_name },
	{ "format", a_format },
	{ "archive", a_archive },
};

#define N_APP_KEYS (sizeof(app_keys) / sizeof(app_keys[0]))

/* Keys of the form "<prefix>.KEY" in an app section. */
static const char *const app_key_prefixes[] = { "env", "label", "strategy", "discovery" };

static int valid_env_name(const char *s)
{
	if (!*s || ascii_digit((unsigned char)*s))
		return 0;
	for (; *s; s++)
		if (!ascii_alnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

static int valid_option_key(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!ascii_alnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return 0;
	return 1;
}

static int app_dotted_key(struct checker *c, struct lk_app *a, const struct lk_conf_value *v,
			  const char *prefix, const char *sub)
{
	if (!strcmp(prefix, "env")) {
		char *kv;

		if (!valid_env_name(sub))
			return conf_error(c, v->line, "'%s': '%s' is not an environment "
					  "variable name; use letters, digits and '_', not "
					  "starting with a digit", v->key, sub);
		kv = lk_xasprintf("%s=%s", sub, v->value);
		lk_string_list_push(&a->env, kv);
		free(kv);
		return LK_OK;
	}
	if (!strcmp(prefix, "label")) {
		for (const char *p = sub; *p; p++)
			if (isspace((unsigned char)*p) || *p == '=')
				return conf_error(c, v->line, "'%s': a label key holds no white "
						  "space or '='; use e.g. label.org.opencontainers."
						  "image.source", v->key);
		if (!*sub)
			return conf_error(c, v->line, "'%s': the label key is empty; write "
					  "label.KEY = value", v->key);
		lk_string_list_push(&a->label_keys, sub);
		lk_string_list_push(&a->label_values, v->value);
		return LK_OK;
	}
	if (!valid_option_key(sub))
		return conf_error(c, v->line, "'%s': '%s' is not an option name; write "
				  "%s.OPTION = value (OPTION as `layerkit plugins -v` lists it)",
				  v->key, sub, prefix);
	if (!strcmp(prefix, "strategy"))
		conf_values_push(&a->strategy_opts, &a->n_strategy_opts, sub, v->value, v->line);
	else
		conf_values_push(&a->discovery_opts, &a->n_discovery_opts, sub, v->value, v->line);
	return LK_OK;
}

static int is_global_key(const char *key)
{
	for (size_t i = 0; i < N_GLOBAL_KEYS; i++)
		if (!strcmp(global_keys[i].key, key))
			return 1;
	return 0;
}

static int is_app_key(const char *key)
{
	for (size_t i = 0; i < N_APP_KEYS; i++)
		if (!strcmp(app_keys[i].key, key))
			return 1;
	return 0;
}

static int unknown_app_key(struct checker *c, const char *section, const struct lk_conf_value *v)
{
	const char *cands[N_APP_KEYS + 4];
	const char *dot = strchr(v->key, '.');
	const char *hint;

	if (dot) {
		char head[64];
		size_t n = (size_t)(dot - v->key);

		snprintf(head, sizeof(head), "%.*s", (int)(n < 63 ? n : 63), v->key);
		hint = closest(head, app_key_prefixes, 4);
		if (hint)
			return conf_error(c, v->line, "unknown key '%s' in [%s]; did you "
					  "mean '%s%s'?", v->key, section, hint, dot);
	}
	if (is_global_key(v->key))
		return conf_error(c, v->line, "'%s' is a global key; set it in [layerkit] "
				  "(it applies to every app)", v->key);
	for (size_t i = 0; i < N_APP_KEYS; i++)
		cands[i] = app_keys[i].key;
	hint = closest(v->key, cands, N_APP_KEYS);
	if (hint)
		return conf_error(c, v->line, "unknown key '%s' in [%s]; did you mean "
				  "'%s'?", v->key, section, hint);
	return conf_error(c, v->line, "unknown key '%s' in [%s]; docs/config.md lists "
			  "the keys of an app (root, strategy, tag, env.NAME ...)",
			  v->key, section);
}

static int check_app(struct checker *c, const struct raw_section *s)
{
	const char *name = s->name + 4;
	const struct lk_conf_value *root = NULL;
	struct lk_app *a;
	char *output;

	if (!valid_name(name, 1))
		return conf_error(c, s->line, "[%s]: '%s' is not a valid app name; use "
				  "lowercase letters, digits, '.', '_' and '-', starting "
				  "with a letter or digit", s->name, name);
	a = app_new(c->cfg, name, s->line);
	for (size_t i = 0; i < s->n_values; i++) {
		const struct lk_conf_value *v = &s->values[i];
		const char *dot = strchr(v->key, '.');
		size_t k;

		for (k = 0; k < N_APP_KEYS; k++)
			if (!strcmp(app_keys[k].key, v->key))
				break;
		if (k < N_APP_KEYS) {
			if (!strcmp(v->key, "root"))
				root = v;
			if (app_keys[k].apply(c, a, v) != LK_OK)
				return LK_FAILED;
			continue;
		}
		if (dot) {
			size_t j;

			for (j = 0; j < 4; j++)
				if (strlen(app_key_prefixes[j]) == (size_t)(dot - v->key) &&
				    !strncmp(v->key, app_key_prefixes[j], (size_t)(dot - v->key)))
					break;
			if (j < 4) {
				if (app_dotted_key(c, a, v, app_key_prefixes[j], dot + 1) != LK_OK)
					return LK_FAILED;
				continue;
			}
		}
		return unknown_app_key(c, s->name, v);
	}
	if (!root)
		return conf_error(c, s->line, "app '%s' has no root; add 'root = DIR' "
				  "(the directory to pack, relative to this file)", name);
	output = lk_xasprintf("%s/%s", c->cfg->global.output, name);
	app_fill_defaults(c->cfg, a, output);
	free(output);
	return LK_OK;
}

static int check_global(struct checker *c, const struct raw_section *s)
{
	const char *cands[N_GLOBAL_KEYS];
	const struct lk_conf_value *level = NULL;
	struct lk_global *g = &c->cfg->global;

	for (size_t i = 0; i < s->n_values; i++) {
		const struct lk_conf_value *v = &s->values[i];
		const char *hint;
		size_t k;

		for (k = 0; k < N_GLOBAL_KEYS; k++)
			if (!strcmp(global_keys[k].key, v->key))
				break;
		if (k < N_GLOBAL_KEYS) {
			if (global_keys[k].apply(c, v) != LK_OK)
				return LK_FAILED;
			if (!strcmp(v->key, "compression_level"))
				level = v;
			continue;
		}
		if (is_app_key(v->key) || strchr(v->key, '.'))
			return conf_error(c, v->line, "'%s' belongs in an [app.NAME] section, "
					  "not in [layerkit]", v->key);
		for (size_t j = 0; j < N_GLOBAL_KEYS; j++)
			cands[j] = global_keys[j].key;
		hint = closest(v->key, cands, N_GLOBAL_KEYS);
		if (hint)
			return conf_error(c, v->line, "unknown key '%s' in [layerkit]; did you "
					  "mean '%s'?", v->key, hint);
		return conf_error(c, v->line, "unknown key '%s' in [layerkit]; docs/config.md "
				  "lists the global keys", v->key);
	}
	if (level && g->compression_level != -1) {
		int lo = 1, hi = g->compression == LK_COMPRESS_ZSTD ? 19 : 9;

		if (g->compression == LK_COMPRESS_NONE)
			return conf_error(c, level->line, "compression_level is set but "
					  "compression = none; remove the level or choose gzip "
					  "or zstd");
		if (g->compression_level < lo || g->compression_level > hi)
			return conf_error(c, level->line, "compression_level = %d is out of "
					  "range for %s; use %d to %d (or -1 for the default)",
					  g->compression_level,
					  g->compression == LK_COMPRESS_ZSTD ? "zstd" : "gzip",
					  lo, hi);
	}
	return LK_OK;
}

static int check_plugin_section(struct checker *c, struct raw_section *s, const char *kind)
{
	const char *name = s->name + strlen(kind) + 1;
	struct lk_plugin_section *p;

	if (!valid_name(name, 0))
		return conf_error(c, s->line, "[%s]: '%s' is not a plugin name; plugin "
				  "names are lowercase letters, digits and '-'", s->name, name);
	c->cfg->plugins = lk_xrealloc(c->cfg->plugins,
				      (c->cfg->n_plugins + 1) * sizeof(*c->cfg->plugins));
	p = &c->cfg->plugins[c->cfg->n_plugins++];
	p->kind = lk_xstrdup(kind);
	p->name = lk_xstrdup(name);
	p->line = s->line;
	/* Validated later against the plugin's declared options. */
	p->values = s->values;
	p->n_values = s->n_values;
	s->values = NULL;
	s->n_values = 0;
	return LK_OK;
}

static int unknown_section(struct checker *c, const struct raw_section *s)
{
	static const char *const kinds[] = { "app", "strategy", "discovery", "layerkit" };
	const char *dot = strchr(s->name, '.');
	char head[64];
	const char *hint;

	snprintf(head, sizeof(head), "%.*s", dot ? (int)(dot - s->name) : 63, s->name);
	hint = closest(head, kinds, 4);
	if (hint && !strcmp(hint, "layerkit"))
		return conf_error(c, s->line, "unknown section [%s]; did you mean "
				  "[layerkit]?", s->name);
	if (hint && dot)
		return conf_error(c, s->line, "unknown section [%s]; did you mean "
				  "[%s%s]?", s->name, hint, dot);
	return conf_error(c, s->line, "unknown section [%s]; sections are [layerkit], "
			  "[app.NAME], [strategy.NAME] and [discovery.NAME]", s->name);
}

static int check_sections(struct checker *c, struct raw_section *sections, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(sections[i].name, "layerkit") &&
		    check_global(c, &sections[i]) != LK_OK)
			return LK_FAILED;
	if (!c->output_set) {
		/* The default output sits next to the file, like the apps. */
		free(c->cfg->global.output);
		c->cfg->global.output = resolve_path(c, "out");
	}
	for (size_t i = 0; i < n; i++) {
		struct raw_section *s = &sections[i];
		int ret = LK_OK;

		if (!strcmp(s->name, "layerkit"))
			continue;
		if (!strncmp(s->name, "app.", 4))
			ret = check_app(c, s);
		else if (!strncmp(s->name, "strategy.", 9))
			ret = check_plugin_section(c, s, "strategy");
		else if (!strncmp(s->name, "discovery.", 10))
			ret = check_plugin_section(c, s, "discovery");
		else
			ret = unknown_section(c, s);
		if (ret != LK_OK)
			return ret;
	}
	return LK_OK;
}

/* ---- reading the file ---- */

static int read_config_file(const char *path, char **buf, size_t *len, struct lk_error *err)
{
	struct stat st;
	size_t got = 0;
	int fd, ret = LK_FAILED;

	*buf = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return lk_error_set(err, LK_EXIT_USAGE, "%s: no such file; check the "
					    "path given with -c (config/layering.ini is an "
					    "annotated example)", path);
		return lk_error_set(err, LK_EXIT_USAGE, "%s: cannot open: %s", path,
				    strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		lk_error_set(err, LK_EXIT_USAGE, "%s: %s", path, strerror(errno));
		goto out_close_fd;
	}
	if (S_ISDIR(st.st_mode)) {
		lk_error_set(err, LK_EXIT_USAGE, "%s: is a directory; name the file, e.g. "
			     "%s/layering.ini", path, path);
		goto out_close_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		lk_error_set(err, LK_EXIT_USAGE, "%s: not a regular file; name a "
			     "layering.ini file", path);
		goto out_close_fd;
	}
	if (st.st_size > CONFIG_MAX_BYTES) {
		lk_error_set(err, LK_EXIT_USAGE, "%s: %lld bytes is too large for a "
			     "configuration file (at most %d); is this the right file?",
			     path, (long long)st.st_size, CONFIG_MAX_BYTES);
		goto out_close_fd;
	}
	*buf = lk_xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			lk_error_set(err, LK_EXIT_USAGE, "%s: cannot read: %s", path,
				     strerror(errno));
			goto out_free_buf;
		}
		if (n == 0)
			break;	/* shrank while we read: parse what is there */
		got += (size_t)n;
	}
	(*buf)[got] = '\0';
	*len = got;
	ret = LK_OK;
	goto out_close_fd;

out_free_buf:
	free(*buf);
	*buf = NULL;
out_close_fd:
	close(fd);
	return ret;
}

static char *config_dir_of(const char *path)
{
	char *copy = lk_xstrdup(path);
	char *dir = dirname(copy);
	char *abs = realpath(dir, NULL);
	char *out = lk_xstrdup(abs ? abs : dir);

	free(abs);
	free(copy);
	return out;
}

int lk_config_load(struct lk_config *cfg, const char *path, struct lk_error *err)
{
	struct ini_loader ld = { 0 };
	struct checker c = { 0 };
	char *buf;
	size_t len = 0;
	int ret;

	if (read_config_file(path, &buf, &len, err) != LK_OK)
		return LK_FAILED;
	free(cfg->path);
	cfg->path = lk_xstrdup(path);
	free(cfg->dir);
	cfg->dir = config_dir_of(path);

	ld.path = path;
	ld.buf = buf;
	ld.len = len;
	ld.cur = -1;
	ld.err = err;
	if (check_text(&ld) != LK_OK) {
		ret = LK_FAILED;
		goto out_free_sections;
	}
	ret = ini_parse_stream(ini_read_line, &ld, ini_on_value, &ld);
	if (ret > 0 && (!ld.failed_line || ret < ld.failed_line)) {
		char text[96];

		line_text(&ld, ret, text, sizeof(text));
		if (text[0] == '[')
			lk_error_set(err, LK_EXIT_USAGE, "%s:%d: '%s': a section header needs "
				     "a closing ']' (and no ' ;' inside); write e.g. [app.web]",
				     path, ret, text);
		else
			lk_error_set(err, LK_EXIT_USAGE, "%s:%d: '%s': expected 'key = value', "
				     "'[section]' or a comment (';' or '#')", path, ret, text);
		ret = LK_FAILED;
		goto out_free_sections;
	}
	if (ret == -2) {
		ret = lk_error_set(err, LK_EXIT_USAGE, "%s: out of memory while parsing", path);
		goto out_free_sections;
	}
	if (ld.failed_line) {
		ret = LK_FAILED;
		goto out_free_sections;
	}
	c.cfg = cfg;
	c.path = path;
	c.err = err;
	ret = check_sections(&c, ld.sections, ld.n_sections);

out_free_sections:
	for (size_t i = 0; i < ld.n_sections; i++) {
		free(ld.sections[i].name);
		conf_values_free(ld.sections[i].values, ld.sections[i].n_values);
	}
	free(ld.sections);
	free(buf);
	return ret == LK_OK ? LK_OK : LK_FAILED;
}
