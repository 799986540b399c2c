/* oci.h - the image config, manifest and index as compact JSON with sorted keys (jansson). */
#ifndef LK_OCI_H
#define LK_OCI_H

#include "common.h"
#include "config.h"
#include "writer.h"

#define LK_MT_INDEX    "application/vnd.oci.image.index.v1+json"
#define LK_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define LK_MT_CONFIG   "application/vnd.oci.image.config.v1+json"

/* Annotation carrying a layer's name on its descriptor. */
#define LK_ANNOTATION_LAYER_NAME "dev.layerkit.layer.name"
/* Annotation carrying the tag on the index's manifest descriptor. */
#define LK_ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

struct lk_oci_layer {
	const char *name;		/* the plan's layer name */
	const char *created_by;		/* history: e.g. "layerkit two-layer: dependencies" */
	const char *comment;		/* history: the units it holds */
	const char *media_type;
	struct lk_blob_info blob;
};

/* The OCI architecture name of this host (amd64, arm64, ...): uname's
 * machine mapped, else the architecture this binary was built for.
 * A static string. */
const char *lk_oci_host_arch(void);
/* The OCI name of a uname machine ("x86_64" -> "amd64"), or NULL. */
const char *lk_oci_arch_of_machine(const char *machine);

/* Writes t (seconds since the epoch) as RFC 3339 UTC, e.g.
 * "1970-01-01T00:00:00Z".  Returns 0, or -1 when it does not fit. */
int lk_oci_rfc3339(int64_t t, char *buf, size_t size);

/* Each returns a malloc'ed NUL-terminated JSON document the caller frees,
 * and its length in *len; NULL only on allocation failure.  Strings that
 * are not UTF-8 are stored with U+FFFD for the bad bytes (and a warning).
 * The config leaves out unset run fields (Env, Entrypoint, Cmd,
 * WorkingDir, User, Labels); app may be NULL. */
char *lk_oci_config_json(const struct lk_app *app, const char *arch, const char *os,
			 int64_t created, const struct lk_oci_layer *layers,
			 size_t n_layers, size_t *len);
char *lk_oci_manifest_json(const char *config_digest, uint64_t config_size,
			   const struct lk_oci_layer *layers, size_t n_layers,
			   size_t *len);
char *lk_oci_index_json(const char *manifest_digest, uint64_t manifest_size,
			const char *tag, const char *arch, const char *os,
			size_t *len);
/* The same with the platform's variant ("v8"; NULL = none), as an image
 * on an arm base has. */
char *lk_oci_index_json_variant(const char *manifest_digest, uint64_t manifest_size,
				const char *tag, const char *arch, const char *os,
				const char *variant, size_t *len);

#endif
