/* writer.c - one layer: files -> tar -> sha256 (diff_id) -> compress -> sha256 (digest) -> blob. */
#include "writer.h"

#include <stdio.h>
#include <string.h>

#include "compress.h"
#include "tar.h"

/* The state of one layer being written; everything runs in the caller's
 * thread except the compressor's workers. */
struct layer_stream {
	EVP_MD_CTX *tar_sha;		/* of the uncompressed tar: the diff_id */
	uint64_t tar_size;
	struct lk_compressor compressor;
	struct lk_blob_sink sink;	/* hashes the stored bytes: the digest */
	const struct lk_layer_opts *opts;
};

const char *lk_layer_media_type(enum lk_compression compression)
{
	switch (compression) {
	case LK_COMPRESS_GZIP:
		return "application/vnd.oci.image.layer.v1.tar+gzip";
	case LK_COMPRESS_ZSTD:
		return "application/vnd.oci.image.layer.v1.tar+zstd";
	default:
		return "application/vnd.oci.image.layer.v1.tar";
	}
}

static int stored_sink(void *opaque, const void *data, size_t len, struct lk_error *err)
{
	struct layer_stream *stream = opaque;

	return lk_blob_sink_write(&stream->sink, data, len, err);
}

static int tar_sink(void *opaque, const void *data, size_t len, struct lk_error *err)
{
	struct layer_stream *stream = opaque;

	if (EVP_DigestUpdate(stream->tar_sha, data, len) != 1)
		return lk_error_set(err, LK_EXIT_BUILD, "OpenSSL sha256 failed");
	stream->tar_size += len;
	if (stream->opts->on_tar_bytes)
		stream->opts->on_tar_bytes(stream->opts->on_tar_bytes_arg, len);
	return lk_compressor_write(&stream->compressor, data, len, err);
}

int lk_layer_write(struct lk_layout *layout, const struct lk_scan *scan,
		   const uint32_t *files, size_t n_files,
		   const struct lk_layer_opts *opts, struct lk_blob_info *out,
		   struct lk_error *err)
{
	struct lk_tar_opts tar_opts = {
		.mtime = opts->mtime,
		.prefix = opts->prefix ? opts->prefix : "",
		.keep_setuid = opts->keep_setuid,
	};
	struct layer_stream stream = { .opts = opts };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char hex[LK_SHA256_HEX_LEN + 1];
	int rc = LK_FAILED;

	memset(out, 0, sizeof(*out));
	stream.tar_sha = EVP_MD_CTX_new();
	if (!stream.tar_sha || EVP_DigestInit_ex(stream.tar_sha, EVP_sha256(), NULL) != 1) {
		lk_error_set(err, LK_EXIT_BUILD, "OpenSSL cannot start a sha256 digest");
		goto out_free_sha;
	}
	/* Uncompressed, the stored bytes are the tar: one hash serves both. */
	if ((opts->compression == LK_COMPRESS_NONE ?
	     lk_blob_sink_open_unhashed(layout, &stream.sink, err) :
	     lk_blob_sink_open(layout, &stream.sink, err)) != LK_OK)
		goto out_free_sha;
	if (lk_compressor_open(&stream.compressor, opts->compression, opts->level,
			       opts->threads, stored_sink, &stream, err) != LK_OK)
		goto out_abort_sink;
	if ((opts->entries ?
	     lk_tar_write_entries(scan, opts->entries, opts->n_entries, &tar_opts, tar_sink,
				  &stream, err) :
	     lk_tar_write(scan, files, n_files, &tar_opts, tar_sink, &stream, err)) != LK_OK ||
	    lk_compressor_finish(&stream.compressor, err) != LK_OK)
		goto out_release_compressor;
	lk_compressor_release(&stream.compressor);

	EVP_DigestFinal_ex(stream.tar_sha, md, &md_len);
	lk_hex(md, md_len, hex);
	snprintf(out->diff_id, sizeof(out->diff_id), "sha256:%s", hex);
	out->tar_size = stream.tar_size;
	if ((opts->compression == LK_COMPRESS_NONE ?
	     lk_blob_sink_commit_as(&stream.sink, out->diff_id, &out->size, err) :
	     lk_blob_sink_commit(&stream.sink, out->digest, &out->size, err)) != LK_OK)
		goto out_free_sha;	/* the sink cleaned up after itself */
	if (opts->compression == LK_COMPRESS_NONE)
		memcpy(out->digest, out->diff_id, sizeof(out->digest));
	rc = LK_OK;
	goto out_free_sha;

out_release_compressor:
	lk_compressor_release(&stream.compressor);
out_abort_sink:
	lk_blob_sink_abort(&stream.sink);
out_free_sha:
	EVP_MD_CTX_free(stream.tar_sha);
	if (rc != LK_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}
