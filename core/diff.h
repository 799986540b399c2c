/* diff.h - `layerkit diff A B`: what image B adds to image A, layer by layer (jansson). */
#ifndef LK_DIFF_H
#define LK_DIFF_H

#include <jansson.h>
#include <stdio.h>
#include "common.h"
#include "layout.h"

/* One layer of an image, as its manifest and config describe it. */
struct lk_image_layer {
	char *digest;			/* of the blob, "sha256:..." */
	uint64_t size;			/* bytes of the blob */
	char *media_type;
	char *diff_id;			/* from the config's rootfs, "" when it has none */
	char *name;			/* annotation dev.layerkit.layer.name, "" when none */
	char *units;			/* the config's history comment (layerkit: the units), "" */
};

/* An image read from an OCI layout.  Every string is owned here. */
struct lk_image {
	char *source;			/* as given: DIR[:TAG] */
	char *dir;
	char *tag;			/* the tag chosen; NULL when the layout's first image */
	char *manifest_digest;
	uint64_t manifest_size;
	char *config_digest;
	uint64_t config_size;
	struct lk_image_layer *layers;
	size_t n_layers;
};

/*
 * Reads the image source names ("DIR" or "DIR:TAG"; without a tag the
 * layout's only or first image): index.json, its manifest (through nested
 * indexes, first entry), the config.  Manifest and config are checked
 * against their digests.  LK_OK, or LK_FAILED with err (LK_EXIT_USAGE)
 * naming the layout and what is missing or damaged.  Release with
 * lk_image_release, also after a failure.
 */
int lk_image_load(struct lk_image *img, const char *source, struct lk_error *err);
void lk_image_release(struct lk_image *img);

enum lk_diff_status {
	LK_DIFF_SHARED = 0,		/* A has a layer with this digest */
	LK_DIFF_CHANGED = 1,		/* A lacks it, but has a layer of the same name */
	LK_DIFF_NEW = 2,		/* A lacks it and has no layer of that name */
};

struct lk_diff_layer {
	enum lk_diff_status status;
	long a_index;			/* the A layer with the digest (SHARED) or the name (CHANGED); -1 */
	int repeat;			/* its digest came earlier in B: moves no bytes again */
};

/* What B adds to A.  Blob bytes count every distinct blob once. */
struct lk_image_diff {
	struct lk_diff_layer *layers;	/* parallel to B's layers */
	size_t *removed;		/* indices of A's layers whose digest B lacks */
	size_t n_removed;
	size_t n_shared, n_missing;	/* B's layers (each digest once) */
	uint64_t shared_bytes, missing_bytes;
	int config_shared, manifest_shared;
	uint64_t a_bytes, b_bytes;	/* every distinct blob of each image */
	uint64_t transfer_bytes;	/* B's blobs A lacks: a push or pull of B given A */
	uint64_t both_bytes;		/* a registry holding both: a_bytes + transfer_bytes */
};

/* Computes d from two loaded images; release with lk_image_diff_release. */
void lk_image_diff(const struct lk_image *a, const struct lk_image *b, struct lk_image_diff *d);
void lk_image_diff_release(struct lk_image_diff *d);

void lk_diff_print(FILE *out, const struct lk_image *a, const struct lk_image *b,
		   const struct lk_image_diff *d);
/* A new JSON object (the caller owns the reference). */
json_t *lk_diff_json(const struct lk_image *a, const struct lk_image *b,
		     const struct lk_image_diff *d);

#endif
