/* options.c - a plugin's options: declared specs + [kind.NAME] section + app overrides. */
#include "loader.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t spec_count(const struct lk_option_spec *specs)
{
	size_t n = 0;

	while (specs && specs[n].key)
		n++;
	return n;
}

/* Splits a list value on commas and newlines, trimming each item. */
static void split_list(struct lk_string_list *out, const char *text)
{
	const char *p = text;

	while (*p) {
		const char *end = p + strcspn(p, ",\n");
		const char *a = p, *b = end;

		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a) {
			char *item = lk_xmalloc((size_t)(b - a) + 1);
			memcpy(item, a, (size_t)(b - a));
			item[b - a] = '\0';
			lk_string_list_push(out, item);
			free(item);
		}
		p = *end ? end + 1 : end;
	}
}

/* Parses text per spec into v.  Returns 0, or -1 with a "what is expected" in why. */
static int parse_value(struct lk_option_value *v, const char *text, char *why, size_t why_len)
{
	const struct lk_option_spec *s = v->spec;
	int bounded = !(s->min == 0 && s->max == 0);

	switch (s->type) {
	case LK_OPT_STRING:
		return 0;
	case LK_OPT_BOOL:
		if (lk_parse_bool(text, &v->bool_value) == 0)
			return 0;
		snprintf(why, why_len, "expected true or false");
		return -1;
	case LK_OPT_INT:
		if (lk_parse_int64(text, &v->int_value) != 0) {
			snprintf(why, why_len, "expected an integer");
			return -1;
		}
		if (bounded && (v->int_value < s->min || v->int_value > s->max)) {
			snprintf(why, why_len, "expected an integer from %lld to %lld",
				 (long long)s->min, (long long)s->max);
			return -1;
		}
		return 0;
	case LK_OPT_SIZE:
		if (lk_parse_size(text, &v->size_value) != 0) {
			snprintf(why, why_len, "expected a size such as 512K, 4MiB or 1G");
			return -1;
		}
		if (bounded && (v->size_value < (uint64_t)s->min || v->size_value > (uint64_t)s->max)) {
			snprintf(why, why_len, "expected a size from %lld to %lld bytes",
				 (long long)s->min, (long long)s->max);
			return -1;
		}
		return 0;
	case LK_OPT_LIST:
		split_list(&v->list, text);
		return 0;
	}
	snprintf(why, why_len, "the plugin declares an unknown option type %u", s->type);
	return -1;
}

static void known_keys(const struct lk_option_spec *specs, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; specs && specs[i].key; i++) {
		int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", specs[i].key);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	if (!buf[0])
		snprintf(buf, len, "(none)");
}

/* Checks one written value: known key, parseable.  where is "FILE:LINE" or "command line". */
static int check_written(const struct lk_plugin *plugin, const struct lk_option_spec *specs,
			 const struct lk_conf_value *cv, const char *file, struct lk_error *err,
			 long *index_out)
{
	char where[1100];
	char keys[1024];

	if (cv->line > 0)
		snprintf(where, sizeof(where), "%s:%d", file ? file : "layering.ini", cv->line);
	else
		snprintf(where, sizeof(where), "command line");
	for (size_t i = 0; specs && specs[i].key; i++) {
		if (!strcmp(specs[i].key, cv->key)) {
			struct lk_option_value probe = { .spec = &specs[i] };
			char why[256];

			if (parse_value(&probe, cv->value, why, sizeof(why)) != 0) {
				lk_string_list_release(&probe.list);
				return lk_error_set(err, LK_EXIT_USAGE,
					"%s: bad value '%s' for option '%s' of %s '%s': %s",
					where, cv->value, cv->key,
					lk_plugin_kind_name(plugin->kind), plugin->name, why);
			}
			lk_string_list_release(&probe.list);
			*index_out = (long)i;
			return LK_OK;
		}
	}
	known_keys(specs, keys, sizeof(keys));
	return lk_error_set(err, LK_EXIT_USAGE,
		"%s: unknown option '%s' for %s '%s'; it takes: %s (see `layerkit plugins -v`)",
		where, cv->key, lk_plugin_kind_name(plugin->kind), plugin->name, keys);
}

int lk_options_resolve(struct lk_options *out, const struct lk_plugin *plugin,
		       const struct lk_config *config, const struct lk_conf_value *overrides,
		       size_t n_overrides, struct lk_error *err)
{
	const struct lk_option_spec *specs = plugin->options;
	size_t n = spec_count(specs);
	const struct lk_plugin_section *section = NULL;
	const char *file = config ? config->path : NULL;
	long idx;

	memset(out, 0, sizeof(*out));
	out->values = lk_xcalloc(n, sizeof(*out->values));
	out->n = n;
	for (size_t i = 0; i < n; i++) {
		out->values[i].spec = &specs[i];
		out->values[i].text = specs[i].default_value;
	}
	if (config)
		section = lk_config_plugin_section(config, lk_plugin_kind_name(plugin->kind),
						   plugin->name);
	for (size_t i = 0; section && i < section->n_values; i++) {
		if (check_written(plugin, specs, &section->values[i], file, err, &idx) != LK_OK)
			goto out_release;
		out->values[idx].text = section->values[i].value;
	}
	for (size_t i = 0; i < n_overrides; i++) {
		if (check_written(plugin, specs, &overrides[i], file, err, &idx) != LK_OK)
			goto out_release;
		out->values[idx].text = overrides[i].value;
	}
	for (size_t i = 0; i < n; i++) {
		struct lk_option_value *v = &out->values[i];
		char why[256];

		if (!v->text)
			continue;
		if (parse_value(v, v->text, why, sizeof(why)) != 0) {
			lk_error_set(err, LK_EXIT_BUILD,
				"%s '%s' (%s): the default '%s' of its option '%s' is invalid: %s; "
				"fix the plugin",
				lk_plugin_kind_name(plugin->kind), plugin->name, plugin->path,
				v->text, v->spec->key, why);
			goto out_release;
		}
	}
	return LK_OK;

out_release:
	lk_options_release(out);
	return LK_FAILED;
}

void lk_options_release(struct lk_options *opts)
{
	for (size_t i = 0; i < opts->n; i++)
		lk_string_list_release(&opts->values[i].list);
	free(opts->values);
	opts->values = NULL;
	opts->n = 0;
}
