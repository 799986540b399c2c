#!/bin/bash
# test_push.sh - end-to-end test of `push` (core/push.c, core/registry.c)
# against real docker-registry servers that it starts on 127.0.0.1 (and
# stops), with layerkit's own images.
#
#   test_push.sh LAYERKIT PUSH_DRIVER
#
# PUSH_DRIVER (tests/e2e/push_driver.c) calls lk_push_layout and prints its
# stats as key=value lines; the checks below assert on them.  Needs
# docker-registry, skopeo, htpasswd (apache2-utils), curl and python3: a
# missing tool fails the test, so CI cannot pass without pushing.
set -euo pipefail

LAYERKIT=$(realpath "$1")
DRIVER=$(realpath "$2")

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

for tool in docker-registry skopeo htpasswd curl python3 openssl; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install docker-registry skopeo apache2-utils curl python3 openssl)"
done

T=$(mktemp -d /tmp/lk-push.XXXXXX)
PIDS=()
cleanup() {
	local rc=$?
	for pid in "${PIDS[@]}"; do
		stop_process "$pid"
	done
	if [ "$rc" -eq 0 ]; then
		rm -rf "$T"
	else
		echo "test_push: kept $T (registry logs: $T/*/log)" >&2
	fi
}
trap cleanup EXIT

# Nothing from the user's environment: no credentials, no record of pushes.
export HOME=$T/home XDG_CACHE_HOME=$T/cache
unset REGISTRY_AUTH_FILE XDG_RUNTIME_DIR DOCKER_CONFIG LAYERKIT_REGISTRY_USER \
	LAYERKIT_REGISTRY_PASSWORD http_proxy https_proxy HTTP_PROXY HTTPS_PROXY || true
mkdir -p "$HOME" "$XDG_CACHE_HOME"

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_registry NAME PORT [AUTH_YAML]: a registry on 127.0.0.1:PORT keeping
# its blobs in $T/NAME/data (kept across restarts), with the "auth:"
# section in the file AUTH_YAML if given; sets REG_PID.
start_registry() {
	local name=$1 port=$2 auth=${3:-} dir=$T/$1
	mkdir -p "$dir/data"
	{
		echo "version: 0.1"
		echo "log: {level: warn}"
		echo "storage:"
		echo "  filesystem: {rootdirectory: $dir/data}"
		echo "  delete: {enabled: true}"
		echo "http:"
		echo "  addr: 127.0.0.1:$port"
		echo "  secret: test-only"
		if [ -n "$auth" ]; then
			cat "$auth"
		fi
	} >"$dir/config.yml"
	docker-registry serve "$dir/config.yml" >>"$dir/log" 2>&1 &
	REG_PID=$!
	disown "$REG_PID"	# its death by kill -9 below is expected: no job message
	PIDS+=("$REG_PID")
	for _ in $(seq 100); do
		code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/" || true)
		case $code in 200|401) return 0 ;; esac
		kill -0 "$REG_PID" 2>/dev/null || fail "registry $name did not start: $(cat "$dir/log")"
		sleep 0.1
	done
	fail "registry $name does not answer on 127.0.0.1:$port"
}

# Stops a process this script started and waits (up to 10 s) until it is gone.
stop_process() {
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null || true
}

# push OUT ARGS...: runs the driver, stats in OUT, messages in OUT.err; sets RC.
push() {
	local out=$1
	shift
	RC=0
	"$DRIVER" "$@" >"$out" 2>"$out.err" || RC=$?
	# a sanitizer report fails the test whatever the exit status
	! grep -E -q 'ERROR: (Address|Leak)Sanitizer|runtime error:|UndefinedBehaviorSanitizer' "$out.err" ||
		fail "sanitizer report from push_driver $*: $(cat "$out.err")"
}

stat_of() { sed -n "s/^$2=//p" "$1"; }

expect_stat() {	# FILE KEY VALUE WHAT
	local got
	got=$(stat_of "$1" "$2")
	[ "$got" = "$3" ] || fail "$4: $2 is '$got', expected '$3' ($(tr '\n' ' ' <"$1"); $(cat "$1.err"))"
}

# The manifest digest, then "digest size" of the config and of each layer.
layout_blobs() {
	python3 - "$1" <<'EOF'
import json, os, sys
d = sys.argv[1]
desc = json.load(open(os.path.join(d, "index.json")))["manifests"][0]
man = json.load(open(os.path.join(d, "blobs", *desc["digest"].split(":"))))
print(desc["digest"])
for b in [man["config"]] + man["layers"]:
    print(b["digest"], b["size"])
EOF
}

# Sum of the sizes in "digest size" lines on stdin.
sum_sizes() { awk '{ s += $2 } END { print s + 0 }'; }

# Pulls REF with skopeo (which checks every blob's digest) into a dir:
# layout, which keeps the manifest as the registry serves it (an oci:
# destination would gzip uncompressed layers), and prints its digest.
pulled_digest() {	# REF DIR [skopeo args]
	local ref=$1 dir=$2
	shift 2
	rm -rf "$dir"
	skopeo copy -q --src-tls-verify=false "$@" "docker://$ref" "dir:$dir" >/dev/null ||
		fail "skopeo cannot pull $ref back"
	echo "sha256:$(sha256sum <"$dir/manifest.json" | cut -d' ' -f1)"
}

# --- images built by layerkit: dependencies + app (two-layer) ------------
SRC=$T/src
mkdir -p "$SRC/node_modules/left-pad" "$SRC/node_modules/big-dep" "$SRC/lib"
echo 'module.exports = (s, n) => s.padStart(n);' >"$SRC/node_modules/left-pad/index.js"
echo '{"name": "left-pad", "version": "1.3.0"}' >"$SRC/node_modules/left-pad/package.json"
head -c 300000 /dev/urandom >"$SRC/node_modules/big-dep/data.bin"
echo 'console.log("v1");' >"$SRC/server.js"
echo 'export const x = 1;' >"$SRC/lib/util.js"

build() {	# OUT TAG [layerkit build args]
	local out=$1 tag=$2
	shift 2
	"$LAYERKIT" -q build --root "$SRC" -o "$out" --tag "$tag" --no-cache "$@" ||
		fail "layerkit build of $out failed"
}

build "$T/oci1" v1
layout_blobs "$T/oci1" >"$T/blobs1"
DIGEST1=$(head -1 "$T/blobs1")
N1=$(($(wc -l <"$T/blobs1") - 1))
BYTES1=$(tail -n +2 "$T/blobs1" | sum_sizes)
[ "$N1" -ge 3 ] || fail "the test image should have a config and two layers, has $N1 blobs"

PORT=$(free_port)
start_registry plain "$PORT"
PLAIN_PID=$REG_PID
R=127.0.0.1:$PORT

step "first push uploads every blob"
push "$T/p1" --insecure "$T/oci1:v1" "$R/team/app:v1"
[ "$RC" -eq 0 ] || fail "first push failed: $(cat "$T/p1.err")"
expect_stat "$T/p1" blobs_uploaded "$N1" "first push"
expect_stat "$T/p1" bytes_uploaded "$BYTES1" "first push"
expect_stat "$T/p1" blobs_skipped 0 "first push"
expect_stat "$T/p1" digest "$DIGEST1" "first push"
grep -q "pushed .* to $R/team/app:v1" "$T/p1.err" || fail "no summary line: $(cat "$T/p1.err")"

step "pulled back with skopeo: the same manifest digest"
GOT=$(pulled_digest "$R/team/app:v1" "$T/pull1")
[ "$GOT" = "$DIGEST1" ] || fail "pulled $GOT, pushed $DIGEST1"

step "second push uploads nothing"
push "$T/p2" --insecure "$T/oci1:v1" "$R/team/app:v1"
[ "$RC" -eq 0 ] || fail "re-push failed: $(cat "$T/p2.err")"
expect_stat "$T/p2" bytes_uploaded 0 "re-push"
expect_stat "$T/p2" blobs_uploaded 0 "re-push"
expect_stat "$T/p2" blobs_skipped "$N1" "re-push"

step "an app change uploads only the app layer (and the config)"
echo 'console.log("v2");' >"$SRC/server.js"
build "$T/oci2" v2
layout_blobs "$T/oci2" >"$T/blobs2"
DIGEST2=$(head -1 "$T/blobs2")
# blobs of image 2 that image 1 does not have
NEW=$(tail -n +2 "$T/blobs2" | grep -v -F -f <(tail -n +2 "$T/blobs1" | cut -d' ' -f1) || true)
[ "$(echo "$NEW" | wc -l)" -eq 2 ] || fail "the app change should change 2 blobs (app layer, config), changed: $NEW"
push "$T/p3" --insecure "$T/oci2:v2" "$R/team/app:v2"
[ "$RC" -eq 0 ] || fail "push of the changed app failed: $(cat "$T/p3.err")"
expect_stat "$T/p3" blobs_uploaded 2 "app-only change"
expect_stat "$T/p3" bytes_uploaded "$(echo "$NEW" | sum_sizes)" "app-only change"
expect_stat "$T/p3" blobs_skipped $(($(wc -l <"$T/blobs2") - 3)) "app-only change"
GOT=$(pulled_digest "$R/team/app:v2" "$T/pull2")
[ "$GOT" = "$DIGEST2" ] || fail "pulled $GOT, pushed $DIGEST2"

step "another repository of the same registry: blobs are mounted, not uploaded"
push "$T/p4" --insecure "$T/oci2:v2" "$R/mirror/app:v2"
[ "$RC" -eq 0 ] || fail "push to a second repository failed: $(cat "$T/p4.err")"
expect_stat "$T/p4" bytes_uploaded 0 "mount"
expect_stat "$T/p4" blobs_mounted "$(($(wc -l <"$T/blobs2") - 1))" "mount"
GOT=$(pulled_digest "$R/mirror/app:v2" "$T/pull3")
[ "$GOT" = "$DIGEST2" ] || fail "pulled $GOT from the mounted repository, pushed $DIGEST2"

step "--from names the repository to mount from (no local record needed)"
push "$T/f1" --insecure --cache-dir "$T/fresh-cache" --from team/app "$T/oci1:v1" "$R/copy/app:v1"
[ "$RC" -eq 0 ] || fail "push with --from failed: $(cat "$T/f1.err")"
expect_stat "$T/f1" blobs_mounted "$N1" "--from"
expect_stat "$T/f1" bytes_uploaded 0 "--from"
# a repository that lacks the blobs: the registry answers 202, the blob is uploaded
push "$T/f2" --insecure --cache-dir "$T/fresh-cache2" --from no/such-repo "$T/oci1:v1" "$R/copy2/app:v1"
[ "$RC" -eq 0 ] || fail "push with a useless --from failed: $(cat "$T/f2.err")"
expect_stat "$T/f2" blobs_uploaded "$N1" "refused mount"
expect_stat "$T/f2" bytes_uploaded "$BYTES1" "refused mount"
GOT=$(pulled_digest "$R/copy2/app:v1" "$T/pull-f2")
[ "$GOT" = "$DIGEST1" ] || fail "pulled $GOT after a refused mount, pushed $DIGEST1"

step "an image index: its manifests by digest, then the index under the tag"
cp -r "$T/oci1" "$T/oci-index"
INDEX_DIGEST=$(python3 - "$T/oci-index" <<'PYTHON'
import hashlib, json, os, sys
d = sys.argv[1]
layout = json.load(open(os.path.join(d, "index.json")))
desc = dict(layout["manifests"][0])
desc.pop("annotations", None)
desc["platform"] = {"architecture": "amd64", "os": "linux"}
index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [desc]}).encode()
digest = "sha256:" + hashlib.sha256(index).hexdigest()
open(os.path.join(d, "blobs", "sha256", digest[7:]), "wb").write(index)
layout["manifests"] = [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest,
                        "size": len(index),
                        "annotations": {"org.opencontainers.image.ref.name": "multi"}}]
json.dump(layout, open(os.path.join(d, "index.json"), "w"))
print(digest)
PYTHON
)
push "$T/i1" --insecure "$T/oci-index:multi" "$R/multi/app:v1"
[ "$RC" -eq 0 ] || fail "push of an index failed: $(cat "$T/i1.err")"
expect_stat "$T/i1" digest "$INDEX_DIGEST" "index push"
expect_stat "$T/i1" bytes_uploaded 0 "index push (its blobs are mounted)"
GOT=$(skopeo inspect --raw --tls-verify=false "docker://$R/multi/app:v1" | sha256sum | cut -d' ' -f1)
[ "sha256:$GOT" = "$INDEX_DIGEST" ] || fail "the registry serves sha256:$GOT as multi/app:v1, pushed $INDEX_DIGEST"
GOT=$(pulled_digest "$R/multi/app@$DIGEST1" "$T/pull-index")
[ "$GOT" = "$DIGEST1" ] || fail "the index's manifest is not in the registry by digest"

step "push by digest"
push "$T/p5" --insecure "$T/oci1" "$R/bydigest/app@$DIGEST1"
[ "$RC" -eq 0 ] || fail "push by digest failed: $(cat "$T/p5.err")"
push "$T/p5b" --insecure "$T/oci1" "$R/bydigest/app@$DIGEST2"
[ "$RC" -eq 2 ] || fail "push under another image's digest: exit $RC, expected 2"
grep -q "names $DIGEST2" "$T/p5b.err" || fail "no clear message for a wrong digest: $(cat "$T/p5b.err")"

# A 64 MiB incompressible layer: pushed in 8 MiB chunks (PATCH).
mkdir -p "$SRC/node_modules/huge"
head -c $((64 * 1024 * 1024)) /dev/urandom >"$SRC/node_modules/huge/blob.bin"
build "$T/oci3" v3 --compression none
layout_blobs "$T/oci3" >"$T/blobs3"
DIGEST3=$(head -1 "$T/blobs3")
BIG=$(tail -n +2 "$T/blobs3" | sort -k2 -n | tail -1 | cut -d' ' -f1)

step "503 on the first request of each kind (flaky_proxy.py): retried, the push completes"
python3 "$(dirname "$(realpath "$0")")/flaky_proxy.py" "$T/flaky.port" "$PORT" "$T/flaky.log" &
PIDS+=("$!")
for _ in $(seq 100); do [ -f "$T/flaky.port" ] && break; sleep 0.1; done
[ -f "$T/flaky.port" ] || fail "the flaky proxy did not start"
FL=127.0.0.1:$(cat "$T/flaky.port")
push "$T/r1" --insecure --cache-dir "$T/flaky-cache" "$T/oci3:v3" "$FL/flaky/app:v3"
[ "$RC" -eq 0 ] || fail "push through 503s failed: $(cat "$T/r1.err")"
for kind in "GET /v2/" "HEAD /v2/flaky/app/blobs/" "POST /v2/flaky/app/blobs/uploads/" \
	"PATCH /v2/flaky/app/blobs/uploads/" "PUT /v2/flaky/app/blobs/uploads/" \
	"PUT /v2/flaky/app/manifests/v3"; do
	grep -q "^503 $kind" "$T/flaky.log" || fail "the proxy never failed '$kind': $(cat "$T/flaky.log")"
done
grep -q "trying again in 0.5 s" "$T/r1.err" || fail "no retry message: $(cat "$T/r1.err")"
grep -q "starting the upload again" "$T/r1.err" || fail "no restarted upload: $(cat "$T/r1.err")"
expect_stat "$T/r1" blobs_uploaded "$(($(wc -l <"$T/blobs3") - 1))" "push through 503s"
expect_stat "$T/r1" bytes_uploaded "$(tail -n +2 "$T/blobs3" | sum_sizes)" "push through 503s"
GOT=$(pulled_digest "$R/flaky/app:v3" "$T/pull-flaky")
[ "$GOT" = "$DIGEST3" ] || fail "pulled $GOT after the 503s, pushed $DIGEST3"

step "bad input: usage errors (exit 2) before any connection"
push "$T/u1" --insecure "$T/oci1:v1" "registry.example.com/team/app:v1"
[ "$RC" -eq 2 ] || fail "--insecure with a remote host: exit $RC, expected 2"
grep -q "only for a registry on this machine" "$T/u1.err" || fail "unclear --insecure refusal: $(cat "$T/u1.err")"
push "$T/u2" --insecure "$T/oci1:v1" "$R/Team/App:v1"
[ "$RC" -eq 2 ] || fail "uppercase repository: exit $RC, expected 2"
grep -q "invalid image reference '$R/Team/App:v1'" "$T/u2.err" || fail "unclear reference error: $(cat "$T/u2.err")"
push "$T/u3" --insecure "$T/oci1:nosuchtag" "$R/team/app:v1"
[ "$RC" -eq 2 ] || fail "missing tag: exit $RC, expected 2"
grep -q "no image tagged 'nosuchtag'; its tags: v1" "$T/u3.err" || fail "unclear missing-tag error: $(cat "$T/u3.err")"
push "$T/u4" --insecure "$T/nothere" "$R/team/app:v1"
[ "$RC" -eq 2 ] || fail "missing layout: exit $RC, expected 2"

step "a registry that is not running: clean failure (exit 1)"
DEAD=$(free_port)
push "$T/d1" --insecure "$T/oci1:v1" "127.0.0.1:$DEAD/team/app:v1"
[ "$RC" -eq 1 ] || fail "push to a closed port: exit $RC, expected 1"
grep -q "check that the registry is running" "$T/d1.err" || fail "unclear connection error: $(cat "$T/d1.err")"

step "TLS by default: a plain-HTTP registry without --insecure fails cleanly"
push "$T/t1" "$T/oci1:v1" "$R/team/app:v1"
[ "$RC" -eq 1 ] || fail "https to a plain-HTTP registry: exit $RC, expected 1"
grep -q "needs --insecure" "$T/t1.err" || fail "no --insecure hint: $(cat "$T/t1.err")"

# --- htpasswd Basic auth ---------------------------------------------------
step "Basic auth: no credentials, good ones from REGISTRY_AUTH_FILE, wrong ones"
PASS='s3cret-Pa55'
htpasswd -Bbn pusher "$PASS" >"$T/htpasswd"
printf 'auth:\n  htpasswd: {realm: layerkit-test, path: %s}\n' "$T/htpasswd" >"$T/auth-basic.yml"
APORT=$(free_port)
start_registry auth "$APORT" "$T/auth-basic.yml"
A=127.0.0.1:$APORT
auth_json() {	# USER PASSWORD KEY > file
	python3 -c 'import base64, json, sys; print(json.dumps({"auths": {sys.argv[3]: {"auth": base64.b64encode((sys.argv[1] + ":" + sys.argv[2]).encode()).decode()}}}))' "$@"
}

push "$T/a1" --insecure "$T/oci1:v1" "$A/team/app:v1"
[ "$RC" -eq 1 ] || fail "push without credentials: exit $RC, expected 1"
grep -q "wants a login" "$T/a1.err" || fail "unclear missing-credentials error: $(cat "$T/a1.err")"

auth_json pusher "$PASS" "$A" >"$T/auth-good.json"
REGISTRY_AUTH_FILE=$T/auth-good.json push "$T/a2" --insecure "$T/oci1:v1" "$A/team/app:v1"
[ "$RC" -eq 0 ] || fail "push with good credentials failed: $(cat "$T/a2.err")"
expect_stat "$T/a2" blobs_uploaded "$N1" "authenticated push"
GOT=$(pulled_digest "$A/team/app:v1" "$T/pull4" --src-creds "pusher:$PASS")
[ "$GOT" = "$DIGEST1" ] || fail "pulled $GOT from the auth registry, pushed $DIGEST1"

# a key with a scheme, as `docker login` writes them
auth_json pusher "$PASS" "http://$A" >"$T/auth-scheme.json"
push "$T/a3" --insecure --auth-file "$T/auth-scheme.json" "$T/oci2:v2" "$A/team/app:v2"
[ "$RC" -eq 0 ] || fail "push with --auth-file failed: $(cat "$T/a3.err")"
expect_stat "$T/a3" blobs_uploaded 2 "authenticated app-only change"

auth_json pusher 'wrong-password-xyz' "$A" >"$T/auth-bad.json"
REGISTRY_AUTH_FILE=$T/auth-bad.json push "$T/a4" --insecure "$T/oci1:v1" "$A/team/app:v1"
[ "$RC" -eq 1 ] || fail "push with wrong credentials: exit $RC, expected 1"
grep -q "refused the credentials from \$REGISTRY_AUTH_FILE ($T/auth-bad.json" "$T/a4.err" ||
	fail "unclear wrong-credentials error: $(cat "$T/a4.err")"
! grep -q 'wrong-password-xyz' "$T/a4" "$T/a4.err" || fail "the password was printed"
! grep -q "$PASS" "$T/a2" "$T/a2.err" "$T/a3.err" || fail "the password was printed"

LAYERKIT_REGISTRY_USER=pusher LAYERKIT_REGISTRY_PASSWORD=$PASS push "$T/a5" --insecure "$T/oci1:v1" "$A/team/app:v1"
[ "$RC" -eq 0 ] || fail "push with credentials from the environment failed: $(cat "$T/a5.err")"
expect_stat "$T/a5" bytes_uploaded 0 "authenticated re-push"

echo '{"auths": ' >"$T/auth-broken.json"
REGISTRY_AUTH_FILE=$T/auth-broken.json push "$T/a6" --insecure "$T/oci1:v1" "$A/team/app:v1"
[ "$RC" -ne 0 ] || fail "push with a broken auth file succeeded"
grep -q "auth-broken.json" "$T/a6.err" || fail "the broken auth file is not named: $(cat "$T/a6.err")"
stop_process "$REG_PID"

# --- Bearer tokens (docker-registry `auth: token` + token_server.py) -------
step "Bearer token flow: good credentials, the mount source's pull scope, wrong credentials"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/token.key" -out "$T/token.crt" -days 1 \
	-subj /CN=layerkit-test-token >/dev/null 2>&1 || fail "openssl cannot make the token signing key"
python3 "$(dirname "$(realpath "$0")")/token_server.py" "$T/token.port" "$T/token.key" \
	"$T/token.crt" test-registry test-issuer tokenuser "$PASS" "$T/token.log" &
PIDS+=("$!")
for _ in $(seq 100); do [ -f "$T/token.port" ] && break; sleep 0.1; done
[ -f "$T/token.port" ] || fail "the token server did not start"
{
	echo "auth:"
	echo "  token:"
	echo "    realm: http://127.0.0.1:$(cat "$T/token.port")/token"
	echo "    service: test-registry"
	echo "    issuer: test-issuer"
	echo "    rootcertbundle: $T/token.crt"
} >"$T/auth-token.yml"
BPORT=$(free_port)
start_registry bearer "$BPORT" "$T/auth-token.yml"
B=127.0.0.1:$BPORT
auth_json tokenuser "$PASS" "$B" >"$T/auth-bearer.json"
push "$T/b1" --insecure --auth-file "$T/auth-bearer.json" "$T/oci1:v1" "$B/team/app:v1"
[ "$RC" -eq 0 ] || fail "push with a Bearer token failed: $(cat "$T/b1.err")"
expect_stat "$T/b1" blobs_uploaded "$N1" "Bearer push"
grep -q "^ok repository:team/app:pull,push$" "$T/token.log" ||
	fail "no token asked for team/app: $(cat "$T/token.log")"
push "$T/b2" --insecure --auth-file "$T/auth-bearer.json" "$T/oci1:v1" "$B/other/app:v1"
[ "$RC" -eq 0 ] || fail "second Bearer push failed: $(cat "$T/b2.err")"
expect_stat "$T/b2" blobs_mounted "$N1" "Bearer mount"
grep -q "^ok repository:other/app:pull,push repository:team/app:pull$" "$T/token.log" ||
	fail "the token for the mount lacks pull on team/app: $(cat "$T/token.log")"
GOT=$(pulled_digest "$B/other/app:v1" "$T/pull-bearer" --src-creds "tokenuser:$PASS")
[ "$GOT" = "$DIGEST1" ] || fail "pulled $GOT from the token registry, pushed $DIGEST1"
auth_json tokenuser 'wrong-token-pw' "$B" >"$T/auth-bearer-bad.json"
push "$T/b3" --insecure --auth-file "$T/auth-bearer-bad.json" "$T/oci2:v2" "$B/team/app:v2"
[ "$RC" -eq 1 ] || fail "Bearer push with wrong credentials: exit $RC, expected 1"
grep -q "token service http://127.0.0.1:[0-9]*/token of registry $B refused the credentials" "$T/b3.err" ||
	fail "unclear wrong-credentials error (Bearer): $(cat "$T/b3.err")"
! grep -q 'wrong-token-pw' "$T/b3" "$T/b3.err" || fail "the password was printed"
push "$T/b4" --insecure "$T/oci2:v2" "$B/team/app:v2"
[ "$RC" -eq 1 ] || fail "Bearer push without credentials: exit $RC, expected 1"
grep -q "wants credentials (HTTP 401) and none were found" "$T/b4.err" ||
	fail "unclear missing-credentials error (Bearer): $(cat "$T/b4.err")"
stop_process "$REG_PID"

# --- the registry dies in the middle of a large upload ---------------------
step "registry killed during a 64 MiB layer: clean failure, then a re-push sends only what is missing"
KPORT=$(free_port)
start_registry kill "$KPORT"
K=127.0.0.1:$KPORT
# kill -9 the registry as soon as an upload has data on disk
python3 - "$T/kill/data" "$REG_PID" "$T/killed" <<'EOF' &
import glob, os, signal, sys, time
root, pid, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3]
deadline = time.time() + 120
while time.time() < deadline:
    for f in glob.glob(root + "/docker/registry/v2/repositories/**/_uploads/*/data", recursive=True):
        try:
            if os.path.getsize(f) > 0:
                os.kill(pid, signal.SIGKILL)
                open(marker, "w").write(f)
                sys.exit(0)
        except OSError:
            pass
    time.sleep(0.001)
sys.exit(1)
EOF
WATCHER=$!
PIDS+=("$WATCHER")
sleep 0.3	# the watcher is running
START=$(date +%s)
push "$T/k1" --insecure -j 2 "$T/oci3:v3" "$K/big/app:v3"
wait "$WATCHER" || fail "the registry was never seen receiving an upload"
stop_process "$REG_PID"
[ -f "$T/killed" ] || fail "the registry was not killed"
[ "$RC" -eq 1 ] || fail "push to a registry killed mid-upload: exit $RC, expected 1 ($(cat "$T/k1.err"))"
grep -q "check that the registry is running" "$T/k1.err" || fail "unclear error after the kill: $(cat "$T/k1.err")"
[ $(($(date +%s) - START)) -lt 60 ] || fail "the failed push took more than 60 s"
grep -q "pushed " "$T/k1.err" && fail "a summary was printed for a failed push"

start_registry kill "$KPORT"
# what the registry kept of the interrupted push
: >"$T/missing3"
tail -n +2 "$T/blobs3" | while read -r digest size; do
	code=$(curl -s -o /dev/null -I -w '%{http_code}' "http://$K/v2/big/app/blobs/$digest")
	[ "$code" = 200 ] || echo "$digest $size" >>"$T/missing3"
done
grep -q "$BIG" "$T/missing3" || fail "the 64 MiB layer survived the kill; the test did not interrupt it"
push "$T/k2" --insecure "$T/oci3:v3" "$K/big/app:v3"
[ "$RC" -eq 0 ] || fail "re-push after the restart failed: $(cat "$T/k2.err")"
expect_stat "$T/k2" blobs_uploaded "$(wc -l <"$T/missing3")" "re-push after the kill"
expect_stat "$T/k2" bytes_uploaded "$(sum_sizes <"$T/missing3")" "re-push after the kill"
GOT=$(pulled_digest "$K/big/app:v3" "$T/pull5")
[ "$GOT" = "$DIGEST3" ] || fail "pulled $GOT after the restart, pushed $DIGEST3"

stop_process "$PLAIN_PID"
echo "PASS: push"
