/*
 * generic-dir - units of any directory tree, from glob rules.
 *
 * Each option (interpreter, packages, support, app) is a list of fnmatch
 * globs (FNM_PATHNAME: '*' stops at '/') matched against the directory and
 * file paths of the tree.  A matched path and everything below it is one
 * unit of that kind, named by its last component ("@scope/name" under a
 * directory starting with '@').  Rules are tried in a fixed order, the
 * kinds as listed above and each list as written, and for every file the
 * first rule that matches one of its paths wins (the shortest path of that
 * rule).  What no rule claims is one "app" unit.
 *
 * With no configuration only the packages rules are set: scoped npm
 * packages (node_modules/@SCOPE/NAME) first, or "@scope" would be one
 * unit, then node_modules/NAME and vendor/NAME; see generic_dir_options.
 *
 * Each directory is matched once however many files it holds: the tree is
 * sorted so that a directory's entries follow it, and the result for each
 * directory of the current path is kept on a stack.
 */
#include <layerkit/plugin.h>

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct lk_option_spec generic_dir_options[] = {
	{ "interpreter", LK_OPT_LIST, NULL,
	  "globs of interpreter units, e.g. runtime/*", 0, 0 },
	{ "packages", LK_OPT_LIST, "node_modules/@*/*, node_modules/*, vendor/*",
	  "globs of package units (tried in this order)", 0, 0 },
	{ "support", LK_OPT_LIST, NULL,
	  "globs of support units (tooling, shared libraries)", 0, 0 },
	{ "app", LK_OPT_LIST, NULL,
	  "globs of extra app units; what no rule claims is the \"app\" unit anyway", 0, 0 },
	{ "read_versions", LK_OPT_BOOL, "true",
	  "take a package's version from the \"version\" of its package.json", 0, 0 },
	{ NULL, 0, NULL, NULL, 0, 0 },
};

/* The rule lists, in the order they are tried. */
static const struct {
	const char *key;
	uint32_t kind;
} rule_lists[] = {
	{ "interpreter", LK_UNIT_INTERPRETER },
	{ "packages", LK_UNIT_PACKAGE },
	{ "support", LK_UNIT_SUPPORT },
	{ "app", LK_UNIT_APP },
};

#define NO_RULE 0x7fffffff
#define PACKAGE_JSON_MAX (1024 * 1024)

struct rule {
	const char *list;	/* the option it came from */
	uint32_t kind;
	char *glob;		/* normalised: no leading "./" or '/', no trailing '/' */
};

/* A path a rule matched: one unit. */
struct match {
	const char *path;	/* points into a tree path; length path_len */
	size_t path_len;
	int rule;
	char *name;
	int unit;
};

/* One directory of the current path and what matched it. */
struct level {
	size_t end;		/* the directory is path[0..end) */
	int rule;		/* first rule matching it, or NO_RULE */
	int match;		/* its match once one was made, or -1 */
};

struct generic_dir {
	const struct lk_host *host;
	struct lk_ctx *ctx;
	const struct lk_tree *tree;
	struct rule *rules;
	size_t n_rules;
	struct match *matches;
	size_t n_matches, cap_matches;
	int32_t *match_of_file;	/* per file: match or -1 (the rest) */
	char *scratch;		/* a path prefix, NUL-terminated for fnmatch */
	size_t cap_scratch;
	int warned;
};

static int oom(struct generic_dir *gd)
{
	gd->host->set_error(gd->ctx, "out of memory");
	return LK_FATAL;
}

static int load_rules(struct generic_dir *gd)
{
	size_t total = 0;

	for (size_t l = 0; l < sizeof(rule_lists) / sizeof(rule_lists[0]); l++)
		total += gd->host->opt_list_count(gd->ctx, rule_lists[l].key);
	gd->rules = calloc(total ? total : 1, sizeof(*gd->rules));
	if (!gd->rules)
		return oom(gd);
	for (size_t l = 0; l < sizeof(rule_lists) / sizeof(rule_lists[0]); l++) {
		size_t n = gd->host->opt_list_count(gd->ctx, rule_lists[l].key);

		for (size_t i = 0; i < n; i++) {
			const char *g = gd->host->opt_list_item(gd->ctx, rule_lists[l].key, i);
			size_t len;

			while (g && (g[0] == '/' || (g[0] == '.' && g[1] == '/')))
				g += g[0] == '/' ? 1 : 2;
			if (!g || !*g)
				continue;
			len = strlen(g);
			while (len && g[len - 1] == '/')
				len--;
			gd->rules[gd->n_rules].list = rule_lists[l].key;
			gd->rules[gd->n_rules].kind = rule_lists[l].kind;
			gd->rules[gd->n_rules].glob = strndup(g, len);
			if (!gd->rules[gd->n_rules].glob)
				return oom(gd);
			gd->n_rules++;
		}
	}
	return LK_OK;
}

/* The first rule matching path[0..len), or NO_RULE. */
static int first_rule(struct generic_dir *gd, const char *path, size_t len)
{
	if (len + 1 > gd->cap_scratch) {
		char *p = realloc(gd->scratch, len + 1);

		if (!p)
			return -1;
		gd->scratch = p;
		gd->cap_scratch = len + 1;
	}
	memcpy(gd->scratch, path, len);
	gd->scratch[len] = '\0';
	for (size_t r = 0; r < gd->n_rules; r++)
		if (fnmatch(gd->rules[r].glob, gd->scratch, FNM_PATHNAME) == 0)
			return (int)r;
	return NO_RULE;
}

static int new_match(struct generic_dir *gd, const char *path, size_t len, int rule)
{
	if (gd->n_matches == gd->cap_matches) {
		size_t cap = gd->cap_matches ? 2 * gd->cap_matches : 64;
		struct match *m = realloc(gd->matches, cap * sizeof(*m));

		if (!m)
			return -1;
		gd->matches = m;
		gd->cap_matches = cap;
	}
	gd->matches[gd->n_matches] = (struct match){ .path = path, .path_len = len,
						     .rule = rule, .unit = -1 };
	return (int)gd->n_matches++;
}

/* Pass 1: which match, if any, each file belongs to. */
static int match_files(struct generic_dir *gd)
{
	const struct lk_tree *tree = gd->tree;
	struct level *stack = NULL;
	size_t depth = 0, cap = 0;
	const char *prev = "";
	int rc = LK_OK;

	for (size_t f = 0; f < tree->n_files; f++) {
		const char *path = tree->files[f].path;
		size_t len = strlen(path), start;
		int best = NO_RULE, at = -1, m;

		/* Keep the directories this path shares with the previous one. */
		while (depth && (strncmp(path, prev, stack[depth - 1].end) ||
				 path[stack[depth - 1].end] != '/'))
			depth--;
		for (start = depth ? stack[depth - 1].end + 1 : 0; start < len; start++) {
			if (path[start] != '/')
				continue;
			if (depth == cap) {
				size_t ncap = cap ? 2 * cap : 16;
				struct level *s = realloc(stack, ncap * sizeof(*s));

				if (!s)
					goto out_oom;
				stack = s;
				cap = ncap;
			}
			stack[depth].end = start;
			stack[depth].rule = first_rule(gd, path, start);
			stack[depth].match = -1;
			if (stack[depth].rule < 0)
				goto out_oom;
			depth++;
		}
		prev = path;

		/* The lowest rule over all the file's paths, shortest path first. */
		for (size_t d = 0; d < depth; d++) {
			if (stack[d].rule < best) {
				best = stack[d].rule;
				at = (int)d;
			}
		}
		m = first_rule(gd, path, len);
		if (m < 0)
			goto out_oom;
		if (m < best) {
			best = m;
			at = (int)depth;
		}
		if (best == NO_RULE) {
			gd->match_of_file[f] = -1;
			continue;
		}
		if (at == (int)depth) {
			m = new_match(gd, path, len, best);
		} else {
			if (stack[at].match < 0)
				stack[at].match = new_match(gd, path, stack[at].end, best);
			m = stack[at].match;
		}
		if (m < 0)
			goto out_oom;
		gd->match_of_file[f] = m;
	}
	goto out_free;

out_oom:
	rc = oom(gd);
out_free:
	free(stack);
	return rc;
}

/* Tree order of two matched paths: component by component. */
static int path_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i = 0;

	while (i < alen && i < blen && a[i] == b[i])
		i++;
	if (i == alen || i == blen)
		return (alen > i) - (blen > i);
	if (a[i] == '/')
		return -1;
	if (b[i] == '/')
		return 1;
	return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
}

static int match_ptr_cmp(const void *x, const void *y)
{
	const struct match *a = *(const struct match *const *)x;
	const struct match *b = *(const struct match *const *)y;

	return path_cmp(a->path, a->path_len, b->path, b->path_len);
}

static int name_ptr_cmp(const void *x, const void *y)
{
	return strcmp((*(const struct match *const *)x)->name,
		      (*(const struct match *const *)y)->name);
}

/* The unit name of a matched path: its last component, with the scope
 * when its parent starts with '@' (npm's "@scope/name"). */
static char *unit_name(const struct match *m)
{
	const char *p = m->path, *end = m->path + m->path_len, *last = end, *parent;

	while (last > p && last[-1] != '/')
		last--;
	parent = last > p ? last - 1 : p;
	while (parent > p && parent[-1] != '/')
		parent--;
	if (last > p && *parent == '@')
		return strndup(parent, (size_t)(end - parent));
	return strndup(last, (size_t)(end - last));
}

/*
 * The "version" of a top-level JSON object, if it is a plain short string.
 * Enough of JSON to skip strings and count nesting; anything odd gives
 * no version rather than a wrong one.
 */
static int json_version(const char *s, size_t len, char *out, size_t out_len)
{
	int depth = 0;

	for (size_t i = 0; i < len; i++) {
		size_t start, end, k;

		if (s[i] == '{' || s[i] == '[') {
			depth++;
			continue;
		}
		if (s[i] == '}' || s[i] == ']') {
			depth--;
			continue;
		}
		if (s[i] != '"')
			continue;
		start = ++i;
		while (i < len && s[i] != '"')
			i += s[i] == '\\' ? 2 : 1;
		if (i >= len)
			return -1;
		end = i;
		if (depth != 1 || end - start != 7 || memcmp(s + start, "version", 7))
			continue;
		for (k = end + 1; k < len && strchr(" \t\r\n", s[k]); k++)
			;
		if (k == len || s[k] != ':')
			continue;
		for (k++; k < len && strchr(" \t\r\n", s[k]); k++)
			;
		if (k == len || s[k] != '"')
			return -1;
		start = ++k;
		while (k < len && k - start < out_len - 1 &&
		       (strchr(".+-_~^", s[k]) || (s[k] >= '0' && s[k] <= '9') ||
			(s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z')))
			k++;
		if (k == len || s[k] != '"' || k == start)
			return -1;
		memcpy(out, s + start, k - start);
		out[k - start] = '\0';
		return 0;
	}
	return -1;
}

static void read_version(struct generic_dir *gd, const struct match *m, char *out, size_t len)
{
	char path[4096];
	char *buf;
	size_t n;
	long idx;

	out[0] = '\0';
	if (m->path_len + sizeof("/package.json") > sizeof(path))
		return;
	snprintf(path, sizeof(path), "%.*s/package.json", (int)m->path_len, m->path);
	idx = gd->host->find_file(gd->ctx, path);
	if (idx < 0 || gd->tree->files[idx].type != LK_FILE_REGULAR ||
	    gd->tree->files[idx].size > PACKAGE_JSON_MAX)
		return;
	if (gd->host->read_file(gd->ctx, (uint32_t)idx, PACKAGE_JSON_MAX, &buf, &n) != LK_OK) {
		gd->host->log(gd->ctx, LK_LOG_WARN, "cannot read %s/%s; version left empty",
			      gd->tree->root, path);
		gd->warned = 1;
		return;
	}
	if (json_version(buf, n, out, len) != 0) {
		gd->host->log(gd->ctx, LK_LOG_DEBUG, "%s has no plain \"version\"", path);
		out[0] = '\0';
	}
	gd->host->free_buffer(gd->ctx, buf);
}

/* Pass 2: names (a clash makes both use their full path), units in path
 * order, the rest last, then the claims. */
static int make_units(struct generic_dir *gd)
{
	struct match **order = calloc(gd->n_matches + 1, sizeof(*order));
	const char *rest_name = "app";
	int rest = -1, rc = LK_FAILED;
	size_t i, j;

	if (!order)
		return oom(gd);
	for (i = 0; i < gd->n_matches; i++) {
		order[i] = &gd->matches[i];
		order[i]->name = unit_name(order[i]);
		if (!order[i]->name) {
			rc = oom(gd);
			goto out_free;
		}
	}
	qsort(order, gd->n_matches, sizeof(*order), name_ptr_cmp);
	for (i = 0; i < gd->n_matches; i = j) {
		for (j = i + 1; j < gd->n_matches && !strcmp(order[i]->name, order[j]->name); j++)
			;
		if (!strcmp(order[i]->name, "app"))
			rest_name = "app-rest";
		for (size_t k = i; j - i > 1 && k < j; k++) {
			free(order[k]->name);
			order[k]->name = strndup(order[k]->path, order[k]->path_len);
			if (!order[k]->name) {
				rc = oom(gd);
				goto out_free;
			}
		}
	}
	qsort(order, gd->n_matches, sizeof(*order), match_ptr_cmp);
	for (i = 0; i < gd->n_matches; i++) {
		struct match *m = order[i];
		const struct rule *r = &gd->rules[m->rule];
		char origin[4200], version[80] = "";

		if (r->kind == LK_UNIT_PACKAGE && gd->host->opt_bool(gd->ctx, "read_versions"))
			read_version(gd, m, version, sizeof(version));
		snprintf(origin, sizeof(origin), "%s rule '%s' matched '%.*s'", r->list, r->glob,
			 (int)m->path_len, m->path);
		m->unit = gd->host->unit_add(gd->ctx, r->kind, m->name, version, origin);
		if (m->unit < 0)
			goto out_free;
	}
	for (size_t f = 0; f < gd->tree->n_files; f++) {
		int unit;

		if (gd->match_of_file[f] >= 0) {
			unit = gd->matches[gd->match_of_file[f]].unit;
		} else {
			if (rest < 0)
				rest = gd->host->unit_add(gd->ctx, LK_UNIT_APP, rest_name, "",
							  "what no rule claimed");
			if (rest < 0)
				goto out_free;
			unit = rest;
		}
		if (gd->host->unit_claim(gd->ctx, unit, (uint32_t)f) != LK_OK)
			goto out_free;
	}
	rc = LK_OK;
out_free:
	free(order);
	return rc;
}

static int generic_dir_discover(const struct lk_host *host, struct lk_ctx *ctx, void *state,
				const struct lk_tree *tree)
{
	struct generic_dir gd = { .host = host, .ctx = ctx, .tree = tree };
	int rc;

	rc = load_rules(&gd);
	if (rc != LK_OK)
		goto out_free;
	gd.match_of_file = calloc(tree->n_files ? tree->n_files : 1, sizeof(*gd.match_of_file));
	if (!gd.match_of_file) {
		rc = oom(&gd);
		goto out_free;
	}
	rc = match_files(&gd);
	if (rc == LK_OK)
		rc = make_units(&gd);
	if (rc == LK_OK && gd.warned)
		rc = LK_WARN;
out_free:
	for (size_t i = 0; i < gd.n_matches; i++)
		free(gd.matches[i].name);
	free(gd.matches);
	for (size_t i = 0; i < gd.n_rules; i++)
		free(gd.rules[i].glob);
	free(gd.rules);
	free(gd.match_of_file);
	free(gd.scratch);
	return rc;
}

static const struct lk_discovery generic_dir_discovery = {
	.abi_major = LK_ABI_MAJOR,
	.abi_minor = LK_ABI_MINOR,
	.struct_size = sizeof(struct lk_discovery),
	.name = "generic-dir",
	.description = "any directory: units from glob rules per kind, the rest is the app",
	.version = "1.0.0",
	.options = generic_dir_options,
	.discover = generic_dir_discover,
};

LK_EXPORT const struct lk_discovery *layerkit_discovery_v1(void)
{
	return &generic_dir_discovery;
}
