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

struct lk_oci_layer {
	const char *name;		/* the plan's layer name */
	const char *created_by;		/* history: e.g. "layerkit two-layer: dependencies" */
	const char *comment;		/* history: the units it holds */
	const char *media_type;
	struct lk_blob_info blob;
};

/* The OCI architecture name of this host (amd64, arm64, ...). */
const char *lk_oci_host_arch(void);

/* Each returns a malloc'ed NUL-terminated JSON document the caller frees,
 * and its length in *len; NULL only on allocation failure. */
char *lk_oci_config_json(const struct lk_app *app, const char *arch, const char *os,
			 int64_t created, const struct lk_oci_layer *layers,
			 size_t n_layers, size_t *len);
char *lk_oci_manifest_json(const char *config_digest, uint64_t config_size,
			   const struct lk_oci_layer *layers, size_t n_layers,
			   size_t *len);
char *lk_oci_index_json(const char *manifest_digest, uint64_t manifest_size,
			const char *tag, const char *arch, const char *os,
			size_t *len);

#endif
