/* registry.c - a client of the OCI distribution spec (libcurl): what a push needs. */
#include "registry.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The distribution project's limits. */
#define REPOSITORY_MAX 255
#define TAG_MAX 128
/* What is kept of a response body: enough for a token or an error document. */
#define RESPONSE_BODY_MAX (1024 * 1024)
/* A 401 is answered by authenticating again at most this many times. */
#define AUTH_RETRIES 2

/* ------------------------------------------------------------------ */
/* References                                                          */

static int is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* A path component: [a-z0-9]+ joined by '.', '_', '__' or a run of '-'. */
static int path_component_valid(const char *s, size_t n)
{
	size_t i = 0;

	for (;;) {
		size_t start = i;

		while (i < n && is_lower_alnum(s[i]))
			i++;
		if (i == start)
			return 0;
		if (i == n)
			return 1;
		if (s[i] == '.') {
			i++;
		} else if (s[i] == '_') {
			i++;
			if (i < n && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < n && s[i] == '-')
				i++;
		} else {
			return 0;
		}
	}
}

/* host[:port]: DNS labels joined by '.', or an IPv6 address in brackets. */
static int domain_valid(const char *s, size_t n)
{
	size_t i = 0, port_len;

	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		struct in6_addr a6;
		char buf[INET6_ADDRSTRLEN + 1];
		size_t len;

		if (!close)
			return 0;
		len = (size_t)(close - s) - 1;
		if (len == 0 || len >= sizeof(buf))
			return 0;
		memcpy(buf, s + 1, len);
		buf[len] = '\0';
		if (inet_pton(AF_INET6, buf, &a6) != 1)
			return 0;
		i = (size_t)(close - s) + 1;
	} else {
		for (;;) {
			size_t start = i;

			while (i < n && (is_alnum(s[i]) || s[i] == '-'))
				i++;
			if (i == start || s[start] == '-' || s[i - 1] == '-')
				return 0;
			if (i < n && s[i] == '.') {
				i++;
				continue;
			}
			break;
		}
	}
	if (i == n)
		return 1;
	if (s[i] != ':')
		return 0;
	port_len = n - i - 1;
	if (port_len < 1 || port_len > 5 || strspn(s + i + 1, "0123456789") < port_len)
		return 0;
	return atoi(s + i + 1) <= 65535;
}

static int tag_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > TAG_MAX || !(is_alnum(s[0]) || s[0] == '_'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(is_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return 0;
	return 1;
}

static int digest_valid(const char *s)
{
	if (strncmp(s, "sha256:", 7))
		return 0;
	s += 7;
	for (size_t i = 0; i < LK_SHA256_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[LK_SHA256_HEX_LEN] == '\0';
}

static int ref_error(struct lk_error *err, const char *text, const char *what)
{
	return lk_error_set(err, LK_EXIT_USAGE,
			    "invalid image reference '%s': %s; expected HOST[:PORT]/NAME[:TAG] or HOST[:PORT]/NAME@sha256:HEX, e.g. localhost:5000/team/app:1.0",
			    text, what);
}

int lk_registry_ref_parse(const char *text, struct lk_registry_ref *ref, struct lk_error *err)
{
	char *copy, *at, *name, *slash, *colon, *first_slash;
	const char *path;
	int rc = LK_FAILED;

	memset(ref, 0, sizeof(*ref));
	if (!text || !*text)
		return ref_error(err, text ? text : "", "it is empty");
	if (strstr(text, "://"))
		return ref_error(err, text, "a reference has no URL scheme (plain HTTP to a registry on this machine is --insecure)");
	if (strlen(text) > 1024)
		return lk_error_set(err, LK_EXIT_USAGE,
				    "invalid image reference: it is %zu characters long; a reference is at most a few hundred",
				    strlen(text));
	copy = lk_xstrdup(text);
	at = strchr(copy, '@');
	if (at) {
		*at = '\0';
		if (!digest_valid(at + 1)) {
			ref_error(err, text, "the part after '@' is not sha256: and 64 lowercase hex digits");
			goto out_free_copy;
		}
		ref->digest = lk_xstrdup(at + 1);
	}
	name = copy;
	slash = strrchr(name, '/');
	colon = strrchr(name, ':');
	if (colon && (!slash || colon > slash)) {
		*colon = '\0';
		if (!tag_valid(colon + 1)) {
			ref_error(err, text, "the tag is not 1 to 128 of [A-Za-z0-9_.-] (not starting with '.' or '-')");
			goto out_free_copy;
		}
		ref->tag = lk_xstrdup(colon + 1);
	}
	first_slash = strchr(name, '/');
	path = name;
	if (first_slash) {
		size_t n = (size_t)(first_slash - name);
		int is_domain = memchr(name, '.', n) || memchr(name, ':', n) ||
				(n == 9 && !strncmp(name, "localhost", 9)) || name[0] == '[';

		for (size_t i = 0; i < n && !is_domain; i++)
			is_domain = name[i] >= 'A' && name[i] <= 'Z';
		if (is_domain) {
			if (!domain_valid(name, n)) {
				ref_error(err, text, "the registry part is not a host name or address with an optional :PORT");
				goto out_free_copy;
			}
			*first_slash = '\0';
			ref->registry = lk_xstrdup(name);
			path = first_slash + 1;
		}
	}
	if (!ref->registry || !strcmp(ref->registry, "index.docker.io")) {
		free(ref->registry);
		ref->registry = lk_xstrdup(LK_REGISTRY_DOCKER_HUB);
	}
	for (const char *p = path;;) {
		const char *end = strchr(p, '/');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (!path_component_valid(p, n)) {
			ref_error(err, text, *path ? "the name's components must be lowercase letters and digits, joined by '.', '_', '__' or '-'"
					       : "it has no repository name");
			goto out_free_copy;
		}
		if (!end)
			break;
		p = end + 1;
	}
	if (!strcmp(ref->registry, LK_REGISTRY_DOCKER_HUB)) {
		ref->endpoint = lk_xstrdup(LK_REGISTRY_DOCKER_HUB_ENDPOINT);
		ref->repository = strchr(path, '/') ? lk_xstrdup(path)
						    : lk_xasprintf("library/%s", path);
	} else {
		ref->endpoint = lk_xstrdup(ref->registry);
		ref->repository = lk_xstrdup(path);
	}
	if (strlen(ref->repository) > REPOSITORY_MAX) {
		ref_error(err, text, "the repository name is longer than 255 characters");
		goto out_free_copy;
	}
	rc = LK_OK;
out_free_copy:
	free(copy);
	if (rc != LK_OK)
		lk_registry_ref_release(ref);
	return rc;
}

void lk_registry_ref_release(struct lk_registry_ref *ref)
{
	free(ref->registry);
	free(ref->endpoint);
	free(ref->repository);
	free(ref->tag);
	free(ref->digest);
	memset(ref, 0, sizeof(*ref));
}

int lk_registry_is_loopback(const char *endpoint)
{
	char host[256];
	const char *end;
	size_t n;

	if (endpoint[0] == '[') {
		struct in6_addr a6;

		end = strchr(endpoint, ']');
		if (!end)
			return 0;
		n = (size_t)(end - endpoint) - 1;
		if (n >= sizeof(host))
			return 0;
		memcpy(host, endpoint + 1, n);
		host[n] = '\0';
		return inet_pton(AF_INET6, host, &a6) == 1 &&
		       !memcmp(&a6, &in6addr_loopback, sizeof(a6));
	}
	end = strchr(endpoint, ':');
	n = end ? (size_t)(end - endpoint) : strlen(endpoint);
	if (n >= sizeof(host))
		return 0;
	memcpy(host, endpoint, n);
	host[n] = '\0';
	if (!strcasecmp(host, "localhost"))
		return 1;
	{
		struct in_addr a4;

		return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
	}
}

/* ------------------------------------------------------------------ */
/* Www-Authenticate                                                    */

/* Length of an RFC 7230 token at p. */
static size_t token_len(const char *p)
{
	size_t n = 0;

	while (p[n] && (is_alnum(p[n]) || strchr("!#$%&'*+-.^_`|~", p[n])))
		n++;
	return n;
}

/* Reads a quoted-string or a token at *p into a new string, moving *p past
 * it; NULL when the quotes are not closed.  An unquoted value runs to the
 * next ',' or blank: some servers leave a URL realm unquoted. */
static char *param_value_read(const char **p)
{
	const char *s = *p;
	char *out, *o;

	if (*s != '"') {
		size_t n = strcspn(s, " \t,\"");

		*p = s + n;
		out = lk_xmalloc(n + 1);
		memcpy(out, s, n);
		out[n] = '\0';
		return out;
	}
	o = out = lk_xmalloc(strlen(s));
	for (s++; *s != '"'; s++) {
		if (*s == '\\' && s[1])
			s++;
		if (!*s) {
			free(out);
			return NULL;
		}
		*o++ = *s;
	}
	*o = '\0';
	*p = s + 1;
	return out;
}

void lk_auth_challenge_release(struct lk_auth_challenge *ch)
{
	free(ch->realm);
	free(ch->service);
	free(ch->scope);
	memset(ch, 0, sizeof(*ch));
}

int lk_auth_challenge_parse(const char *value, struct lk_auth_challenge *ch)
{
	const char *p = value;

	memset(ch, 0, sizeof(*ch));
	if (!value)
		return -1;
	for (;;) {
		enum lk_auth_scheme scheme = LK_AUTH_NONE;
		int taking;
		size_t n;

		p += strspn(p, " \t,");
		if (!*p)
			break;
		n = token_len(p);
		if (!n)
			goto out_malformed;
		if (n == 5 && !strncasecmp(p, "basic", 5))
			scheme = LK_AUTH_BASIC;
		else if (n == 6 && !strncasecmp(p, "bearer", 6))
			scheme = LK_AUTH_BEARER;
		p += n;
		taking = scheme != LK_AUTH_NONE;
		/* auth-params up to the next challenge (a token not followed by '=') */
		for (;;) {
			const char *q = p + strspn(p, " \t,");
			size_t name_len = token_len(q);
			const char *eq = q + name_len;
			char *val;

			eq += strspn(eq, " \t");
			if (!name_len || *eq != '=')
				break;
			p = eq + 1;
			p += strspn(p, " \t");
			val = param_value_read(&p);
			if (!val)
				goto out_malformed;
			if (taking && name_len == 5 && !strncasecmp(q, "realm", 5) && !ch->realm)
				ch->realm = val;
			else if (taking && name_len == 7 && !strncasecmp(q, "service", 7) && !ch->service)
				ch->service = val;
			else if (taking && name_len == 5 && !strncasecmp(q, "scope", 5) && !ch->scope)
				ch->scope = val;
			else
				free(val);
			p += strspn(p, " \t");
			if (*p && *p != ',')
				goto out_malformed;
		}
		if (taking) {
			ch->scheme = scheme;
			if (scheme == LK_AUTH_BEARER && (!ch->realm || !*ch->realm))
				goto out_malformed;
			return 0;
		}
	}
out_malformed:
	lk_auth_challenge_release(ch);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Credentials                                                         */

void lk_credentials_release(struct lk_credentials *cred)
{
	if (cred->password)
		OPENSSL_cleanse(cred->password, strlen(cred->password));
	free(cred->user);
	free(cred->password);
	free(cred->source);
	memset(cred, 0, sizeof(*cred));
}

/* An auths key as the registry (and namespace) it names: Docker's
 * "https://index.docker.io/v1/" is Docker Hub, a scheme and a trailing
 * "/" or "/v1/" or "/v2/" are dropped. */
static char *auth_key_normalise(const char *key)
{
	char *k, *end;

	if (!strncmp(key, "https://", 8))
		key += 8;
	else if (!strncmp(key, "http://", 7))
		key += 7;
	k = lk_xstrdup(key);
	end = k + strlen(k);
	while (end > k && end[-1] == '/')
		*--end = '\0';
	if (end - k > 3 && (!strcmp(end - 3, "/v1") || !strcmp(end - 3, "/v2")))
		end[-3] = '\0';
	if (!strncmp(k, "index.docker.io", 15) && (k[15] == '\0' || k[15] == '/')) {
		char *hub = lk_xasprintf("%s%s", LK_REGISTRY_DOCKER_HUB, k + 15);

		free(k);
		k = hub;
	}
	return k;
}

/* How well key matches registry/repository: 0 = not at all, else the
 * key's length (a longer key names a narrower namespace). */
static size_t auth_key_match(const char *key, const char *registry, const char *repository)
{
	size_t reg_len = strlen(registry), ns_len;

	if (strncmp(key, registry, reg_len))
		return 0;
	if (key[reg_len] == '\0')
		return reg_len;
	if (key[reg_len] != '/' || !repository)
		return 0;
	ns_len = strlen(key + reg_len + 1);
	if (strncmp(key + reg_len + 1, repository, ns_len) ||
	    (repository[ns_len] != '\0' && repository[ns_len] != '/'))
		return 0;
	return reg_len + 1 + ns_len;
}

/* Decodes the base64 "user:password" of an auths entry. */
static int auth_decode(const char *b64, struct lk_credentials *cred)
{
	size_t len = strlen(b64), padded = (len + 3) / 4 * 4, pad = 0;
	unsigned char *in, *out;
	char *colon;
	int n, rc = -1;

	in = lk_xcalloc(padded + 1, 1);
	memcpy(in, b64, len);
	memset(in + len, '=', padded - len);
	out = lk_xcalloc(padded / 4 * 3 + 1, 1);
	n = len ? EVP_DecodeBlock(out, in, (int)padded) : -1;
	if (n >= 0) {
		/* EVP_DecodeBlock counts the padding as zero bytes */
		for (size_t i = padded; i > 0 && in[i - 1] == '='; i--)
			pad++;
		n -= (int)pad;
		out[n > 0 ? n : 0] = '\0';
		colon = n > 0 ? memchr(out, ':', (size_t)n) : NULL;
		if (colon && strlen((char *)out) == (size_t)n) {
			*colon = '\0';
			cred->user = lk_xstrdup((char *)out);
			cred->password = lk_xstrdup(colon + 1);
			rc = 0;
		}
	}
	OPENSSL_cleanse(in, padded);
	OPENSSL_cleanse(out, padded / 4 * 3);
	free(in);
	free(out);
	return rc;
}

/* Looks registry up in one auth.json / config.json.  1 = found, 0 = no
 * entry (or no file when optional), LK_FAILED with err set. */
static int auth_file_lookup(const char *path, const char *source, int optional,
			    const char *registry, const char *repository,
			    struct lk_credentials *cred, struct lk_error *err)
{
	json_t *root, *auths, *entry, *best = NULL;
	json_error_t jerr;
	const char *key, *best_key = NULL;
	size_t best_len = 0;
	struct stat st;
	int rc = 0;

	if (stat(path, &st) != 0) {
		if (optional && errno == ENOENT)
			return 0;
		return lk_error_set(err, LK_EXIT_BUILD,
				    "cannot read the registry credentials file %s (%s): %s; fix the path or unset it",
				    path, source, strerror(errno));
	}
	root = json_load_file(path, 0, &jerr);
	if (!root)
		return lk_error_set(err, LK_EXIT_BUILD,
				    "registry credentials file %s (%s), line %d: %s; it must be JSON like {\"auths\": {\"HOST:PORT\": {\"auth\": \"BASE64(user:password)\"}}}",
				    path, source, jerr.line, jerr.text);
	auths = json_is_object(root) ? json_object_get(root, "auths") : NULL;
	if (!json_is_object(auths))
		goto out_put_root;
	json_object_foreach(auths, key, entry) {
		char *k = auth_key_normalise(key);
		size_t m = auth_key_match(k, registry, repository);

		free(k);
		if (m > best_len && json_is_object(entry)) {
			best = entry;
			best_key = key;
			best_len = m;
		}
	}
	if (best) {
		const char *auth = json_string_value(json_object_get(best, "auth"));
		const char *user = json_string_value(json_object_get(best, "username"));
		const char *pass = json_string_value(json_object_get(best, "password"));

		if (auth && *auth) {
			if (auth_decode(auth, cred) != 0) {
				rc = lk_error_set(err, LK_EXIT_BUILD,
						  "registry credentials file %s (%s): the \"auth\" of entry \"%s\" is not base64 of USER:PASSWORD; log in again or fix the entry",
						  path, source, best_key);
				goto out_put_root;
			}
		} else if (user && pass) {
			cred->user = lk_xstrdup(user);
			cred->password = lk_xstrdup(pass);
		} else {
			lk_log(LK_LOG_WARN,
			       "registry credentials file %s: entry \"%s\" has no \"auth\" (identity tokens and credential helpers are not supported); ignored",
			       path, best_key);
			goto out_put_root;
		}
		cred->source = lk_xasprintf("%s (%s, entry \"%s\")", source, path, best_key);
		rc = 1;
	}
out_put_root:
	json_decref(root);
	return rc;
}

int lk_credentials_find(const char *registry, const char *repository, const char *auth_file,
			struct lk_credentials *cred, struct lk_error *err)
{
	const char *env_user = getenv("LAYERKIT_REGISTRY_USER");
	const char *env_pass = getenv("LAYERKIT_REGISTRY_PASSWORD");
	const char *env;
	char *path;
	int rc;

	memset(cred, 0, sizeof(*cred));
	if ((env_user && *env_user) != (env_pass && *env_pass))
		return lk_error_set(err, LK_EXIT_USAGE,
				    "%s is set but %s is not: set both (or neither) to log in to registry %s",
				    env_user && *env_user ? "LAYERKIT_REGISTRY_USER" : "LAYERKIT_REGISTRY_PASSWORD",
				    env_user && *env_user ? "LAYERKIT_REGISTRY_PASSWORD" : "LAYERKIT_REGISTRY_USER",
				    registry);
	if (env_user && *env_user) {
		cred->user = lk_xstrdup(env_user);
		cred->password = lk_xstrdup(env_pass);
		cred->source = lk_xstrdup("$LAYERKIT_REGISTRY_USER and $LAYERKIT_REGISTRY_PASSWORD");
		return 1;
	}
	if (auth_file)
		return auth_file_lookup(auth_file, "the auth file given", 0, registry, repository,
					cred, err);
	env = getenv("REGISTRY_AUTH_FILE");
	if (env && *env)
		return auth_file_lookup(env, "$REGISTRY_AUTH_FILE", 0, registry, repository,
					cred, err);
	env = getenv("XDG_RUNTIME_DIR");
	if (env && *env) {
		path = lk_xasprintf("%s/containers/auth.json", env);
		rc = auth_file_lookup(path, "$XDG_RUNTIME_DIR/containers/auth.json", 1, registry,
				      repository, cred, err);
		free(path);
		if (rc != 0)
			return rc;
	}
	env = getenv("DOCKER_CONFIG");
	if (env && *env) {
		path = lk_xasprintf("%s/config.json", env);
		rc = auth_file_lookup(path, "$DOCKER_CONFIG/config.json", 1, registry, repository,
				      cred, err);
	} else {
		env = getenv("HOME");
		if (!env || !*env)
			return 0;
		path = lk_xasprintf("%s/.docker/config.json", env);
		rc = auth_file_lookup(path, "~/.docker/config.json", 1, registry, repository,
				      cred, err);
	}
	free(path);
	return rc;
}

/* ------------------------------------------------------------------ */
/* URLs                                                                */

/* A curl-allocated string as our own. */
static char *curl_string_take(char *s)
{
	char *copy;

	if (!s)
		return NULL;
	copy = lk_xstrdup(s);
	curl_free(s);
	return copy;
}

static int url_is_http(CURLU *u)
{
	char *scheme = NULL;
	int ok;

	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		return 0;
	ok = !strcmp(scheme, "http") || !strcmp(scheme, "https");
	curl_free(scheme);
	return ok;
}

char *lk_registry_resolve_location(const char *request_url, const char *location)
{
	CURLU *u;
	char *out = NULL;

	if (!request_url || !location || !*location)
		return NULL;
	u = curl_url();
	if (!u)
		return NULL;
	/* setting a URL on a handle that has one resolves a relative one */
	if (curl_url_set(u, CURLUPART_URL, request_url, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, location, 0) == CURLUE_OK && url_is_http(u) &&
	    curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
		out = NULL;
	curl_url_cleanup(u);
	return curl_string_take(out);
}

/* url with "name=value" added to its query (value URL-encoded); NULL
 * when url is not a URL. */
static char *url_query_add(const char *url, const char *name, const char *value)
{
	CURLU *u = curl_url();
	char *out = NULL, *part;

	if (!u)
		return NULL;
	part = lk_xasprintf("%s=%s", name, value);
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_QUERY, part, CURLU_APPENDQUERY | CURLU_URLENCODE) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
		out = NULL;
	free(part);
	curl_url_cleanup(u);
	return curl_string_take(out);
}

/* "scheme://host:port" of url (default port filled in), or NULL. */
static char *url_origin(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;

	if (!u)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		out = lk_xasprintf("%s://%s:%s", scheme, host, port);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return out;
}

/* url without its query and fragment (upload URLs carry state there,
 * some realms a signature), for messages. */
static char *url_for_message(const char *url)
{
	CURLU *u = curl_url();
	char *shown = NULL, *out;

	if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_USER, NULL, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0) == CURLUE_OK)
		curl_url_get(u, CURLUPART_URL, &shown, 0);
	out = lk_xstrdup(shown ? shown : "(not a URL)");
	curl_free(shown);
	curl_url_cleanup(u);
	return out;
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                */

struct lk_registry {
	char *registry;			/* for messages and credentials */
	char *repository;
	char *base_url;			/* "https://host:port" */
	char *origin;			/* base_url's origin: credentials go only there */
	int insecure;
	int pull_only;			/* ask tokens for pull, not pull,push */
	char *auth_file;
	char **pull_scopes;		/* NULL-terminated */

	pthread_mutex_t mutex;		/* guards what follows */
	enum lk_auth_scheme scheme;	/* what requests carry */
	unsigned auth_generation;	/* bumped whenever the above changes */
	int cred_looked_up;
	int have_cred;
	struct lk_credentials cred;
	char *token;
};

struct lk_registry_session {
	struct lk_registry *reg;
	CURL *curl;
	char curl_msg[CURL_ERROR_SIZE];
	char last_why[CURL_ERROR_SIZE + 512];	/* why the last request failed, briefly */
};

/* What a request sends: nothing, bytes in memory or a range of a file. */
struct http_body {
	const char *data;		/* in memory, or ... */
	int fd;				/* ... read with pread from offset */
	uint64_t offset;
	uint64_t len;
	uint64_t pos;			/* sent so far */
	int read_error;			/* errno of a failed read, -1 for a short file */
};

struct http_response {
	long status;
	char *location;
	char *challenge;		/* Www-Authenticate */
	char *content_digest;		/* Docker-Content-Digest */
	char *content_type;
	char *body;
	size_t body_len;
};

static void http_response_release(struct http_response *resp)
{
	free(resp->location);
	free(resp->challenge);
	free(resp->content_digest);
	free(resp->content_type);
	free(resp->body);
	memset(resp, 0, sizeof(*resp));
}

/* A copy of what authenticates a request, taken under the mutex. */
struct auth_snapshot {
	enum lk_auth_scheme scheme;
	unsigned generation;
	char *user, *password, *token;
};

static void auth_snapshot_take(struct lk_registry *reg, struct auth_snapshot *a)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_lock(&reg->mutex);
	a->scheme = reg->scheme;
	a->generation = reg->auth_generation;
	if (reg->scheme == LK_AUTH_BASIC) {
		a->user = lk_xstrdup(reg->cred.user);
		a->password = lk_xstrdup(reg->cred.password);
	} else if (reg->scheme == LK_AUTH_BEARER) {
		a->token = lk_xstrdup(reg->token);
	}
	pthread_mutex_unlock(&reg->mutex);
}

static void auth_snapshot_release(struct auth_snapshot *a)
{
	if (a->password)
		OPENSSL_cleanse(a->password, strlen(a->password));
	if (a->token)
		OPENSSL_cleanse(a->token, strlen(a->token));
	free(a->user);
	free(a->password);
	free(a->token);
	memset(a, 0, sizeof(*a));
}

static size_t header_cb(char *data, size_t size, size_t nitems, void *opaque)
{
	struct http_response *resp = opaque;
	size_t len = size * nitems, name_len;
	const char *colon, *value;
	char **slot = NULL;

	/* a new status line (after a 1xx) starts a new set of headers */
	if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
		free(resp->location);
		free(resp->challenge);
		free(resp->content_digest);
		free(resp->content_type);
		resp->location = resp->challenge = resp->content_digest = NULL;
		resp->content_type = NULL;
		return len;
	}
	colon = memchr(data, ':', len);
	if (!colon)
		return len;
	name_len = (size_t)(colon - data);
	if (name_len == 8 && !strncasecmp(data, "location", 8))
		slot = &resp->location;
	else if (name_len == 16 && !strncasecmp(data, "www-authenticate", 16))
		slot = &resp->challenge;
	else if (name_len == 21 && !strncasecmp(data, "docker-content-digest", 21))
		slot = &resp->content_digest;
	else if (name_len == 12 && !strncasecmp(data, "content-type", 12))
		slot = &resp->content_type;
	if (!slot || *slot)
		return len;
	value = colon + 1;
	while (value < data + len && (*value == ' ' || *value == '\t'))
		value++;
	{
		const char *end = data + len;

		while (end > value && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
			end--;
		*slot = lk_xmalloc((size_t)(end - value) + 1);
		memcpy(*slot, value, (size_t)(end - value));
		(*slot)[end - value] = '\0';
	}
	return len;
}

/* Where a successful GET of a blob goes: a file, hashed as it is written. */
struct http_sink {
	int fd;
	EVP_MD_CTX *sha;
	uint64_t written;
	uint64_t max;			/* more than this is an error (the descriptor's size) */
	int write_error;		/* errno of a failed write, -1 for too many bytes */
	CURL *curl;
	struct http_response *resp;
};

static size_t body_cb(char *data, size_t size, size_t nitems, void *opaque);

/* A 200 goes to the file; any other answer is kept as the body (an error
 * document). */
static size_t sink_cb(char *data, size_t size, size_t nitems, void *opaque)
{
	struct http_sink *sink = opaque;
	size_t len = size * nitems, done = 0;
	long status = 0;

	curl_easy_getinfo(sink->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
		return body_cb(data, size, nitems, sink->resp);
	if (sink->written + len > sink->max) {
		sink->write_error = -1;
		return 0;
	}
	while (done < len) {
		ssize_t n = write(sink->fd, data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			sink->write_error = n < 0 ? errno : EIO;
			return 0;
		}
		done += (size_t)n;
	}
	EVP_DigestUpdate(sink->sha, data, len);
	sink->written += len;
	return len;
}

static size_t body_cb(char *data, size_t size, size_t nitems, void *opaque)
{
	struct http_response *resp = opaque;
	size_t len = size * nitems, keep = len;

	if (resp->body_len + keep > RESPONSE_BODY_MAX)
		keep = RESPONSE_BODY_MAX - resp->body_len;
	if (keep) {
		resp->body = lk_xrealloc(resp->body, resp->body_len + keep + 1);
		memcpy(resp->body + resp->body_len, data, keep);
		resp->body_len += keep;
		resp->body[resp->body_len] = '\0';
	}
	return len;
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *opaque)
{
	struct http_body *body = opaque;
	size_t want = size * nitems;
	uint64_t left = body->len - body->pos;
	ssize_t n;

	if (want > left)
		want = (size_t)left;
	if (!want)
		return 0;
	if (body->data) {
		memcpy(buf, body->data + body->pos, want);
		body->pos += want;
		return want;
	}
	do
		n = pread(body->fd, buf, want, (off_t)(body->offset + body->pos));
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		body->read_error = n < 0 ? errno : -1;
		return CURL_READFUNC_ABORT;
	}
	body->pos += (uint64_t)n;
	return (size_t)n;
}

static int seek_cb(void *opaque, curl_off_t offset, int origin)
{
	struct http_body *body = opaque;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > body->len)
		return CURL_SEEKFUNC_CANTSEEK;
	body->pos = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

struct http_request {
	const char *method;		/* HEAD, GET, POST (empty body), PUT, PATCH */
	const char *url;
	const char *content_type;	/* NULL = none */
	const char *content_range;	/* NULL = none */
	const char *accept;		/* NULL = none */
	struct http_body *body;		/* NULL = empty */
	struct http_sink *sink;		/* GET: a 200's body goes there; redirects followed */
	int tries;			/* attempts on connection errors and 5xx */
	int no_auth;			/* neither the registry's credentials nor a 401 retry */
	const char *basic_user;		/* with no_auth: Basic credentials to send */
	const char *basic_password;
	const char *what;		/* for messages, e.g. "uploading blob sha256:..." */
};

/* http_request's answer when no response came (err is set too). */
#define HTTP_UNREACHABLE (-1)

/* One request, no retry.  Credentials go only to the registry's origin. */
static CURLcode http_once(struct lk_registry_session *s, const struct http_request *rq,
			  const struct auth_snapshot *auth, struct http_response *resp)
{
	struct lk_registry *reg = s->reg;
	struct curl_slist *headers = NULL;
	struct http_body no_body = { 0 };
	char *origin, *line;
	CURLcode cc;

	http_response_release(resp);
	curl_easy_reset(s->curl);
	s->curl_msg[0] = '\0';
	curl_easy_setopt(s->curl, CURLOPT_URL, rq->url);
	curl_easy_setopt(s->curl, CURLOPT_ERRORBUFFER, s->curl_msg);
	/* threads: no alarm()-based DNS timeouts */
	curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->curl, CURLOPT_USERAGENT, "layerkit/" LK_VERSION);
	curl_easy_setopt(s->curl, CURLOPT_PROTOCOLS_STR, reg->insecure ? "http,https" : "https");
	curl_easy_setopt(s->curl, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a registry that stops answering is an error, not a hang */
	curl_easy_setopt(s->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(s->curl, CURLOPT_LOW_SPEED_TIME, 60L);
	if (reg->insecure)	/* a loopback registry is never behind a proxy */
		curl_easy_setopt(s->curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(s->curl, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(s->curl, CURLOPT_HEADERDATA, resp);
	if (rq->sink) {
		/* a retry starts the file and its hash over */
		rq->sink->written = 0;
		rq->sink->write_error = 0;
		rq->sink->curl = s->curl;
		rq->sink->resp = resp;
		if (ftruncate(rq->sink->fd, 0) != 0 || lseek(rq->sink->fd, 0, SEEK_SET) != 0)
			rq->sink->write_error = errno;
		EVP_DigestInit_ex(rq->sink->sha, EVP_sha256(), NULL);
		curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, sink_cb);
		curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, rq->sink);
		/* blob GETs may be redirected to storage; curl sends no
		 * credentials to another host */
		curl_easy_setopt(s->curl, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(s->curl, CURLOPT_MAXREDIRS, 5L);
	} else {
		curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, body_cb);
		curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, resp);
	}
	headers = curl_slist_append(headers, "Expect:");

	if (!strcmp(rq->method, "HEAD")) {
		curl_easy_setopt(s->curl, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(rq->method, "GET")) {
		curl_easy_setopt(s->curl, CURLOPT_HTTPGET, 1L);
	} else if (!strcmp(rq->method, "POST")) {
		curl_easy_setopt(s->curl, CURLOPT_POST, 1L);
		curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE, 0L);
	} else {
		struct http_body *body = rq->body ? rq->body : &no_body;

		body->pos = 0;
		body->read_error = 0;
		curl_easy_setopt(s->curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(s->curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body->len);
		curl_easy_setopt(s->curl, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(s->curl, CURLOPT_READDATA, body);
		curl_easy_setopt(s->curl, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(s->curl, CURLOPT_SEEKDATA, body);
		if (strcmp(rq->method, "PUT"))
			curl_easy_setopt(s->curl, CURLOPT_CUSTOMREQUEST, rq->method);
	}
	if (rq->content_type) {
		line = lk_xasprintf("Content-Type: %s", rq->content_type);
		headers = curl_slist_append(headers, line);
		free(line);
	}
	if (rq->accept) {
		line = lk_xasprintf("Accept: %s", rq->accept);
		headers = curl_slist_append(headers, line);
		free(line);
	}
	if (rq->content_range) {
		line = lk_xasprintf("Content-Range: %s", rq->content_range);
		headers = curl_slist_append(headers, line);
		free(line);
	}
	origin = url_origin(rq->url);
	if (rq->no_auth && rq->basic_user) {
		curl_easy_setopt(s->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(s->curl, CURLOPT_USERNAME, rq->basic_user);
		curl_easy_setopt(s->curl, CURLOPT_PASSWORD, rq->basic_password);
	} else if (!rq->no_auth && auth && origin && !strcmp(origin, reg->origin)) {
		if (auth->scheme == LK_AUTH_BASIC) {
			curl_easy_setopt(s->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
			curl_easy_setopt(s->curl, CURLOPT_USERNAME, auth->user);
			curl_easy_setopt(s->curl, CURLOPT_PASSWORD, auth->password);
		} else if (auth->scheme == LK_AUTH_BEARER) {
			line = lk_xasprintf("Authorization: Bearer %s", auth->token);
			headers = curl_slist_append(headers, line);
			OPENSSL_cleanse(line, strlen(line));
			free(line);
		}
	}
	free(origin);
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, headers);
	cc = curl_easy_perform(s->curl);
	if (cc == CURLE_OK)
		curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &resp->status);
	/* the handle must not keep pointers to what is freed now */
	curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(s->curl, CURLOPT_USERNAME, NULL);
	curl_easy_setopt(s->curl, CURLOPT_PASSWORD, NULL);
	curl_slist_free_all(headers);
	return cc;
}

static int curl_code_retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return 1;
	default:
		return 0;
	}
}

static int curl_code_is_tls(CURLcode cc)
{
	return cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_PEER_FAILED_VERIFICATION ||
	       cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM ||
	       cc == CURLE_SSL_ISSUER_ERROR || cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

static int status_retryable(long status)
{
	return status >= 500 || status == 429 || status == 408;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The message of a failed transfer (curl's own words, which never hold
 * credentials: they are not in URLs). */
static void transfer_describe(struct lk_registry_session *s, CURLcode cc,
			      const struct http_body *body, char *buf, size_t size)
{
	if (cc == CURLE_WRITE_ERROR)
		snprintf(buf, size, "writing the downloaded blob failed (%s)",
			 s->curl_msg[0] ? s->curl_msg : "disk full, or more bytes than its descriptor says");
	else if (cc == CURLE_ABORTED_BY_CALLBACK && body && body->read_error)
		snprintf(buf, size, "reading the local blob failed: %s",
			 body->read_error > 0 ? strerror(body->read_error) : "the file is shorter than its descriptor says");
	else
		snprintf(buf, size, "%s (%s)", curl_easy_strerror(cc),
			 s->curl_msg[0] ? s->curl_msg : "no detail");
}

/* "HTTP 400 (DIGEST_INVALID: provided digest did not match uploaded content)" */
static void response_describe(const struct http_response *resp, char *buf, size_t size)
{
	json_t *root = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
	json_t *first = json_array_get(json_object_get(root, "errors"), 0);
	const char *code = json_string_value(json_object_get(first, "code"));
	const char *message = json_string_value(json_object_get(first, "message"));

	if (code || message)
		snprintf(buf, size, "HTTP %ld (%s%s%s)", resp->status, code ? code : "",
			 code && message ? ": " : "", message ? message : "");
	else
		snprintf(buf, size, "HTTP %ld", resp->status);
	json_decref(root);
}

static int authenticate(struct lk_registry_session *s, unsigned seen_generation,
			const char *challenge, struct lk_error *err);

/*
 * Sends rq (retrying connection errors and 5xx up to rq->tries times, and
 * answering a 401 by authenticating again), and leaves the last answer in
 * resp, whatever its status: LK_OK.  With err set: HTTP_UNREACHABLE when
 * no answer came, LK_FAILED when authentication failed.
 */
static int http_request(struct lk_registry_session *s, const struct http_request *rq,
			struct http_response *resp, struct lk_error *err)
{
	struct lk_registry *reg = s->reg;
	unsigned wait_ms = LK_REGISTRY_RETRY_WAIT_MS;
	int attempt = 1, auth_rounds = 0;

	for (;;) {
		struct auth_snapshot auth;
		unsigned generation;
		CURLcode cc;
		char why[CURL_ERROR_SIZE + 256], tries[32];

		if (rq->no_auth)
			memset(&auth, 0, sizeof(auth));
		else
			auth_snapshot_take(reg, &auth);
		generation = auth.generation;
		cc = http_once(s, rq, &auth, resp);
		auth_snapshot_release(&auth);
		if (cc != CURLE_OK) {
			transfer_describe(s, cc, rq->body, why, sizeof(why));
			snprintf(s->last_why, sizeof(s->last_why), "no answer to %s: %s", rq->method, why);
			if (curl_code_retryable(cc) && attempt < rq->tries) {
				lk_log(LK_LOG_INFO, "registry %s: %s: %s; trying again in %.1f s (try %d of %d)",
				       reg->registry, rq->what, s->last_why, wait_ms / 1000.0,
				       attempt + 1, rq->tries);
				sleep_ms(wait_ms);
				wait_ms *= 2;
				attempt++;
				continue;
			}
			tries[0] = '\0';
			if (attempt > 1)
				snprintf(tries, sizeof(tries), " (after %d tries)", attempt);
			lk_error_set(err, LK_EXIT_BUILD, "registry %s, repository %s: %s: %s%s; %s%s",
				     reg->registry, reg->repository, rq->what, s->last_why, tries,
				     curl_code_is_tls(cc) ? "TLS failed: the registry's certificate must be valid for its name and trusted by this system's CA store"
							  : "check that the registry is running and reachable",
				     !reg->insecure && lk_registry_is_loopback(reg->registry)
					     ? " (a plain-HTTP registry on this machine needs --insecure)" : "");
			return HTTP_UNREACHABLE;
		}
		if (resp->status == 401 && !rq->no_auth && auth_rounds < AUTH_RETRIES) {
			if (authenticate(s, generation, resp->challenge, err) != LK_OK)
				return LK_FAILED;
			auth_rounds++;
			continue;
		}
		if (status_retryable(resp->status)) {
			response_describe(resp, why, sizeof(why));
			snprintf(s->last_why, sizeof(s->last_why), "%s answered %s", rq->method, why);
		}
		if (status_retryable(resp->status) && attempt < rq->tries) {
			lk_log(LK_LOG_INFO, "registry %s: %s: %s; trying again in %.1f s (try %d of %d)",
			       reg->registry, rq->what, s->last_why, wait_ms / 1000.0,
			       attempt + 1, rq->tries);
			sleep_ms(wait_ms);
			wait_ms *= 2;
			attempt++;
			continue;
		}
		return LK_OK;
	}
}

/* ------------------------------------------------------------------ */
/* Authentication                                                      */

static const char no_cred_hint[] =
	"set REGISTRY_AUTH_FILE to an auth.json with an \"auths\" entry for it, add one to "
	"~/.docker/config.json (or $XDG_RUNTIME_DIR/containers/auth.json), or set "
	"LAYERKIT_REGISTRY_USER and LAYERKIT_REGISTRY_PASSWORD";

/* Gets a Bearer token for our scopes from the challenge's realm into
 * *token (malloc'ed).  Called with reg->mutex held. */
static int token_fetch(struct lk_registry_session *s, const struct lk_auth_challenge *ch,
		       char **token, struct lk_error *err)
{
	struct lk_registry *reg = s->reg;
	struct http_response resp = { 0 };
	struct http_request rq = { 0 };
	char *url, *next, *scope, *realm_shown;
	const char *value;
	json_t *root;
	int rc = LK_FAILED;

	realm_shown = url_for_message(ch->realm);
	url = lk_registry_resolve_location(reg->base_url, ch->realm);
	if (!url) {
		lk_error_set(err, LK_EXIT_BUILD,
			     "registry %s asks for a token from '%s', which is not an http(s) URL; check the registry's auth configuration",
			     reg->registry, ch->realm);
		goto out_free_shown;
	}
	if (!strncmp(url, "http://", 7) && !reg->insecure) {
		lk_error_set(err, LK_EXIT_BUILD,
			     "registry %s asks for a token from a plain-HTTP service (%s); refusing to send credentials without TLS",
			     reg->registry, realm_shown);
		goto out_free_url;
	}
	if (ch->service) {
		next = url_query_add(url, "service", ch->service);
		free(url);
		url = next;
	}
	scope = lk_xasprintf("repository:%s:%s", reg->repository,
			     reg->pull_only ? "pull" : "pull,push");
	next = url ? url_query_add(url, "scope", scope) : NULL;
	free(url);
	url = next;
	for (char **p = reg->pull_scopes; url && p && *p; p++) {
		char *pull = lk_xasprintf("repository:%s:pull", *p);

		next = url_query_add(url, "scope", pull);
		free(url);
		free(pull);
		url = next;
	}
	if (url && ch->scope && strcmp(ch->scope, scope)) {
		next = url_query_add(url, "scope", ch->scope);
		free(url);
		url = next;
	}
	free(scope);
	if (!url) {
		lk_error_set(err, LK_EXIT_BUILD, "registry %s: cannot build the token request URL from realm '%s'",
			     reg->registry, ch->realm);
		goto out_free_shown;
	}
	rq.method = "GET";
	rq.url = url;
	rq.tries = LK_REGISTRY_TRIES;
	rq.no_auth = 1;
	rq.what = "getting a token";
	if (reg->have_cred) {
		rq.basic_user = reg->cred.user;
		rq.basic_password = reg->cred.password;
	}
	if (http_request(s, &rq, &resp, err) != LK_OK) {
		lk_error_prefix(err, "token service %s", realm_shown);
		goto out_release_resp;
	}
	if (resp.status == 401 || resp.status == 403) {
		if (reg->have_cred)
			lk_error_set(err, LK_EXIT_BUILD,
				     "the token service %s of registry %s refused the credentials from %s (HTTP %ld); check the user name and password",
				     realm_shown, reg->registry, reg->cred.source, resp.status);
		else
			lk_error_set(err, LK_EXIT_BUILD,
				     "the token service %s of registry %s wants credentials (HTTP %ld) and none were found for %s: %s",
				     realm_shown, reg->registry, resp.status, reg->registry, no_cred_hint);
		goto out_release_resp;
	}
	if (resp.status != 200) {
		char why[512];

		response_describe(&resp, why, sizeof(why));
		lk_error_set(err, LK_EXIT_BUILD, "the token service %s of registry %s answered %s; check the registry's auth service",
			     realm_shown, reg->registry, why);
		goto out_release_resp;
	}
	root = resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
	value = json_string_value(json_object_get(root, "token"));
	if (!value || !*value)
		value = json_string_value(json_object_get(root, "access_token"));
	if (value && *value && !strpbrk(value, "\r\n")) {
		*token = lk_xstrdup(value);
		rc = LK_OK;
	} else {
		lk_error_set(err, LK_EXIT_BUILD,
			     "the token service %s of registry %s answered without a \"token\" or \"access_token\"; check the registry's auth service",
			     realm_shown, reg->registry);
	}
	json_decref(root);
out_release_resp:
	if (resp.body)
		OPENSSL_cleanse(resp.body, resp.body_len);
	http_response_release(&resp);
out_free_url:
	free(url);
out_free_shown:
	free(realm_shown);
	return rc;
}

/*
 * Answers a 401: takes the challenge, looks credentials up (once), and
 * switches requests to Basic or to a new Bearer token.  Nothing to do when
 * another thread did it since the request was sent (generation moved).
 */
static int authenticate(struct lk_registry_session *s, unsigned seen_generation,
			const char *challenge, struct lk_error *err)
{
	struct lk_registry *reg = s->reg;
	struct lk_auth_challenge ch;
	int rc = LK_OK;

	pthread_mutex_lock(&reg->mutex);
	if (reg->auth_generation != seen_generation)
		goto out_unlock;
	if (lk_auth_challenge_parse(challenge, &ch) != 0) {
		rc = lk_error_set(err, LK_EXIT_BUILD,
				  "registry %s answered 401 (unauthorized) for repository %s %s; layerkit logs in with Basic or Bearer tokens only",
				  reg->registry, reg->repository,
				  challenge ? "with a Www-Authenticate challenge it cannot use"
					    : "without a Www-Authenticate challenge");
		goto out_unlock;
	}
	if (!reg->cred_looked_up) {
		int found = lk_credentials_find(reg->registry, reg->repository, reg->auth_file,
						&reg->cred, err);

		if (found < 0) {
			rc = LK_FAILED;
			goto out_release_challenge;
		}
		reg->cred_looked_up = 1;
		reg->have_cred = found == 1;
		if (found)
			lk_log(LK_LOG_DEBUG, "registry %s: credentials from %s", reg->registry,
			       reg->cred.source);
	}
	if (ch.scheme == LK_AUTH_BASIC) {
		if (!reg->have_cred) {
			rc = lk_error_set(err, LK_EXIT_BUILD,
					  "registry %s wants a login (HTTP 401, Basic) for repository %s and no credentials were found for %s: %s",
					  reg->registry, reg->repository, reg->registry, no_cred_hint);
			goto out_release_challenge;
		}
		if (reg->scheme == LK_AUTH_BASIC) {
			rc = lk_error_set(err, LK_EXIT_BUILD,
					  "registry %s refused the credentials from %s (HTTP 401); check the user name and password for %s",
					  reg->registry, reg->cred.source, reg->registry);
			goto out_release_challenge;
		}
		reg->scheme = LK_AUTH_BASIC;
	} else {
		char *token = NULL;

		if (token_fetch(s, &ch, &token, err) != LK_OK) {
			rc = LK_FAILED;
			goto out_release_challenge;
		}
		if (reg->token) {
			OPENSSL_cleanse(reg->token, strlen(reg->token));
			free(reg->token);
		}
		reg->token = token;
		reg->scheme = LK_AUTH_BEARER;
	}
	reg->auth_generation++;
out_release_challenge:
	lk_auth_challenge_release(&ch);
out_unlock:
	pthread_mutex_unlock(&reg->mutex);
	return rc;
}

/* Sets err for an answer that is not what the protocol step expects. */
static int response_error(struct lk_registry_session *s, const char *action,
			  const struct http_response *resp, struct lk_error *err)
{
	struct lk_registry *reg = s->reg;
	char why[1024];
	const char *hint;

	response_describe(resp, why, sizeof(why));
	if (resp->status == 401 || resp->status == 403) {
		char *source = NULL;

		pthread_mutex_lock(&reg->mutex);
		if (reg->have_cred)
			source = lk_xstrdup(reg->cred.source);
		pthread_mutex_unlock(&reg->mutex);
		if (source)
			lk_error_set(err, LK_EXIT_BUILD,
				     "registry %s, repository %s: %s: %s; access denied with the credentials from %s: check that they may push to %s",
				     reg->registry, reg->repository, action, why, source, reg->repository);
		else
			lk_error_set(err, LK_EXIT_BUILD,
				     "registry %s, repository %s: %s: %s; access denied without credentials: %s",
				     reg->registry, reg->repository, action, why, no_cred_hint);
		free(source);
		return LK_FAILED;
	}
	if (resp->body && strstr(resp->body, "DIGEST_INVALID"))
		hint = "the local blob does not match its digest: the layout is damaged, build it again";
	else if (resp->status == 404)
		hint = "the registry does not know this repository or upload; check the reference";
	else if (resp->status == 413)
		hint = "the registry refuses a request this large; raise its size limit";
	else if (status_retryable(resp->status))
		hint = "the registry is failing; check its log and push again (what it has is not sent twice)";
	else
		hint = "the registry does not accept this request";
	return lk_error_set(err, LK_EXIT_BUILD, "registry %s, repository %s: %s: %s; %s",
			    reg->registry, reg->repository, action, why, hint);
}

/* ------------------------------------------------------------------ */
/* Registry and sessions                                               */

struct lk_registry_session *lk_registry_session_new(struct lk_registry *reg)
{
	struct lk_registry_session *s = lk_xcalloc(1, sizeof(*s));

	s->reg = reg;
	s->curl = curl_easy_init();
	if (!s->curl) {
		fprintf(stderr, "layerkit: error: out of memory (curl_easy_init)\n");
		abort();
	}
	return s;
}

void lk_registry_session_free(struct lk_registry_session *s)
{
	if (!s)
		return;
	curl_easy_cleanup(s->curl);
	free(s);
}

static void registry_free(struct lk_registry *reg)
{
	free(reg->registry);
	free(reg->repository);
	free(reg->base_url);
	free(reg->origin);
	free(reg->auth_file);
	for (char **p = reg->pull_scopes; p && *p; p++)
		free(*p);
	free(reg->pull_scopes);
	lk_credentials_release(&reg->cred);
	if (reg->token) {
		OPENSSL_cleanse(reg->token, strlen(reg->token));
		free(reg->token);
	}
	pthread_mutex_destroy(&reg->mutex);
	free(reg);
	curl_global_cleanup();
}

struct lk_registry *lk_registry_open(const struct lk_registry_ref *ref,
				     const struct lk_registry_opts *opts, struct lk_error *err)
{
	struct lk_registry *reg;
	struct lk_registry_session *s;
	struct http_response resp = { 0 };
	struct http_request rq = { 0 };
	size_t n = 0;
	char *url;
	int rc;

	/* reference counted by libcurl, and thread-safe since 7.84 */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		lk_error_set(err, LK_EXIT_BUILD, "cannot initialise libcurl");
		return NULL;
	}
	reg = lk_xcalloc(1, sizeof(*reg));
	pthread_mutex_init(&reg->mutex, NULL);
	reg->registry = lk_xstrdup(ref->registry);
	reg->repository = lk_xstrdup(ref->repository);
	reg->insecure = opts->insecure;
	reg->pull_only = opts->pull_only;
	reg->auth_file = opts->auth_file ? lk_xstrdup(opts->auth_file) : NULL;
	while (opts->pull_scopes && opts->pull_scopes[n])
		n++;
	reg->pull_scopes = lk_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		reg->pull_scopes[i] = lk_xstrdup(opts->pull_scopes[i]);
	reg->base_url = lk_xasprintf("%s://%s", opts->insecure ? "http" : "https", ref->endpoint);
	reg->origin = url_origin(reg->base_url);
	if (!reg->origin) {
		lk_error_set(err, LK_EXIT_USAGE, "registry %s: '%s' is not a usable address",
			     ref->registry, ref->endpoint);
		registry_free(reg);
		return NULL;
	}

	/* the API check: tells a registry from anything else, and brings the
	 * first 401 (and so the login) before any upload starts */
	s = lk_registry_session_new(reg);
	url = lk_xasprintf("%s/v2/", reg->base_url);
	rq.method = "GET";
	rq.url = url;
	rq.tries = LK_REGISTRY_TRIES;
	rq.what = "API check (GET /v2/)";
	rc = http_request(s, &rq, &resp, err);
	if (rc == LK_OK && resp.status != 200) {
		if (resp.status == 404)
			lk_error_set(err, LK_EXIT_BUILD,
				     "%s does not answer as an OCI registry (GET /v2/ gave HTTP 404); check the host and port of the reference",
				     reg->base_url);
		else
			response_error(s, "API check (GET /v2/)", &resp, err);
		rc = LK_FAILED;
	}
	http_response_release(&resp);
	free(url);
	lk_registry_session_free(s);
	if (rc != LK_OK) {
		registry_free(reg);
		return NULL;
	}
	return reg;
}

void lk_registry_close(struct lk_registry *reg)
{
	if (reg)
		registry_free(reg);
}

/* ------------------------------------------------------------------ */
/* Blobs and manifests                                                 */

int lk_registry_blob_exists(struct lk_registry_session *s, const char *digest, int *exists,
			    struct lk_error *err)
{
	struct lk_registry *reg = s->reg;
	struct http_response resp = { 0 };
	struct http_request rq = { 0 };
	char *url = lk_xasprintf("%s/v2/%s/blobs/%s", reg->base_url, reg->repository, digest);
	char *what = lk_xasprintf("checking for blob %s", digest);
	int rc;

	rq.method = "HEAD";
	rq.url = url;
	rq.tries = LK_REGISTRY_TRIES;
	rq.what = what;
	rc = http_request(s, &rq, &resp, err);
	if (rc != LK_OK) {
		rc = LK_FAILED;
	} else if (resp.status == 200 || (resp.status >= 300 && resp.status < 400)) {
		*exists = 1;	/* a redirect points at where the blob is stored */
	} else if (resp.status == 404) {
		*exists = 0;
	} else {
		char *action = lk_xasprintf("checking for blob %s (HEAD)", digest);

		rc = response_error(s, action, &resp, err);
		free(action);
	}
	http_response_release(&resp);
	free(what);
	free(url);
	return rc;
}

/* The new upload URL a 202 points to; err set when there is none. */
/*
 * Sends rq and requires the answer status expect.  Anything else sets err
 * and *retryable (the network failed, or a 5xx, 408 or 429 came back).
 * LK_OK or LK_FAILED.
 */
static int request_expect(struct lk_registry_session *s, const struct http_request *rq,
			  struct http_response *resp, long expect, const char *action,
			  int *retryable, struct lk_error *err)
{
	int hr = http_request(s, rq, resp, err);

	if (hr != LK_OK) {
		*retryable = hr == HTTP_UNREACHABLE;
		return LK_FAILED;
	}
	if (resp->status != expect) {
		*retryable = status_retryable(resp->status);
		response_error(s, action, resp, err);
		return LK_FAILED;
	}
	return LK_OK;
}

static char *upload_location(struct lk_registry_session *s, const char *request_url,
			     const struct http_response *resp, const char *action,
			     struct lk_error *err)
{
	char *next = lk_registry_resolve_location(request_url, resp->location);

	if (!next)
		lk_error_set(err, LK_EXIT_BUILD,
			     "registry %s, repository %s: %s: the answer (HTTP %ld) has %s Location header; the registry does not follow the distribution spec",
			     s->reg->registry, s->reg->repository, action, resp->status,
			     resp->location ? "an unusable" : "no");
	return next;
}

/*
 * One try at putting a blob in: mount or POST, then PUT or PATCH... PUT,
 * always following the newest Location.  *retryable says whether a new
 * try from the start may succeed (no answer, or a 5xx).
 */
static int blob_upload_once(struct lk_registry_session *s, const char *digest, uint64_t size,
			    int fd, const char *mount_from, enum lk_blob_push *how,
			    int *retryable, struct lk_error *err)
{
	struct lk_registry *reg = s->reg;
	struct http_response resp = { 0 };
	struct http_request rq = { 0 };
	struct http_body body = { 0 };
	char *url = NULL, *location = NULL, *put_url = NULL, *action;
	int rc = LK_FAILED, hr;

	*retryable = 0;
	action = lk_xasprintf("uploading blob %s", digest);
	rq.tries = 1;
	rq.what = action;
	if (mount_from) {
		url = lk_xasprintf("%s/v2/%s/blobs/uploads/?mount=%s&from=%s", reg->base_url,
				   reg->repository, digest, mount_from);
		rq.method = "POST";
		rq.url = url;
		hr = http_request(s, &rq, &resp, err);
		if (hr != LK_OK) {
			*retryable = hr == HTTP_UNREACHABLE;
			goto out_free;
		}
		if (resp.status == 201) {
			*how = LK_BLOB_MOUNTED;
			rc = LK_OK;
			goto out_free;
		}
		if (resp.status == 202 && resp.location) {
			/* not mounted, but the answer is an upload session */
			location = lk_registry_resolve_location(url, resp.location);
			lk_log(LK_LOG_DEBUG, "registry %s: blob %s not mounted from %s; uploading",
			       reg->registry, digest, mount_from);
		} else {
			lk_log(LK_LOG_DEBUG, "registry %s: mount of blob %s from %s refused (HTTP %ld); uploading",
			       reg->registry, digest, mount_from, resp.status);
		}
		free(url);
		url = NULL;
	}
	if (!location) {
		url = lk_xasprintf("%s/v2/%s/blobs/uploads/", reg->base_url, reg->repository);
		rq.method = "POST";
		rq.url = url;
		if (request_expect(s, &rq, &resp, 202, action, retryable, err) != LK_OK)
			goto out_free;
		location = upload_location(s, url, &resp, action, err);
		if (!location)
			goto out_free;
	}

	body.fd = fd;
	rq.body = &body;
	rq.content_type = "application/octet-stream";
	if (size > LK_REGISTRY_MONOLITHIC_MAX) {
		char range[64];

		rq.method = "PATCH";
		rq.content_range = range;
		for (uint64_t off = 0; off < size; off += body.len) {
			char *next;

			body.offset = off;
			body.len = size - off < LK_REGISTRY_CHUNK_SIZE ? size - off : LK_REGISTRY_CHUNK_SIZE;
			snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)off,
				 (unsigned long long)(off + body.len - 1));
			rq.url = location;
			if (request_expect(s, &rq, &resp, 202, action, retryable, err) != LK_OK)
				goto out_free;
			next = upload_location(s, location, &resp, action, err);
			if (!next)
				goto out_free;
			free(location);
			location = next;
		}
		/* the closing PUT carries no data */
		body.offset = 0;
		body.len = 0;
		rq.content_range = NULL;
	} else {
		body.offset = 0;
		body.len = size;
	}
	put_url = url_query_add(location, "digest", digest);
	if (!put_url) {
		lk_error_set(err, LK_EXIT_BUILD, "registry %s: %s: unusable upload URL", reg->registry, action);
		goto out_free;
	}
	rq.method = "PUT";
	rq.url = put_url;
	if (request_expect(s, &rq, &resp, 201, action, retryable, err) != LK_OK)
		goto out_free;
	if (resp.content_digest && strcmp(resp.content_digest, digest)) {
		lk_error_set(err, LK_EXIT_BUILD,
			     "registry %s, repository %s: %s: the registry stored it as %s; the layout's blob is damaged, build it again",
			     reg->registry, reg->repository, action, resp.content_digest);
		goto out_free;
	}
	*how = LK_BLOB_UPLOADED;
	rc = LK_OK;
out_free:
	http_response_release(&resp);
	free(put_url);
	free(location);
	free(url);
	free(action);
	return rc;
}

int lk_registry_blob_push(struct lk_registry_session *s, const char *digest, uint64_t size,
			  int fd, const char *mount_from, enum lk_blob_push *how,
			  struct lk_error *err)
{
	unsigned wait_ms = LK_REGISTRY_RETRY_WAIT_MS;

	for (int attempt = 1;; attempt++) {
		int retryable;

		if (blob_upload_once(s, digest, size, fd, mount_from, how, &retryable, err) == LK_OK)
			return LK_OK;
		if (!retryable)
			return LK_FAILED;
		if (attempt == LK_REGISTRY_TRIES) {
			size_t len = strlen(err->msg);

			snprintf(err->msg + len, sizeof(err->msg) - len,
				 "; the upload was started %d times, then given up", attempt);
			return LK_FAILED;
		}
		lk_log(LK_LOG_INFO, "registry %s: uploading blob %.19s: %s; starting the upload again in %.1f s (try %d of %d)",
		       s->reg->registry, digest, s->last_why, wait_ms / 1000.0, attempt + 1,
		       LK_REGISTRY_TRIES);
		sleep_ms(wait_ms);
		wait_ms *= 2;
		/* the mount was tried once; a retry only uploads */
		mount_from = NULL;
	}
}

int lk_registry_manifest_put(struct lk_registry_session *s, const char *reference,
			     const char *media_type, const void *data, size_t len,
			     struct lk_error *err)
{
	struct lk_registry *reg = s->reg;
	struct http_response resp = { 0 };
	struct http_request rq = { 0 };
	struct http_body body = { 0 };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char hex[LK_SHA256_HEX_LEN + 1];
	char *url, *what;
	int rc;

	url = lk_xasprintf("%s/v2/%s/manifests/%s", reg->base_url, reg->repository, reference);
	what = lk_xasprintf("putting manifest %s", reference);
	body.data = data;
	body.len = len;
	rq.method = "PUT";
	rq.url = url;
	rq.content_type = media_type;
	rq.body = &body;
	rq.tries = LK_REGISTRY_TRIES;
	rq.what = what;
	rc = http_request(s, &rq, &resp, err);
	if (rc != LK_OK) {
		rc = LK_FAILED;
	} else if (resp.status < 200 || resp.status > 299) {
		char *action = lk_xasprintf("putting manifest %s (%s)", reference, media_type);

		rc = response_error(s, action, &resp, err);
		free(action);
	} else if (resp.content_digest &&
		   EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) == 1) {
		lk_hex(md, md_len, hex);
		if (strncmp(resp.content_digest, "sha256:", 7) || strcmp(resp.content_digest + 7, hex))
			lk_log(LK_LOG_WARN, "registry %s stored manifest %s as %s, not sha256:%s as sent",
			       reg->registry, reference, resp.content_digest, hex);
	}
	http_response_release(&resp);
	free(what);
	free(url);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Pulling                                                             */

/* What a base image may be stored as: OCI and Docker schema 2. */
static const char manifest_accept[] =
	"application/vnd.oci.image.index.v1+json, "
	"application/vnd.oci.image.manifest.v1+json, "
	"application/vnd.docker.distribution.manifest.list.v2+json, "
	"application/vnd.docker.distribution.manifest.v2+json";

int lk_registry_manifest_get(struct lk_registry_session *s, const char *reference,
			     char **data, size_t *len, char **media_type,
			     struct lk_error *err)
{
	struct lk_registry *reg = s->reg;
	struct http_response resp = { 0 };
	struct http_request rq = { 0 };
	char *url, *what;
	int rc;

	*data = NULL;
	*len = 0;
	*media_type = NULL;
	url = lk_xasprintf("%s/v2/%s/manifests/%s", reg->base_url, reg->repository, reference);
	what = lk_xasprintf("getting manifest %s", reference);
	rq.method = "GET";
	rq.url = url;
	rq.accept = manifest_accept;
	rq.tries = LK_REGISTRY_TRIES;
	rq.what = what;
	rc = http_request(s, &rq, &resp, err);
	if (rc != LK_OK) {
		rc = LK_FAILED;
	} else if (resp.status != 200) {
		rc = response_error(s, what, &resp, err);
	} else if (resp.body_len >= RESPONSE_BODY_MAX) {
		rc = lk_error_set(err, LK_EXIT_BUILD,
				  "registry %s, repository %s: manifest %s is larger than %d bytes; it is not an image manifest",
				  reg->registry, reg->repository, reference, RESPONSE_BODY_MAX);
	} else {
		const char *ct = resp.content_type ? resp.content_type : "";
		size_t ct_len = strcspn(ct, "; ");

		*media_type = lk_xmalloc(ct_len + 1);
		memcpy(*media_type, ct, ct_len);
		(*media_type)[ct_len] = '\0';
		*len = resp.body_len;
		*data = resp.body ? resp.body : lk_xstrdup("");
		resp.body = NULL;
	}
	http_response_release(&resp);
	free(what);
	free(url);
	return rc;
}

int lk_registry_blob_get(struct lk_registry_session *s, const char *digest, uint64_t size,
			 int fd, struct lk_error *err)
{
	struct lk_registry *reg = s->reg;
	struct http_response resp = { 0 };
	struct http_request rq = { 0 };
	struct http_sink sink = { .fd = fd, .max = size };
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char hex[LK_SHA256_HEX_LEN + 1];
	char *url, *what;
	int rc;

	if (strncmp(digest, "sha256:", 7))
		return lk_error_set(err, LK_EXIT_BUILD,
				    "registry %s, repository %s: blob %s: only sha256 digests are supported",
				    reg->registry, reg->repository, digest);
	sink.sha = EVP_MD_CTX_new();
	if (!sink.sha)
		return lk_error_set(err, LK_EXIT_BUILD, "out of memory (EVP_MD_CTX_new)");
	url = lk_xasprintf("%s/v2/%s/blobs/%s", reg->base_url, reg->repository, digest);
	what = lk_xasprintf("getting blob %s", digest);
	rq.method = "GET";
	rq.url = url;
	rq.sink = &sink;
	rq.tries = LK_REGISTRY_TRIES;
	rq.what = what;
	rc = http_request(s, &rq, &resp, err);
	if (rc != LK_OK) {
		rc = LK_FAILED;
	} else if (resp.status != 200) {
		rc = response_error(s, what, &resp, err);
	} else if (sink.written != size) {
		rc = lk_error_set(err, LK_EXIT_BUILD,
				  "registry %s, repository %s: blob %s: got %llu bytes, the manifest says %llu; the registry's copy is damaged",
				  reg->registry, reg->repository, digest,
				  (unsigned long long)sink.written, (unsigned long long)size);
	} else {
		EVP_DigestFinal_ex(sink.sha, md, &md_len);
		lk_hex(md, md_len, hex);
		if (strcmp(hex, digest + 7))
			rc = lk_error_set(err, LK_EXIT_BUILD,
					  "registry %s, repository %s: blob %s: the bytes received hash to sha256:%s; the registry's copy is damaged (nothing was kept)",
					  reg->registry, reg->repository, digest, hex);
	}
	http_response_release(&resp);
	EVP_MD_CTX_free(sink.sha);
	free(what);
	free(url);
	return rc;
}
