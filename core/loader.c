/* loader.c - plugin search path, dlopen and descriptor checks. */
#include "loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const kind_names[] = { "discovery", "strategy" };

const char *lk_plugin_kind_name(enum lk_plugin_kind kind)
{
	return (unsigned)kind < 2 ? kind_names[kind] : "plugin";
}

int lk_plugin_name_valid(const char *name)
{
	size_t n = 0;

	if (!name)
		return 0;
	for (const char *p = name; *p; p++, n++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return 0;
	}
	return n >= 1 && n <= 64;
}

char *lk_plugin_file_name(enum lk_plugin_kind kind, const char *name)
{
	return lk_xasprintf("lk-%s-%s.so", lk_plugin_kind_name(kind), name);
}

static void push_path_list(struct lk_string_list *dirs, const char *list)
{
	char *copy = lk_xstrdup(list), *save = NULL;

	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if (*d)
			lk_string_list_push(dirs, d);
	}
	free(copy);
}

void lk_plugin_dirs_init(struct lk_plugin_dirs *dirs, const struct lk_string_list *first)
{
	const char *env = getenv("LAYERKIT_PLUGIN_PATH");
	char exe[4096];
	ssize_t n;

	memset(dirs, 0, sizeof(*dirs));
	for (size_t i = 0; first && i < first->n; i++)
		lk_string_list_push(&dirs->dirs, first->items[i]);
	if (env && *env)
		push_path_list(&dirs->dirs, env);
	/* The binary's own directory: in the build tree the plugins are copied
	 * next to it, so layerkit works without being installed. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		lk_string_list_push(&dirs->dirs, dirname(exe));
	}
	lk_string_list_push(&dirs->dirs, LK_PLUGINDIR);
}

void lk_plugin_dirs_release(struct lk_plugin_dirs *dirs)
{
	lk_string_list_release(&dirs->dirs);
}

/*
 * Refuses plugin files anyone could have replaced: a world-writable file, or
 * one in a world-writable directory without the sticky bit.
 */
static int check_permissions(const char *path, struct lk_error *err)
{
	struct stat st;
	char *copy, *dir;
	int rc = LK_OK;

	if (stat(path, &st) != 0)
		return lk_error_set(err, LK_EXIT_BUILD, "cannot stat plugin %s: %s", path,
				    strerror(errno));
	if (st.st_mode & S_IWOTH)
		return lk_error_set(err, LK_EXIT_BUILD,
			"refusing plugin %s: the file is world-writable, so anyone could replace "
			"the code layerkit runs; fix it with chmod o-w", path);
	copy = lk_xstrdup(path);
	dir = dirname(copy);
	if (stat(dir, &st) == 0 && (st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX))
		rc = lk_error_set(err, LK_EXIT_BUILD,
			"refusing plugin %s: its directory %s is world-writable, so anyone could "
			"replace the code layerkit runs; fix it with chmod o-w", path, dir);
	free(copy);
	return rc;
}

int lk_plugin_load_file(const char *path, enum lk_plugin_kind kind, const char *name,
			struct lk_plugin *out, struct lk_error *err)
{
	const char *kname = lk_plugin_kind_name(kind);
	const char *symbol = kind == LK_KIND_DISCOVERY ? LK_DISCOVERY_ENTRY_SYMBOL
						       : LK_STRATEGY_ENTRY_SYMBOL;
	const char *dname, *dversion, *ddesc;
	const struct lk_option_spec *dopts;
	uint32_t major, minor, size, need;
	void *entry;

	memset(out, 0, sizeof(*out));
	if (check_permissions(path, err) != LK_OK)
		return LK_FAILED;
	dlerror();
	out->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!out->handle)
		return lk_error_set(err, LK_EXIT_BUILD,
			"%s '%s' (%s) cannot be loaded: %s; rebuild it or remove the file",
			kname, name, path, dlerror());
	dlerror();
	entry = dlsym(out->handle, symbol);
	if (!entry) {
		lk_error_set(err, LK_EXIT_BUILD,
			"%s '%s' (%s) is not a layerkit %s plugin: it does not export %s (%s); "
			"a plugin built for another ABI major version exports another name",
			kname, name, path, kname, symbol, dlerror());
		goto out_close;
	}
	if (kind == LK_KIND_DISCOVERY) {
		const struct lk_discovery *d = ((lk_discovery_entry_fn)entry)();

		if (!d) {
			lk_error_set(err, LK_EXIT_BUILD, "%s '%s' (%s): %s() returned NULL",
				     kname, name, path, symbol);
			goto out_close;
		}
		major = d->abi_major;
		minor = d->abi_minor;
		size = d->struct_size;
		need = (uint32_t)(offsetof(struct lk_discovery, discover) + sizeof(void *));
		if (major == LK_ABI_MAJOR && size >= need && !d->discover) {
			lk_error_set(err, LK_EXIT_BUILD, "%s '%s' (%s) has no discover operation",
				     kname, name, path);
			goto out_close;
		}
		out->discovery = d;
		dname = d->name;
		ddesc = d->description;
		dversion = d->version;
		dopts = d->options;
	} else {
		const struct lk_strategy *s = ((lk_strategy_entry_fn)entry)();

		if (!s) {
			lk_error_set(err, LK_EXIT_BUILD, "%s '%s' (%s): %s() returned NULL",
				     kname, name, path, symbol);
			goto out_close;
		}
		major = s->abi_major;
		minor = s->abi_minor;
		size = s->struct_size;
		need = (uint32_t)(offsetof(struct lk_strategy, plan) + sizeof(void *));
		if (major == LK_ABI_MAJOR && size >= need && !s->plan) {
			lk_error_set(err, LK_EXIT_BUILD, "%s '%s' (%s) has no plan operation",
				     kname, name, path);
			goto out_close;
		}
		out->strategy = s;
		dname = s->name;
		ddesc = s->description;
		dversion = s->version;
		dopts = s->options;
	}
	if (major != LK_ABI_MAJOR) {
		lk_error_set(err, LK_EXIT_BUILD,
			"%s '%s' (%s) was built for plugin ABI %u.%u but this layerkit speaks %u.%u; "
			"rebuild the plugin against this layerkit's <layerkit/plugin.h>",
			kname, name, path, major, minor, LK_ABI_MAJOR, LK_ABI_MINOR);
		goto out_close;
	}
	if (size < need) {
		lk_error_set(err, LK_EXIT_BUILD,
			"%s '%s' (%s) has a descriptor of %u bytes, smaller than ABI %u needs (%u); "
			"rebuild the plugin", kname, name, path, size, LK_ABI_MAJOR, need);
		goto out_close;
	}
	if (!dname || strcmp(dname, name) != 0) {
		lk_error_set(err, LK_EXIT_BUILD,
			"%s '%s' (%s) calls itself '%s'; a plugin's name must match its file name",
			kname, name, path, dname ? dname : "(null)");
		goto out_close;
	}
	out->kind = kind;
	out->name = lk_xstrdup(name);
	out->path = lk_xstrdup(path);
	out->abi_major = major;
	out->abi_minor = minor;
	out->description = ddesc ? ddesc : "";
	out->version = dversion ? dversion : "";
	out->options = dopts;
	return LK_OK;

out_close:
	dlclose(out->handle);
	memset(out, 0, sizeof(*out));
	return LK_FAILED;
}

int lk_plugin_load(const struct lk_plugin_dirs *dirs, enum lk_plugin_kind kind,
		   const char *name, struct lk_plugin *out, struct lk_error *err)
{
	char *file;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!lk_plugin_name_valid(name))
		return lk_error_set(err, LK_EXIT_USAGE,
			"invalid %s name '%s': plugin names are 1-64 characters of [a-z0-9-] "
			"(no '/', no '..'); plugins are found by name in the plugin path only",
			lk_plugin_kind_name(kind), name ? name : "");
	file = lk_plugin_file_name(kind, name);
	for (size_t i = 0; i < dirs->dirs.n; i++) {
		char *path = lk_xasprintf("%s/%s", dirs->dirs.items[i], file);
		struct stat st;

		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			rc = lk_plugin_load_file(path, kind, name, out, err);
			free(path);
			free(file);
			return rc;
		}
		free(path);
	}
	{
		char searched[2048];
		size_t used = 0;

		searched[0] = '\0';
		for (size_t i = 0; i < dirs->dirs.n && used < sizeof(searched); i++) {
			int n = snprintf(searched + used, sizeof(searched) - used, "%s%s",
					 i ? ", " : "", dirs->dirs.items[i]);
			if (n < 0)
				break;
			used += (size_t)n;
		}
		lk_error_set(err, LK_EXIT_USAGE,
			"unknown %s '%s': no %s in the plugin path (%s); `layerkit plugins` lists "
			"the plugins found, plugin_path or LAYERKIT_PLUGIN_PATH add directories",
			lk_plugin_kind_name(kind), name, file, searched);
	}
	free(file);
	return LK_FAILED;
}

void lk_plugin_release(struct lk_plugin *plugin)
{
	if (plugin->handle)
		dlclose(plugin->handle);
	free(plugin->name);
	free(plugin->path);
	memset(plugin, 0, sizeof(*plugin));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void lk_plugin_visit(const struct lk_plugin_dirs *dirs, lk_plugin_visit_fn fn, void *arg)
{
	struct lk_string_list seen = { 0 };

	for (size_t i = 0; i < dirs->dirs.n; i++) {
		DIR *d = opendir(dirs->dirs.items[i]);
		struct lk_string_list names = { 0 };
		struct dirent *de;

		/* The same directory twice in the path is listed once. */
		int dup = 0;
		for (size_t j = 0; j < i; j++)
			dup |= !strcmp(dirs->dirs.items[j], dirs->dirs.items[i]);
		if (!d || dup) {
			if (d)
				closedir(d);
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			size_t len = strlen(de->d_name);
			if (!strncmp(de->d_name, "lk-", 3) && len > 6 &&
			    !strcmp(de->d_name + len - 3, ".so"))
				lk_string_list_push(&names, de->d_name);
		}
		closedir(d);
		qsort(names.items, names.n, sizeof(char *), cmp_str);
		for (size_t j = 0; j < names.n; j++) {
			const char *f = names.items[j];
			enum lk_plugin_kind kind;
			const char *rest;
			char *name, *path;
			int shadowed = 0;

			if (!strncmp(f, "lk-discovery-", 13)) {
				kind = LK_KIND_DISCOVERY;
				rest = f + 13;
			} else if (!strncmp(f, "lk-strategy-", 12)) {
				kind = LK_KIND_STRATEGY;
				rest = f + 12;
			} else {
				continue;
			}
			name = lk_xstrdup(rest);
			name[strlen(name) - 3] = '\0';
			if (!lk_plugin_name_valid(name)) {
				free(name);
				continue;
			}
			for (size_t k = 0; k < seen.n; k++)
				shadowed |= !strcmp(seen.items[k], f);
			if (!shadowed)
				lk_string_list_push(&seen, f);
			path = lk_xasprintf("%s/%s", dirs->dirs.items[i], f);
			fn(arg, kind, name, path, shadowed);
			free(path);
			free(name);
		}
		lk_string_list_release(&names);
	}
	lk_string_list_release(&seen);
}
