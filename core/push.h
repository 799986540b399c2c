/* push.h - pushing an OCI image layout to a registry (distribution spec, through registry.c). */
#ifndef LK_PUSH_H
#define LK_PUSH_H

#include <stddef.h>
#include <stdint.h>
#include "common.h"

struct lk_push_opts {
	int insecure;			/* plain HTTP; refused unless the registry is loopback */
	unsigned jobs;			/* blobs uploaded at once; 0 = 4, at most 16 */
	const char *auth_file;		/* NULL = default lookup (see lk_credentials_find) */
	/* Optional, may stay zero: */
	const char *mount_from;		/* repository of the same registry to try mounting
					 * every missing blob from (before the local record) */
	const char *cache_dir;		/* where the digest -> repository record lives:
					 * CACHE_DIR/registry/; NULL = $XDG_CACHE_HOME/layerkit */
};

/* What a push did, blob by blob (the config and the layers; manifests are
 * not counted). */
struct lk_push_stats {
	size_t blobs_uploaded, blobs_mounted, blobs_skipped;
	uint64_t bytes_uploaded, bytes_mounted, bytes_skipped;
	char manifest_digest[7 + LK_SHA256_HEX_LEN + 1];	/* what the reference now names */
};

/*
 * Pushes the image tagged tag in the OCI layout layout_dir (tag NULL: the
 * layout's only manifest, or its first) to ref, "HOST[:PORT]/NAME[:TAG]"
 * or "...@sha256:HEX" (no tag and no digest: ":latest").  Blobs the
 * repository has are skipped (HEAD), blobs this machine pushed to another
 * repository of the registry are mounted, the rest uploaded (opts->jobs
 * at once; config first, then layers); the manifest goes last, so the
 * reference never names an incomplete image.  A push after a failure
 * sends only what is missing.  stats is filled (also on failure, with
 * what was done).  LK_OK, or LK_FAILED with err set: LK_EXIT_USAGE for a
 * bad reference, a missing layout or tag, or --insecure with a host that
 * is not loopback; LK_EXIT_BUILD for a damaged layout or a registry or
 * network failure.  Messages never show credentials.  Blocks SIGPIPE in
 * the calling thread while it runs.
 */
int lk_push_layout(const char *layout_dir, const char *tag, const char *ref,
		   const struct lk_push_opts *opts, struct lk_push_stats *stats,
		   struct lk_error *err);

/*
 * Splits a source "DIR[:TAG]" into *dir and *tag (NULL when absent; both
 * malloc'ed, caller frees): an existing directory named source is taken
 * whole, else the text after the last ':' (after the last '/') is the tag.
 */
void lk_push_source_split(const char *source, char **dir, char **tag);

#endif
