/* synth.c - synthetic apps for strategy tests, and the stability measure. */
#include "synth.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define KIB 1024ULL
#define MIB (1024ULL * 1024ULL)

void synth_add(struct synth_app *app, uint32_t kind, const char *name, const char *version,
	       uint64_t bytes)
{
	size_t i = app->n++;

	if (i >= SYNTH_MAX_UNITS)
		return;
	app->kind[i] = kind;
	snprintf(app->name[i], sizeof(app->name[i]), "%s", name);
	snprintf(app->version[i], sizeof(app->version[i]), "%s", version);
	app->bytes[i] = bytes;
}

long synth_find(const struct synth_app *app, const char *name)
{
	for (size_t i = 0; i < app->n; i++)
		if (!strcmp(app->name[i], name))
			return (long)i;
	return -1;
}

/* The installed sizes of hello_fastapi's 19 packages (design note: 56K
 * for annotated-types up to 4.5M for pydantic-core). */
void synth_fastapi(struct synth_app *app)
{
	static const struct {
		const char *name, *version;
		uint64_t bytes;
	} packages[] = {
		{ "annotated-types", "0.7.0", 56 * KIB },
		{ "anyio", "4.4.0", 596 * KIB },
		{ "click", "8.1.7", 612 * KIB },
		{ "fastapi", "0.115.0", 1126 * KIB },
		{ "h11", "0.14.0", 264 * KIB },
		{ "httptools", "0.6.1", 1434 * KIB },
		{ "idna", "3.7", 624 * KIB },
		{ "pydantic", "2.8.2", 2970 * KIB },
		{ "pydantic-core", "2.20.1", 4608 * KIB },
		{ "python-dotenv", "1.0.1", 104 * KIB },
		{ "pyyaml", "6.0.1", 2355 * KIB },
		{ "sniffio", "1.3.1", 60 * KIB },
		{ "starlette", "0.38.2", 720 * KIB },
		{ "typing-extensions", "4.12.2", 212 * KIB },
		{ "typing-inspection", "0.4.0", 84 * KIB },
		{ "uvicorn", "0.30.5", 580 * KIB },
		{ "uvloop", "0.19.0", 3174 * KIB },
		{ "watchfiles", "0.22.0", 1229 * KIB },
		{ "websockets", "12.0", 1536 * KIB },
	};

	memset(app, 0, sizeof(*app));
	synth_add(app, LK_UNIT_INTERPRETER, "python3.11", "3.11.9", 250 * MIB);
	for (size_t i = 0; i < sizeof(packages) / sizeof(packages[0]); i++)
		synth_add(app, LK_UNIT_PACKAGE, packages[i].name, packages[i].version,
			  packages[i].bytes);
	synth_add(app, LK_UNIT_SUPPORT, "rules_python", "", 180 * KIB);
	synth_add(app, LK_UNIT_SUPPORT, "bazel_tools", "", 24 * KIB);
	synth_add(app, LK_UNIT_APP, "app", "", 10 * KIB);
}

/* A fixed pseudo-random sequence (PCG's LCG step), the same everywhere. */
static uint64_t next(uint64_t *state)
{
	*state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
	return *state >> 33;
}

/* A package size log-uniform over 56 KiB .. 4.5 MiB. */
static uint64_t random_size(uint64_t *state)
{
	double lo = log(56.0 * KIB), hi = log(4.5 * MIB);
	double u = (double)(next(state) % 1000000) / 1000000.0;

	return (uint64_t)exp(lo + u * (hi - lo));
}

static void random_name(uint64_t *state, char *out, size_t len)
{
	static const char *const syllables[] = {
		"py", "ja", "mo", "ku", "ri", "sta", "flo", "ten", "vex", "lo",
		"qui", "dra", "ne", "bo", "zi", "ar", "tor", "mi", "sen", "gal",
	};
	size_t n = 2 + next(state) % 3, used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", i == 2 ? "-" : "",
					 syllables[next(state) % 20]);
}

void synth_monorepo(struct synth_app *app, size_t n_packages)
{
	uint64_t state = 0x1a7e2c17;
	char name[48], version[32];

	memset(app, 0, sizeof(*app));
	synth_add(app, LK_UNIT_INTERPRETER, "python3.12", "3.12.4", 260 * MIB);
	while (app->n < n_packages + 1) {
		random_name(&state, name, sizeof(name));
		if (synth_find(app, name) >= 0)
			continue;
		snprintf(version, sizeof(version), "%u.%u.%u", (unsigned)(next(&state) % 9),
			 (unsigned)(next(&state) % 30), (unsigned)(next(&state) % 10));
		synth_add(app, LK_UNIT_PACKAGE, name, version, random_size(&state));
	}
	synth_add(app, LK_UNIT_SUPPORT, "rules_python", "", 180 * KIB);
	synth_add(app, LK_UNIT_SUPPORT, "bazel_tools", "", 24 * KIB);
	synth_add(app, LK_UNIT_APP, "app", "", 40 * KIB);
}

void synth_unit_set(struct fake_unit_set *set, const struct synth_app *app,
		    uint32_t max_layers)
{
	struct fake_unit_desc descs[SYNTH_MAX_UNITS];

	for (size_t i = 0; i < app->n; i++) {
		descs[i].kind = app->kind[i];
		descs[i].name = app->name[i];
		descs[i].version = app->version[i];
		descs[i].bytes = app->bytes[i];
	}
	fake_unit_set_init(set, descs, app->n, max_layers);
}

const char *synth_change_name(enum synth_change change)
{
	static const char *const names[SYNTH_CHANGE_COUNT] = {
		"version+size+20%", "version+size-20%", "version only", "remove", "add",
	};
	return change < SYNTH_CHANGE_COUNT ? names[change] : "?";
}

/* app with package i changed; for SYNTH_ADD, i only seeds the new one. */
static void apply_change(struct synth_app *app, size_t i, enum synth_change change)
{
	uint64_t state = 0xadd0 + i;
	char name[48];

	switch (change) {
	case SYNTH_BUMP_UP:
	case SYNTH_BUMP_DOWN:
	case SYNTH_VERSION:
		strncat(app->version[i], ".post1", sizeof(app->version[i]) -
			strlen(app->version[i]) - 1);
		if (change == SYNTH_BUMP_UP)
			app->bytes[i] = app->bytes[i] * 6 / 5;
		else if (change == SYNTH_BUMP_DOWN)
			app->bytes[i] = app->bytes[i] * 4 / 5;
		break;
	case SYNTH_REMOVE:
		memmove(&app->kind[i], &app->kind[i + 1], (app->n - i - 1) * sizeof(app->kind[0]));
		memmove(app->name[i], app->name[i + 1], (app->n - i - 1) * sizeof(app->name[0]));
		memmove(app->version[i], app->version[i + 1],
			(app->n - i - 1) * sizeof(app->version[0]));
		memmove(&app->bytes[i], &app->bytes[i + 1], (app->n - i - 1) * sizeof(app->bytes[0]));
		app->n--;
		break;
	case SYNTH_ADD:
		snprintf(name, sizeof(name), "added-%zu", i);
		synth_add(app, LK_UNIT_PACKAGE, name, "1.0.0", random_size(&state));
		break;
	default:
		break;
	}
}

int synth_plan(struct fake_host *fh, const struct fake_plugin *p,
	       const struct fake_unit_set *set, struct fake_plan *plan,
	       char *err, size_t err_len)
{
	int rc = fake_run_strategy(fh, p, &set->set);
	char why[512];

	if (rc != LK_OK && rc != LK_WARN) {
		snprintf(err, err_len, "%s failed (%d): %s", p->name, rc, fh->error);
		return LK_FAILED;
	}
	if (fh->n_violations || fh->n_tree_reads) {
		snprintf(err, err_len, "%s broke the contract: %s", p->name,
			 fh->n_violations ? fh->violation : "a strategy read the tree");
		return LK_FAILED;
	}
	fake_host_take_plan(fh, plan);
	if (fake_plan_verify(plan, &set->set, why, sizeof(why)) != 0) {
		snprintf(err, err_len, "%s made an invalid plan: %s", p->name, why);
		fake_plan_release(plan);
		return LK_FAILED;
	}
	return rc;
}

const char *synth_layer_names(const struct fake_plan *plan, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < plan->n_layers && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "," : "",
					 plan->layers[i].name);
	return buf;
}

const char *synth_layer_units(const struct fake_plan *plan, const struct lk_unit_set *set,
			      long layer, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	if (layer < 0 || (size_t)layer >= plan->n_layers)
		return buf;
	for (size_t i = 0; i < plan->layers[layer].n_units && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? "," : "",
					 set->units[plan->layers[layer].units[i]].name);
	return buf;
}

int stability_measure(struct fake_host *fh, const struct fake_plugin *p,
		      const struct synth_app *app, uint32_t max_layers,
		      enum synth_change change, struct stability *out,
		      char *err, size_t err_len)
{
	static struct synth_app changed;	/* too big for the stack */
	struct fake_unit_set base_set, set;
	struct fake_plan base, plan;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	synth_unit_set(&base_set, app, max_layers);
	if (synth_plan(fh, p, &base_set, &base, err, err_len) == LK_FAILED)
		goto out_release_set;
	out->base_layers = base.n_layers;
	for (size_t i = 0; i < app->n; i++) {
		size_t n;

		if (app->kind[i] != LK_UNIT_PACKAGE)
			continue;
		changed = *app;
		apply_change(&changed, i, change);
		synth_unit_set(&set, &changed, max_layers);
		if (synth_plan(fh, p, &set, &plan, err, err_len) == LK_FAILED) {
			fake_unit_set_release(&set);
			goto out_release_plan;
		}
		n = fake_plan_changed_layers(&base, &base_set.set, &plan, &set.set);
		out->cases++;
		out->hist[n < STABILITY_HIST ? n : STABILITY_HIST - 1]++;
		if (n > out->max)
			out->max = n;
		fake_plan_release(&plan);
		fake_unit_set_release(&set);
	}
	rc = 0;
out_release_plan:
	fake_plan_release(&base);
out_release_set:
	fake_unit_set_release(&base_set);
	return rc;
}

double stability_exactly_one(const struct stability *s)
{
	return s->cases ? 100.0 * (double)s->hist[1] / (double)s->cases : 0.0;
}

void stability_add(struct stability *sum, const struct stability *s)
{
	sum->cases += s->cases;
	for (size_t k = 0; k < STABILITY_HIST; k++)
		sum->hist[k] += s->hist[k];
	if (s->max > sum->max)
		sum->max = s->max;
	sum->base_layers = s->base_layers;
}

void stability_print(const char *strategy, const char *set_name, const char *change,
		     const struct stability *s)
{
	char dist[256];
	size_t used = 0;

	dist[0] = '\0';
	for (size_t k = 0; k < STABILITY_HIST; k++) {
		if (!s->hist[k])
			continue;
		used += (size_t)snprintf(dist + used, sizeof(dist) - used, "%s%zu%s:%zu",
					 used ? " " : "", k, k == STABILITY_HIST - 1 ? "+" : "",
					 s->hist[k]);
	}
	printf("stability: %-15s %-12s %-17s %3zu cases, %3zu layers; changed layers "
	       "{%s}; exactly 1: %5.1f%%, max %zu\n", strategy, set_name,
	       change, s->cases, s->base_layers, dist,
	       stability_exactly_one(s), s->max);
}
