/* archive_out.h - one tar that is both an OCI layout and a docker-archive (docker/podman load). */
#ifndef LK_ARCHIVE_OUT_H
#define LK_ARCHIVE_OUT_H

#include "common.h"

/* What goes into the archive: one image of an OCI layout on disk. */
struct lk_archive_image {
	const char *layout_dir;		/* the OCI layout holding the image's blobs */
	const char *manifest_digest;	/* "sha256:<hex>" of its manifest there */
	const char *image_name;		/* "app", "team/app" or "host/team/app" */
	const char *tag;		/* "latest" */
	int64_t mtime;			/* of every tar entry */
};

/*
 * Writes path as a tar holding oci-layout, index.json (the manifest's
 * descriptor from the layout's index.json, annotated with
 * io.containerd.image.name = the full reference and
 * org.opencontainers.image.ref.name = tag), manifest.json
 * ([{"Config","RepoTags":["NAME:TAG"],"Layers"}] pointing at
 * blobs/sha256/<hex>) and the image's blobs: the form Docker 25+ saves,
 * which docker load, podman load and skopeo (docker-archive: and
 * oci-archive:) all read.  Reproducible: sorted entries, uid/gid 0, one
 * mtime.  Atomic: a temporary file beside path, renamed over it; on
 * failure nothing is left and err names the file and what to do.
 */
int lk_archive_write(const char *path, const struct lk_archive_image *image,
		     struct lk_error *err);

#endif
