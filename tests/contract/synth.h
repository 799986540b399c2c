/*
 * synth.h - synthetic apps for strategy tests, and the stability measure.
 *
 * Two apps: the design note's hello_fastapi (an interpreter, 19 pip
 * packages from 56 KiB to 4.5 MiB, two support repos, the app) and a
 * "monorepo" with N packages whose names and sizes (log-uniform over the
 * same range) come from a fixed pseudo-random sequence.  The stability
 * measure changes one package at a time, plans before and after, and counts
 * the layers whose content changed (fake_plan_changed_layers).
 */
#ifndef SYNTH_H
#define SYNTH_H

#include "fake_host.h"

#define SYNTH_MAX_UNITS 512

/* An app as plain data; copy it by value to mutate it. */
struct synth_app {
	size_t n;
	uint32_t kind[SYNTH_MAX_UNITS];
	char name[SYNTH_MAX_UNITS][48];
	char version[SYNTH_MAX_UNITS][32];
	uint64_t bytes[SYNTH_MAX_UNITS];
};

void synth_fastapi(struct synth_app *app);
void synth_monorepo(struct synth_app *app, size_t n_packages);
/* Appends a unit (before nothing: the order is discovery order). */
void synth_add(struct synth_app *app, uint32_t kind, const char *name, const char *version,
	       uint64_t bytes);
/* Index of the unit named name, or -1. */
long synth_find(const struct synth_app *app, const char *name);
/* Builds the unit set of app (release with fake_unit_set_release). */
void synth_unit_set(struct fake_unit_set *set, const struct synth_app *app,
		    uint32_t max_layers);

/*
 * Plans set with p and verifies the plan (fake_plan_verify) and the
 * contract (no violation, no tree access).  Returns the plugin's code and
 * moves the plan to *out when it is LK_OK or LK_WARN; LK_FAILED with the
 * reason in err otherwise (the plugin's failure or a broken contract).
 */
int synth_plan(struct fake_host *fh, const struct fake_plugin *p,
	       const struct fake_unit_set *set, struct fake_plan *out,
	       char *err, size_t err_len);

/* "a,b,c": the layer names of plan, in order (into buf). */
const char *synth_layer_names(const struct fake_plan *plan, char *buf, size_t len);
/* "x,y": the units of layer (by name, in the order added) (into buf). */
const char *synth_layer_units(const struct fake_plan *plan, const struct lk_unit_set *set,
			      long layer, char *buf, size_t len);

/* Changes made to one package per case. */
enum synth_change {
	SYNTH_BUMP_UP,		/* new version, size +20% */
	SYNTH_BUMP_DOWN,	/* new version, size -20% */
	SYNTH_VERSION,		/* new version, same size */
	SYNTH_REMOVE,		/* the package is removed */
	SYNTH_ADD,		/* a new package (one per existing one, sizes vary) */
	SYNTH_CHANGE_COUNT
};

const char *synth_change_name(enum synth_change change);

#define STABILITY_HIST 8

/* How many layers changed, case by case: hist[k] cases changed k layers
 * (the last slot counts k >= STABILITY_HIST - 1). */
struct stability {
	size_t cases;
	size_t hist[STABILITY_HIST];
	size_t max;
	size_t base_layers;
};

/*
 * Runs strategy p (with the options set in fh) on app, then once per
 * package on app with that package changed; fills out.  Returns 0, or -1
 * with the reason in err when a plan fails or is invalid.
 */
int stability_measure(struct fake_host *fh, const struct fake_plugin *p,
		      const struct synth_app *app, uint32_t max_layers,
		      enum synth_change change, struct stability *out,
		      char *err, size_t err_len);

/* Share of cases that changed exactly one layer, in percent. */
double stability_exactly_one(const struct stability *s);

/* Adds the cases of s to sum (to pool +20% and -20%). */
void stability_add(struct stability *sum, const struct stability *s);

/* Prints one line: "stability: STRATEGY SET CHANGE: ..." for the notes. */
void stability_print(const char *strategy, const char *set_name, const char *change,
		     const struct stability *s);

#endif
