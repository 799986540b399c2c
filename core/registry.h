/* registry.h - a client of the OCI distribution spec (libcurl): what a push needs. */
#ifndef LK_REGISTRY_H
#define LK_REGISTRY_H

#include <stdint.h>
#include "common.h"

/* Docker Hub: a reference without a registry means it, under this name ... */
#define LK_REGISTRY_DOCKER_HUB "docker.io"
/* ... and this is the host its API answers on. */
#define LK_REGISTRY_DOCKER_HUB_ENDPOINT "registry-1.docker.io"

/* Blobs up to this size go in one PUT; larger ones in chunks of
 * LK_REGISTRY_CHUNK_SIZE (PATCH with Content-Range, then the closing PUT). */
#define LK_REGISTRY_MONOLITHIC_MAX (16u * 1024 * 1024)
#define LK_REGISTRY_CHUNK_SIZE (8u * 1024 * 1024)

/* Attempts of one request (or one whole blob upload) on a connection
 * error, a 5xx or a 429; the waits between them double from
 * LK_REGISTRY_RETRY_WAIT_MS. */
#define LK_REGISTRY_TRIES 4
#define LK_REGISTRY_RETRY_WAIT_MS 500

/*
 * An image reference: [HOST[:PORT]/]NAME[:TAG][@sha256:HEX], with the
 * grammar of the distribution project (lowercase path components; a first
 * component is a host when it holds '.' or ':' or is "localhost").
 */
struct lk_registry_ref {
	char *registry;		/* "host[:port]" as written; "docker.io" when none */
	char *endpoint;		/* host[:port] to connect to */
	char *repository;	/* "team/app" ("library/app" on Docker Hub) */
	char *tag;		/* NULL when the reference has none */
	char *digest;		/* "sha256:<hex>", NULL when none */
};

/* Parses text into ref; LK_OK, or LK_FAILED with err set (LK_EXIT_USAGE,
 * naming the reference and what is wrong).  On success release ref with
 * lk_registry_ref_release, which frees its strings. */
int lk_registry_ref_parse(const char *text, struct lk_registry_ref *ref, struct lk_error *err);
void lk_registry_ref_release(struct lk_registry_ref *ref);

/* Whether the host of endpoint ("host[:port]") is a loopback address:
 * "localhost", 127.0.0.0/8 or [::1].  No name is resolved. */
int lk_registry_is_loopback(const char *endpoint);

/* One challenge of a 401 answer's Www-Authenticate header. */
enum lk_auth_scheme {
	LK_AUTH_NONE = 0,
	LK_AUTH_BASIC,
	LK_AUTH_BEARER,
};

struct lk_auth_challenge {
	enum lk_auth_scheme scheme;
	char *realm;		/* Bearer: the token service URL; Basic: its name */
	char *service;		/* NULL when absent */
	char *scope;		/* NULL when absent */
};

/* Parses a Www-Authenticate value (auth-params quoted or not, any case of
 * the scheme); the first Basic or Bearer challenge is taken.  Returns 0,
 * or -1 when there is none or it is malformed (ch is then all NULL).
 * lk_auth_challenge_release frees the strings. */
int lk_auth_challenge_parse(const char *value, struct lk_auth_challenge *ch);
void lk_auth_challenge_release(struct lk_auth_challenge *ch);

/* Credentials for one registry, and where they came from (for messages,
 * which never show the credentials themselves). */
struct lk_credentials {
	char *user;
	char *password;
	char *source;		/* e.g. "$REGISTRY_AUTH_FILE (/tmp/auth.json)" */
};

/*
 * Finds credentials for registry (and repository: an auth.json key may
 * name "registry/namespace"; the longest matching key wins) in, first to
 * last: $LAYERKIT_REGISTRY_USER with $LAYERKIT_REGISTRY_PASSWORD; then
 * auth_file alone when it is not NULL; else $REGISTRY_AUTH_FILE,
 * $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json (their
 * "auths" entries, base64 "user:password" in "auth").  Missing default
 * files are skipped.  Returns 1 with cred filled, 0 when there are none,
 * or LK_FAILED with err set for a file that cannot be read or parsed (or
 * an auth_file that does not exist).  lk_credentials_release frees cred
 * and wipes the password.
 */
int lk_credentials_find(const char *registry, const char *repository, const char *auth_file,
			struct lk_credentials *cred, struct lk_error *err);
void lk_credentials_release(struct lk_credentials *cred);

/* The absolute URL a Location header (absolute, or relative to the URL
 * of the request it answered) points to, malloc'ed (caller frees), or
 * NULL when either is not a usable URL. */
char *lk_registry_resolve_location(const char *request_url, const char *location);

/* Settings of a registry connection. */
struct lk_registry_opts {
	int insecure;			/* plain HTTP; the caller checks the host is loopback */
	const char *auth_file;		/* NULL = the default lookup (lk_credentials_find) */
	const char *const *pull_scopes;	/* other repositories to mount from; NULL-terminated, may be NULL */
	int pull_only;			/* only pulls: tokens are asked for "pull" alone */
};

/* A registry and one repository in it: authentication state shared by
 * the sessions of several threads.  Opaque. */
struct lk_registry;

/*
 * Checks the registry answers (GET /v2/) and sets up authentication
 * (anonymous, Basic or a Bearer token for pull,push on the repository and
 * pull on opts->pull_scopes).  Returns a registry to close with
 * lk_registry_close, or NULL with err set (LK_EXIT_BUILD).  Copies what it
 * keeps of ref and opts.
 */
struct lk_registry *lk_registry_open(const struct lk_registry_ref *ref,
				     const struct lk_registry_opts *opts, struct lk_error *err);
void lk_registry_close(struct lk_registry *reg);

/* One thread's connection to an open registry (a libcurl handle, whose
 * connections are kept alive between requests).  Never shared between
 * threads; free with lk_registry_session_free before closing reg. */
struct lk_registry_session;

struct lk_registry_session *lk_registry_session_new(struct lk_registry *reg);
void lk_registry_session_free(struct lk_registry_session *s);

/* HEAD of a blob in the repository: *exists = 1 or 0.  LK_OK, or
 * LK_FAILED with err set when the registry cannot say. */
int lk_registry_blob_exists(struct lk_registry_session *s, const char *digest, int *exists,
			    struct lk_error *err);

/* How a blob got into the repository. */
enum lk_blob_push {
	LK_BLOB_UPLOADED = 1,
	LK_BLOB_MOUNTED,
};

/*
 * Puts the blob digest of size bytes, read from fd (from offset 0 with
 * pread; the caller keeps fd open and closes it), into the repository:
 * first a cross-repository mount from mount_from when it is not NULL
 * (a refused mount falls back to an upload), else an upload, monolithic
 * or chunked by size.  The whole upload is retried from its start on a
 * connection error or 5xx (LK_REGISTRY_TRIES).  *how says what happened.
 * LK_OK, or LK_FAILED with err set (naming the registry, repository and
 * blob).
 */
int lk_registry_blob_push(struct lk_registry_session *s, const char *digest, uint64_t size,
			  int fd, const char *mount_from, enum lk_blob_push *how,
			  struct lk_error *err);

/* PUT of a manifest (or index) under reference (a tag or a digest) with
 * Content-Type media_type; data is sent as is (its digest is what the
 * registry stores).  LK_OK, or LK_FAILED with err set. */
int lk_registry_manifest_put(struct lk_registry_session *s, const char *reference,
			     const char *media_type, const void *data, size_t len,
			     struct lk_error *err);

/*
 * GET of a manifest or index under reference (a tag or a digest),
 * accepting the OCI and Docker schema 2 types.  On LK_OK *data (the bytes
 * as sent, NUL-terminated, *len long) and *media_type (the Content-Type
 * without parameters) are malloc'ed and the caller frees both; the caller
 * checks the digest.  LK_FAILED with err set otherwise.
 */
int lk_registry_manifest_get(struct lk_registry_session *s, const char *reference,
			     char **data, size_t *len, char **media_type,
			     struct lk_error *err);

/*
 * GET of the blob digest, of size bytes (its descriptor's), into fd
 * (truncated first, and again before each retry; the caller owns fd).
 * Redirects to other storage are followed without credentials.  LK_OK
 * only when exactly size bytes came and they hash to digest; else
 * LK_FAILED with err set, and fd holds junk the caller removes.
 */
int lk_registry_blob_get(struct lk_registry_session *s, const char *digest, uint64_t size,
			 int fd, struct lk_error *err);

#endif
