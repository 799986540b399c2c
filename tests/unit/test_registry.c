/* test_registry.c - the parts of the registry client that need no server:
 * references, Www-Authenticate challenges, credential lookup, Location. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* ------------------------------------------------------------------ */
/* references                                                          */

struct ref_case {
	const char *text;
	const char *registry, *endpoint, *repository, *tag, *digest;
};

static void assert_str_or_null(const char *got, const char *want)
{
	if (!want)
		assert_null(got);
	else
		assert_string_equal(got, want);
}

static void test_ref_parse_good(void **state)
{
	static const struct ref_case cases[] = {
		{ "localhost:5000/team/app:1.0", "localhost:5000", "localhost:5000", "team/app", "1.0", NULL },
		{ "127.0.0.1:5055/x", "127.0.0.1:5055", "127.0.0.1:5055", "x", NULL, NULL },
		{ "localhost/app", "localhost", "localhost", "app", NULL, NULL },
		{ "registry.example.com/a/b/c@sha256:" HEX64, "registry.example.com",
		  "registry.example.com", "a/b/c", NULL, "sha256:" HEX64 },
		{ "reg.io:443/app:v1@sha256:" HEX64, "reg.io:443", "reg.io:443", "app", "v1",
		  "sha256:" HEX64 },
		{ "[::1]:5000/x:y", "[::1]:5000", "[::1]:5000", "x", "y", NULL },
		{ "Registry.Example.com/x", "Registry.Example.com", "Registry.Example.com", "x", NULL, NULL },
		{ "my-reg.local:8080/a/b__c/d-e--f.g:V_1.2-rc", "my-reg.local:8080",
		  "my-reg.local:8080", "a/b__c/d-e--f.g", "V_1.2-rc", NULL },
		/* Docker Hub: no host, "library/" for a single name */
		{ "nginx", "docker.io", "registry-1.docker.io", "library/nginx", NULL, NULL },
		{ "user/app:latest", "docker.io", "registry-1.docker.io", "user/app", "latest", NULL },
		{ "index.docker.io/library/x", "docker.io", "registry-1.docker.io", "library/x", NULL, NULL },
		{ "docker.io/x:1", "docker.io", "registry-1.docker.io", "library/x", "1", NULL },
		/* no '/': "localhost:5000" is the name localhost, tag 5000 */
		{ "localhost:5000", "docker.io", "registry-1.docker.io", "library/localhost", "5000", NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ref_case *c = &cases[i];
		struct lk_registry_ref ref;
		struct lk_error err;

		lk_error_clear(&err);
		if (lk_registry_ref_parse(c->text, &ref, &err) != LK_OK)
			fail_msg("'%s' refused: %s", c->text, err.msg);
		assert_string_equal(ref.registry, c->registry);
		assert_string_equal(ref.endpoint, c->endpoint);
		assert_string_equal(ref.repository, c->repository);
		assert_str_or_null(ref.tag, c->tag);
		assert_str_or_null(ref.digest, c->digest);
		lk_registry_ref_release(&ref);
		assert_null(ref.repository);
	}
}

static void test_ref_parse_bad(void **state)
{
	char long_repo[400], long_tag[200];
	const struct {
		const char *text;
		const char *needle;
	} cases[] = {
		{ "", "it is empty" },
		{ "localhost:5000/Team/app", "lowercase letters" },
		{ "localhost:5000/team/app:", "the tag" },
		{ "localhost:5000/team/app:-x", "the tag" },
		{ "localhost:5000/team/app:a/b", "lowercase letters" },
		{ "localhost:5000/app@sha256:abc", "after '@'" },
		{ "localhost:5000/app@md5:" HEX64, "after '@'" },
		{ "localhost:5000/app@sha256:" HEX64 "00", "after '@'" },
		{ "localhost:5000/app@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "after '@'" },
		{ "localhost:99999/app", "registry part" },
		{ "localhost:/app", "registry part" },
		{ "-bad.example.com/app", "registry part" },
		{ "bad-.example.com/app", "registry part" },
		{ "[::1/app", "registry part" },
		{ "[zz::1]:5000/app", "registry part" },
		{ "http://localhost:5000/app", "no URL scheme" },
		{ "localhost:5000/", "no repository name" },
		{ "localhost:5000/a//b", "lowercase letters" },
		{ "localhost:5000/a/b/", "lowercase letters" },
		{ "team_/app", "lowercase letters" },
		{ "localhost:5000/a.-b", "lowercase letters" },
		{ "localhost:5000/a___b", "lowercase letters" },
		{ long_repo, "longer than 255" },
		{ long_tag, "the tag" },
	};

	snprintf(long_repo, sizeof(long_repo), "localhost:5000/%0300d", 0);
	memset(long_repo + 15, 'a', 300);
	memset(long_tag, 0, sizeof(long_tag));
	strcpy(long_tag, "localhost:5000/app:");
	memset(long_tag + strlen(long_tag), 't', 129);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct lk_registry_ref ref;
		struct lk_error err;

		lk_error_clear(&err);
		if (lk_registry_ref_parse(cases[i].text, &ref, &err) != LK_FAILED)
			fail_msg("'%s' accepted", cases[i].text);
		assert_int_equal(err.exit_code, LK_EXIT_USAGE);
		if (!strstr(err.msg, cases[i].needle))
			fail_msg("'%s': message '%s' lacks '%s'", cases[i].text, err.msg, cases[i].needle);
		assert_null(ref.registry);
		assert_null(ref.tag);
		assert_null(ref.digest);
	}
}

static void test_loopback(void **state)
{
	static const char *const yes[] = {
		"localhost", "LOCALHOST:5000", "127.0.0.1", "127.0.0.1:5000", "127.255.0.3:80",
		"[::1]", "[::1]:5000", "[0:0:0:0:0:0:0:1]:1",
	};
	static const char *const no[] = {
		"128.0.0.1", "10.0.0.1:5000", "example.com", "localhost.example.com",
		"127.0.0.1.nip.io", "[::2]:5000", "[::ffff:127.0.0.1]", "[::1", "127.1",
		"0.0.0.0:5000", "",
	};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!lk_registry_is_loopback(yes[i]))
			fail_msg("'%s' is loopback", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (lk_registry_is_loopback(no[i]))
			fail_msg("'%s' is not loopback", no[i]);
}

/* ------------------------------------------------------------------ */
/* Www-Authenticate                                                    */

static void expect_challenge(const char *value, enum lk_auth_scheme scheme, const char *realm,
			     const char *service, const char *scope)
{
	struct lk_auth_challenge ch;

	if (lk_auth_challenge_parse(value, &ch) != 0)
		fail_msg("'%s' refused", value);
	assert_int_equal(ch.scheme, scheme);
	assert_str_or_null(ch.realm, realm);
	assert_str_or_null(ch.service, service);
	assert_str_or_null(ch.scope, scope);
	lk_auth_challenge_release(&ch);
	assert_null(ch.realm);
}

static void test_challenge_parse(void **state)
{
	struct lk_auth_challenge ch;
	static const char *const bad[] = {
		"",
		"Negotiate",
		"Bearer service=\"x\"",			/* a Bearer challenge needs its realm */
		"Bearer realm=\"\"",
		"Bearer realm=\"https://t/token",	/* quote never closed */
		"Bearer realm=\"https://t\" junk",
		"Basic realm=\"x\"y",
	};

	expect_challenge("Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:samalba/my-app:pull,push\"",
			 LK_AUTH_BEARER, "https://auth.docker.io/token", "registry.docker.io",
			 "repository:samalba/my-app:pull,push");
	expect_challenge("Basic realm=\"Registry Realm\"", LK_AUTH_BASIC, "Registry Realm", NULL, NULL);
	expect_challenge("Basic", LK_AUTH_BASIC, NULL, NULL, NULL);
	/* any case, unquoted values, spaces around '=' and ',' */
	expect_challenge("bearer Realm=https://a/token , SERVICE = svc", LK_AUTH_BEARER,
			 "https://a/token", "svc", NULL);
	/* the first usable challenge wins; others are skipped with their params */
	expect_challenge("Basic realm=\"x\", Bearer realm=\"https://t\"", LK_AUTH_BASIC, "x", NULL, NULL);
	expect_challenge("Negotiate, Bearer realm=\"https://t\",service=\"s\"", LK_AUTH_BEARER,
			 "https://t", "s", NULL);
	expect_challenge("Digest realm=\"x\", nonce=\"a,b\", qop=auth, Bearer realm=\"https://t\"",
			 LK_AUTH_BEARER, "https://t", NULL, NULL);
	/* quoted-pair escapes, commas inside quotes, unknown params ignored */
	expect_challenge("Bearer realm=\"https://t/\\\"q\\\"\",error=\"invalid_token\",service=\"a,b\"",
			 LK_AUTH_BEARER, "https://t/\"q\"", "a,b", NULL);

	assert_int_equal(lk_auth_challenge_parse(NULL, &ch), -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (lk_auth_challenge_parse(bad[i], &ch) != -1)
			fail_msg("'%s' accepted", bad[i]);
		assert_int_equal(ch.scheme, LK_AUTH_NONE);
		assert_null(ch.realm);
		assert_null(ch.service);
	}
}

/* ------------------------------------------------------------------ */
/* credentials                                                         */

static char tmp_dir[] = "/tmp/lk-test-registry.XXXXXX";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *tmp_path(const char *name)
{
	return lk_xasprintf("%s/%s", tmp_dir, name);
}

/* A clean environment: no credentials anywhere. */
static int env_setup(void **state)
{
	if (!mkdtemp(tmp_dir))
		return -1;
	unsetenv("LAYERKIT_REGISTRY_USER");
	unsetenv("LAYERKIT_REGISTRY_PASSWORD");
	unsetenv("REGISTRY_AUTH_FILE");
	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("DOCKER_CONFIG");
	setenv("HOME", tmp_dir, 1);
	return 0;
}

static int env_teardown(void **state)
{
	char *cmd = lk_xasprintf("rm -rf '%s'", tmp_dir);
	int rc = system(cmd);

	free(cmd);
	return rc == 0 ? 0 : -1;
}

static int lookup(const char *registry, const char *repository, const char *auth_file,
		  struct lk_credentials *cred, struct lk_error *err)
{
	lk_error_clear(err);
	return lk_credentials_find(registry, repository, auth_file, cred, err);
}

static void expect_cred(const char *registry, const char *repository, const char *auth_file,
			const char *user, const char *password, const char *source_part)
{
	struct lk_credentials cred;
	struct lk_error err;
	int rc = lookup(registry, repository, auth_file, &cred, &err);

	if (rc != 1)
		fail_msg("%s/%s: no credentials (%d: %s)", registry, repository, rc, err.msg);
	assert_string_equal(cred.user, user);
	assert_string_equal(cred.password, password);
	if (!strstr(cred.source, source_part))
		fail_msg("source '%s' lacks '%s'", cred.source, source_part);
	lk_credentials_release(&cred);
	assert_null(cred.user);
	assert_null(cred.password);
}

static void expect_no_cred(const char *registry, const char *repository)
{
	struct lk_credentials cred;
	struct lk_error err;

	assert_int_equal(lookup(registry, repository, NULL, &cred, &err), 0);
	assert_null(cred.user);
}

static void expect_cred_error(const char *auth_file, const char *needle, int exit_code)
{
	struct lk_credentials cred;
	struct lk_error err;

	assert_int_equal(lookup("localhost:5000", "app", auth_file, &cred, &err), LK_FAILED);
	if (!strstr(err.msg, needle))
		fail_msg("message '%s' lacks '%s'", err.msg, needle);
	assert_int_equal(err.exit_code, exit_code);
	assert_null(cred.user);
}

/* base64("alice:pa:ss") = YWxpY2U6cGE6c3M=, base64("bob:b0b") = Ym9iOmIwYg==,
 * base64("carol:c") = Y2Fyb2w6Yw==, base64("hub:h") = aHViOmg= */
static void test_credentials_auth_file(void **state)
{
	char *path = tmp_path("auth.json");

	write_file(path,
		   "{\"auths\": {"
		   "\"localhost:5000\": {\"auth\": \"YWxpY2U6cGE6c3M=\"},"
		   "\"localhost:5000/team\": {\"auth\": \"Ym9iOmIwYg\"},"
		   "\"https://reg.example.com/v2/\": {\"auth\": \"Y2Fyb2w6Yw==\"},"
		   "\"https://index.docker.io/v1/\": {\"auth\": \"aHViOmg=\"},"
		   "\"plain.example.com\": {\"username\": \"dave\", \"password\": \"d\"}"
		   "}}");
	setenv("REGISTRY_AUTH_FILE", path, 1);
	/* a ':' in the password stays in the password */
	expect_cred("localhost:5000", "other/app", NULL, "alice", "pa:ss", "$REGISTRY_AUTH_FILE");
	/* the longest namespace key wins; base64 without padding is fine */
	expect_cred("localhost:5000", "team/app", NULL, "bob", "b0b", "\"localhost:5000/team\"");
	expect_cred("localhost:5000", "team", NULL, "bob", "b0b", "localhost:5000/team");
	/* "team" is not a prefix of "teamx" */
	expect_cred("localhost:5000", "teamx/app", NULL, "alice", "pa:ss", "auth.json");
	/* scheme and /v2/ dropped from keys; Docker's Hub key */
	expect_cred("reg.example.com", "x", NULL, "carol", "c", "reg.example.com");
	expect_cred("docker.io", "library/nginx", NULL, "hub", "h", "index.docker.io");
	expect_cred("plain.example.com", "x", NULL, "dave", "d", "plain.example.com");
	/* another port is another registry */
	expect_no_cred("localhost:5001", "app");
	expect_no_cred("localhost", "app");
	expect_no_cred("reg.example.com:444", "app");

	/* the environment's user and password come first */
	setenv("LAYERKIT_REGISTRY_USER", "env-user", 1);
	setenv("LAYERKIT_REGISTRY_PASSWORD", "env-pass", 1);
	expect_cred("localhost:5000", "app", NULL, "env-user", "env-pass", "$LAYERKIT_REGISTRY_USER");
	unsetenv("LAYERKIT_REGISTRY_PASSWORD");
	expect_cred_error(NULL, "LAYERKIT_REGISTRY_PASSWORD is not", LK_EXIT_USAGE);
	unsetenv("LAYERKIT_REGISTRY_USER");
	unsetenv("REGISTRY_AUTH_FILE");
	free(path);
}

static void test_credentials_default_files(void **state)
{
	char *docker_dir = tmp_path(".docker"), *docker = tmp_path(".docker/config.json");
	char *runtime = tmp_path("run"), *containers = tmp_path("run/containers");
	char *podman = tmp_path("run/containers/auth.json"), *given = tmp_path("given.json");
	char *other_docker = tmp_path("dc"), *other_config = tmp_path("dc/config.json");

	expect_no_cred("localhost:5000", "app");
	assert_int_equal(mkdir(docker_dir, 0700), 0);
	write_file(docker, "{\"auths\": {\"localhost:5000\": {\"auth\": \"Ym9iOmIwYg==\"},"
			   "\"helper.example.com\": {}}, \"credsStore\": \"desktop\"}");
	expect_cred("localhost:5000", "app", NULL, "bob", "b0b", "~/.docker/config.json");
	/* an entry without "auth" (a credential helper's) is no credentials */
	expect_no_cred("helper.example.com", "app");

	/* $XDG_RUNTIME_DIR/containers/auth.json is read before ~/.docker */
	assert_int_equal(mkdir(runtime, 0700), 0);
	assert_int_equal(mkdir(containers, 0700), 0);
	write_file(podman, "{\"auths\": {\"localhost:5000\": {\"auth\": \"YWxpY2U6cGE6c3M=\"}}}");
	setenv("XDG_RUNTIME_DIR", runtime, 1);
	expect_cred("localhost:5000", "app", NULL, "alice", "pa:ss", "containers/auth.json");
	/* ... but a registry it lacks is still looked up in ~/.docker */
	write_file(podman, "{\"auths\": {}}");
	expect_cred("localhost:5000", "app", NULL, "bob", "b0b", "~/.docker/config.json");

	/* $DOCKER_CONFIG replaces ~/.docker */
	assert_int_equal(mkdir(other_docker, 0700), 0);
	write_file(other_config, "{\"auths\": {\"localhost:5000\": {\"auth\": \"Y2Fyb2w6Yw==\"}}}");
	setenv("DOCKER_CONFIG", other_docker, 1);
	expect_cred("localhost:5000", "app", NULL, "carol", "c", "$DOCKER_CONFIG");
	unsetenv("DOCKER_CONFIG");

	/* an explicit file is the only one read */
	write_file(given, "{\"auths\": {\"localhost:5000\": {\"auth\": \"aHViOmg=\"}}}");
	expect_cred("localhost:5000", "app", given, "hub", "h", "the auth file given");
	{
		struct lk_credentials cred;
		struct lk_error err;

		assert_int_equal(lookup("elsewhere:1", "app", given, &cred, &err), 0);
	}
	unsetenv("XDG_RUNTIME_DIR");
	free(docker_dir);
	free(docker);
	free(runtime);
	free(containers);
	free(podman);
	free(given);
	free(other_docker);
	free(other_config);
}

static void test_credentials_bad_files(void **state)
{
	char *broken = tmp_path("broken.json"), *b64 = tmp_path("b64.json");
	char *nocolon = tmp_path("nocolon.json"), *missing = tmp_path("missing.json");
	char *not_object = tmp_path("array.json");

	write_file(broken, "{\"auths\": {\n\"localhost:5000\": {\"auth\": }}}");
	expect_cred_error(broken, "broken.json", LK_EXIT_BUILD);
	expect_cred_error(broken, "line 2", LK_EXIT_BUILD);
	write_file(b64, "{\"auths\": {\"localhost:5000\": {\"auth\": \"!!!not base64!!!\"}}}");
	expect_cred_error(b64, "entry \"localhost:5000\" is not base64 of USER:PASSWORD", LK_EXIT_BUILD);
	/* base64("nocolon") */
	write_file(nocolon, "{\"auths\": {\"localhost:5000\": {\"auth\": \"bm9jb2xvbg==\"}}}");
	expect_cred_error(nocolon, "is not base64 of USER:PASSWORD", LK_EXIT_BUILD);
	expect_cred_error(missing, "missing.json", LK_EXIT_BUILD);
	/* $REGISTRY_AUTH_FILE must exist when it is set */
	setenv("REGISTRY_AUTH_FILE", missing, 1);
	expect_cred_error(NULL, "$REGISTRY_AUTH_FILE", LK_EXIT_BUILD);
	unsetenv("REGISTRY_AUTH_FILE");
	/* JSON that is no auth file has no credentials, and is no crash */
	write_file(not_object, "[1, 2, 3]");
	{
		struct lk_credentials cred;
		struct lk_error err;

		assert_int_equal(lookup("localhost:5000", "app", not_object, &cred, &err), 0);
	}
	free(broken);
	free(b64);
	free(nocolon);
	free(missing);
	free(not_object);
}

/* ------------------------------------------------------------------ */
/* Location                                                            */

static void expect_location(const char *request, const char *location, const char *want)
{
	char *got = lk_registry_resolve_location(request, location);

	if (!want) {
		if (got)
			fail_msg("'%s' against '%s' gave '%s', expected none", location ? location : "(null)",
				 request, got);
		return;
	}
	if (!got)
		fail_msg("'%s' against '%s' gave none", location, request);
	assert_string_equal(got, want);
	free(got);
}

static void test_resolve_location(void **state)
{
	const char *post = "http://127.0.0.1:5000/v2/team/app/blobs/uploads/";

	/* absolute, as docker-registry answers */
	expect_location(post, "http://127.0.0.1:5000/v2/team/app/blobs/uploads/u1?_state=abc",
			"http://127.0.0.1:5000/v2/team/app/blobs/uploads/u1?_state=abc");
	/* absolute path */
	expect_location(post, "/v2/team/app/blobs/uploads/u2?_state=a%2Fb",
			"http://127.0.0.1:5000/v2/team/app/blobs/uploads/u2?_state=a%2Fb");
	/* relative to the request's directory */
	expect_location(post, "u3?x=1", "http://127.0.0.1:5000/v2/team/app/blobs/uploads/u3?x=1");
	/* relative to a PATCH URL: its last segment is replaced */
	expect_location("http://127.0.0.1:5000/v2/x/blobs/uploads/u4?_state=1", "u5?_state=2",
			"http://127.0.0.1:5000/v2/x/blobs/uploads/u5?_state=2");
	/* query only: the same path, the new query */
	expect_location("https://reg.example.com/v2/x/blobs/uploads/u6?_state=1", "?_state=2",
			"https://reg.example.com/v2/x/blobs/uploads/u6?_state=2");
	/* another host (blob storage) is followed as given */
	expect_location(post, "https://storage.example.com/upload?sig=1",
			"https://storage.example.com/upload?sig=1");
	/* scheme-relative */
	expect_location("https://reg.example.com/v2/", "//other.example.com/up",
			"https://other.example.com/up");
	/* what is not an http(s) URL */
	expect_location(post, "ftp://example.com/x", NULL);
	expect_location(post, "file:///etc/passwd", NULL);
	expect_location(post, "", NULL);
	expect_location(post, NULL, NULL);
	expect_location("not a url", "u1", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_parse_good),
		cmocka_unit_test(test_ref_parse_bad),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_challenge_parse),
		cmocka_unit_test(test_credentials_auth_file),
		cmocka_unit_test(test_credentials_default_files),
		cmocka_unit_test(test_credentials_bad_files),
		cmocka_unit_test(test_resolve_location),
	};

	return cmocka_run_group_tests(tests, env_setup, env_teardown);
}
