/* base.h - a base image: its layers first in the image, unchanged, and its config inherited. */
#ifndef LK_BASE_H
#define LK_BASE_H

#include "common.h"
#include "layout.h"
#include "registry.h"

/* One layer of the base, as its manifest describes it. */
struct lk_base_layer {
	char *media_type;		/* OCI type (Docker schema 2 types mapped) */
	char digest[LK_DIGEST_LEN];	/* of the blob: copied, never re-tarred */
	uint64_t size;
};

/* Where to find a base and which image of it to take. */
struct lk_base_opts {
	const char *relative_to;	/* directory a relative layout path is resolved against */
	const char *os, *arch;		/* the platform wanted (never NULL) */
	const char *variant;		/* NULL = any */
	const char *cache_dir;		/* pulled blobs are kept in its blobs/sha256 */
	int insecure;			/* plain HTTP, allowed to loopback registries only */
	const char *auth_file;		/* NULL = the default credential lookup */
};

/*
 * A resolved base image.  Every document and pulled blob has been checked
 * against its digest.  Release with lk_base_release.
 */
struct lk_base {
	char *spec;			/* as written, for messages */
	char *layout_dir;		/* a local OCI layout, or NULL for a registry */
	char *blobs_dir;		/* where its blobs are: layout or cache blobs/sha256 */
	struct lk_registry_ref ref;	/* registry bases */
	struct lk_registry_opts reg_opts;
	struct lk_registry *registry;	/* opened on the first pull; NULL until then */
	struct lk_registry_session *session;
	char *os, *arch, *variant;	/* the platform taken (variant may be NULL) */
	char manifest_digest[LK_DIGEST_LEN];
	struct lk_base_layer *layers;
	size_t n_layers;
	char *config_json;		/* the base's config document, NUL-terminated */
	size_t config_len;
	size_t pulled_blobs;		/* downloaded by this process */
	uint64_t pulled_bytes;
};

/*
 * Resolves spec: "DIR[:TAG]" when DIR (relative to opts->relative_to) is
 * an OCI layout, else a registry reference "[HOST/]NAME[:TAG][@sha256:...]".
 * From an index the manifest of opts' platform is taken.  Registry
 * documents are fetched (a tag's manifest always; documents named by
 * digest only when the cache lacks them) and kept in the cache; layers are
 * not pulled yet.  On failure err names the base and what to do, and
 * nothing is left to release.
 */
int lk_base_open(struct lk_base *base, const char *spec, const struct lk_base_opts *opts,
		 struct lk_error *err);

/*
 * Puts every layer blob of the base into layout (hard link or copy from
 * the base layout or the cache; a layer the cache lacks is pulled first,
 * verified, and kept there).  Thread-unsafe; call before the app's layers
 * are written or after.
 */
int lk_base_add_layers(struct lk_base *base, struct lk_layout *layout, struct lk_error *err);

/*
 * The image config of app_json (an app config from lk_oci_config_json,
 * over the app's own layers) on top of the base: diff_ids and history are
 * the base's followed by the app's; the base's run config is kept where
 * the app does not set a field (Env and Labels merged by key, the app's
 * winning; an app Entrypoint without Cmd drops the base's Cmd, as Docker
 * does); WorkingDir is the base's unless workdir_set.  Returns malloc'ed
 * compact JSON with sorted keys (caller frees) and its length, or NULL
 * with err set when a document does not parse or the base's diff_ids do
 * not match its layers.
 */
char *lk_base_config_json(const struct lk_base *base, const char *app_json, size_t app_len,
			  int workdir_set, size_t *len, struct lk_error *err);

void lk_base_release(struct lk_base *base);

#endif
