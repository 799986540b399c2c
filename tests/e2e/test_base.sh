#!/bin/bash
# test_base.sh - end-to-end test of base images (core/base.c) and docker-archive
# output (core/archive_out.c), with layerkit's own images as bases:
#   - an app on a layout base (base = DIR:TAG), checked with umoci unpack: the
#     rootfs has both, diff_ids and history are the base's then the app's,
#     the base's run config is inherited and merged;
#   - the same app on that base pushed to a docker-registry started here on
#     127.0.0.1: the same manifest digest, a second build pulls nothing, a
#     digest reference builds from the cache with the registry stopped;
#   - max_layers counts the base's layers;
#   - build --format docker-archive: skopeo inspect docker-archive: and
#     oci-archive:, skopeo copy docker-archive: -> oci: then umoci unpack,
#     and podman load where podman is installed.
#
#   test_base.sh LAYERKIT
set -euo pipefail

LAYERKIT=$(realpath "$1")
MAKE_MULTI=$(realpath "$(dirname "$0")/../cases/base-multiplatform/make-tree")

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

for tool in docker-registry skopeo umoci curl python3 htpasswd; do
	command -v "$tool" >/dev/null || fail "$tool is not installed (apt-get install docker-registry skopeo umoci curl python3 apache2-utils)"
done

T=$(mktemp -d /tmp/lk-base.XXXXXX)
REG_PID=
AUTH_PID=
cleanup() {
	local rc=$?
	[ -n "$REG_PID" ] && stop_process "$REG_PID"
	[ -n "$AUTH_PID" ] && stop_process "$AUTH_PID"
	if [ "$rc" -eq 0 ]; then
		rm -rf "$T"
	else
		echo "test_base: kept $T" >&2
	fi
}
trap cleanup EXIT

export HOME=$T/home XDG_CACHE_HOME=$T/cache
unset SOURCE_DATE_EPOCH REGISTRY_AUTH_FILE XDG_RUNTIME_DIR DOCKER_CONFIG LAYERKIT_REGISTRY_USER \
	LAYERKIT_REGISTRY_PASSWORD http_proxy https_proxy HTTP_PROXY HTTPS_PROXY || true
mkdir -p "$HOME" "$XDG_CACHE_HOME"

stop_process() {
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null || true
}

# lk LOG ARGS...: runs layerkit, stdout+stderr in LOG; fails on a sanitizer report.
lk() {
	local log=$1
	shift
	RC=0
	"$LAYERKIT" "$@" >"$log" 2>&1 || RC=$?
	! grep -E -q 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$log" ||
		fail "sanitizer report from layerkit $*: $(cat "$log")"
}

lk_ok() {
	local log=$1
	lk "$@"
	[ "$RC" -eq 0 ] || fail "layerkit ${*:2} failed: $(cat "$log")"
}

# image_json LAYOUT: {"digest", "manifest", "config"} of its only image.
image_json() {
	python3 - "$1" <<'EOF'
import json, os, sys
d = sys.argv[1]
desc = json.load(open(os.path.join(d, "index.json")))["manifests"][0]
blob = lambda dg: json.load(open(os.path.join(d, "blobs", *dg.split(":"))))
man = blob(desc["digest"])
print(json.dumps({"digest": desc["digest"], "manifest": man, "config": blob(man["config"]["digest"])}))
EOF
}

# --- the base: two layers (a "system" and a "tools" part), a run config ----
mkdir -p "$T/base/usr/bin" "$T/base/etc" "$T/web"
echo 'base tool' >"$T/base/usr/bin/tool"
echo 'base=1' >"$T/base/etc/base.conf"
for i in $(seq 20); do echo "dep $i" >"$T/base/usr/bin/dep$i"; done
echo 'print("hello")' >"$T/web/main.py"
cat >"$T/layering.ini" <<EOF
[layerkit]
output = out

[app.base]
root = base
prefix = /
strategy = grouped-by-size
env.PATH = /usr/local/bin:/usr/bin:/bin
env.LANG = C
workdir = /srv
user = 1000:1000
cmd = ["/usr/bin/tool"]
label.org.example.from = base
label.org.example.kind = base
tag = v1

[app.web]
root = web
base = out/base:v1
env.LANG = C.UTF-8
env.APP_MODE = prod
entrypoint = ["python3", "/app/main.py"]
label.org.example.kind = app
EOF
cd "$T"

step "base image as an OCI layout"
lk_ok "$T/base.log" build -c layering.ini --app base
lk_ok "$T/web.log" build -c layering.ini --app web
image_json out/base >"$T/base.json"
image_json out/web >"$T/web.json"
WEB_DIGEST=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["digest"])' "$T/web.json")
python3 - "$T/base.json" "$T/web.json" <<'EOF' || fail "the image on the base is not base + app"
import json, sys
base, web = (json.load(open(p)) for p in sys.argv[1:])
bl, wl = base["manifest"]["layers"], web["manifest"]["layers"]
n = len(bl)
assert n >= 1 and len(wl) == n + 1, (len(bl), len(wl))
# the base's blobs, unchanged: same digests, sizes and media types
for b, w in zip(bl, wl):
    assert (b["digest"], b["size"], b["mediaType"]) == (w["digest"], w["size"], w["mediaType"]), (b, w)
bc, wc = base["config"], web["config"]
assert wc["rootfs"]["diff_ids"][:n] == bc["rootfs"]["diff_ids"], "diff_ids"
assert len(wc["rootfs"]["diff_ids"]) == n + 1
assert wc["history"][:len(bc["history"])] == bc["history"], "history"
assert len(wc["history"]) == len(bc["history"]) + 1
run = wc["config"]
assert run["Env"] == ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "APP_MODE=prod"], run["Env"]
assert run["User"] == "1000:1000", run
assert run["WorkingDir"] == "/srv", run          # the app left workdir unset
assert run["Entrypoint"] == ["python3", "/app/main.py"]
assert "Cmd" not in run, run                     # a new Entrypoint drops the base's Cmd
assert run["Labels"] == {"org.example.from": "base", "org.example.kind": "app"}, run["Labels"]
EOF
grep -q "2 layers\|[0-9] layers" "$T/web.log" || fail "no summary: $(cat "$T/web.log")"
umoci unpack --rootless --image out/web:latest "$T/bundle" >/dev/null 2>&1 ||
	fail "umoci cannot unpack the image on the base"
[ "$(cat "$T/bundle/rootfs/usr/bin/tool")" = "base tool" ] || fail "the base's files are missing"
[ -f "$T/bundle/rootfs/usr/bin/dep20" ] && [ -f "$T/bundle/rootfs/etc/base.conf" ] ||
	fail "the base's files are missing"
[ "$(cat "$T/bundle/rootfs/app/main.py")" = 'print("hello")' ] || fail "the app's files are missing"

step "max_layers counts the base's layers"
N_BASE=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["manifest"]["layers"]))' "$T/base.json")
sed "s/^base = out\/base:v1/base = out\/base:v1\nmax_layers = $N_BASE/" layering.ini >small.ini
lk "$T/small.log" build -c small.ini --app web
[ "$RC" -eq 2 ] || fail "a base that fills max_layers: exit $RC, expected 2: $(cat "$T/small.log")"
grep -q "has $N_BASE layers, which leaves none of max_layers = $N_BASE" "$T/small.log" ||
	fail "unclear max_layers error: $(cat "$T/small.log")"
sed 's/^base = out\/base:v1/base = out\/base:nope/' layering.ini >badtag.ini
lk "$T/badtag.log" build -c badtag.ini --app web
[ "$RC" -eq 2 ] && grep -q "no tag 'nope' (its tags: v1)" "$T/badtag.log" ||
	fail "a missing base tag: exit $RC: $(cat "$T/badtag.log")"

step "docker-archive output"
lk_ok "$T/archive.log" build -c layering.ini --app web --format docker-archive -o "$T/web.tar"
[ "$(image_json out/web | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')" = "$WEB_DIGEST" ] ||
	fail "--format docker-archive changed the layout's image"
tar tf "$T/web.tar" >"$T/web.tar.list"
diff <(sed -n '1,2p;$p' "$T/web.tar.list") <(printf 'blobs/\nblobs/sha256/\noci-layout\n') >/dev/null ||
	fail "archive entries not in order: $(cat "$T/web.tar.list")"
tar xOf "$T/web.tar" manifest.json | python3 -c '
import json, sys
m = json.load(sys.stdin)
assert len(m) == 1 and m[0]["RepoTags"] == ["web:latest"], m
assert m[0]["Config"].startswith("blobs/sha256/") and all(l.startswith("blobs/sha256/") for l in m[0]["Layers"])
' || fail "manifest.json: $(tar xOf "$T/web.tar" manifest.json)"
tar xOf "$T/web.tar" index.json | grep -q '"io.containerd.image.name":"docker.io/library/web:latest"' ||
	fail "index.json lacks the containerd name: $(tar xOf "$T/web.tar" index.json)"
skopeo inspect docker-archive:"$T/web.tar" >"$T/inspect.json" || fail "skopeo inspect docker-archive: failed"
skopeo inspect docker-archive:"$T/web.tar":web:latest >/dev/null || fail "skopeo does not find web:latest in the archive"
skopeo inspect oci-archive:"$T/web.tar" >"$T/inspect-oci.json" || fail "skopeo inspect oci-archive: failed"
grep -q "\"Digest\": \"$WEB_DIGEST\"" "$T/inspect-oci.json" || fail "oci-archive: another image: $(cat "$T/inspect-oci.json")"
python3 - "$T/inspect.json" "$T/web.json" <<'EOF' || fail "skopeo sees other layers in the docker-archive"
import json, sys
seen, web = (json.load(open(p)) for p in sys.argv[1:])
assert seen["Layers"] == web["config"]["rootfs"]["diff_ids"], (seen["Layers"], web["config"]["rootfs"])
EOF
skopeo copy -q docker-archive:"$T/web.tar" oci:"$T/copied:web" >/dev/null || fail "skopeo copy docker-archive: failed"
umoci unpack --rootless --image "$T/copied:web" "$T/bundle2" >/dev/null 2>&1 || fail "umoci cannot unpack the copy"
diff -r "$T/bundle/rootfs" "$T/bundle2/rootfs" || fail "the copied image's rootfs differs"
cp "$T/web.tar" "$T/web.tar.1"
lk_ok "$T/archive2.log" build -c layering.ini --app web --format docker-archive -o "$T/web.tar"
cmp -s "$T/web.tar" "$T/web.tar.1" || fail "a second docker-archive build is not byte-identical"
if command -v podman >/dev/null; then
	if podman --root "$T/podman/root" --runroot "$T/podman/run" --storage-driver vfs \
		load -i "$T/web.tar" >"$T/podman.log" 2>&1; then
		grep -q "web:latest" "$T/podman.log" || fail "podman load: $(cat "$T/podman.log")"
		echo "podman load: ok"
	else
		fail "podman load failed: $(cat "$T/podman.log")"
	fi
else
	echo "podman is not installed: podman load not tried"
fi

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_registry NAME PORT [AUTH_YAML]: a docker-registry on 127.0.0.1:PORT; sets STARTED_PID.
start_registry() {
	local dir=$T/$1
	mkdir -p "$dir/data"
	{
		printf 'version: 0.1\nlog: {level: warn}\nstorage:\n  filesystem: {rootdirectory: %s}\n' "$dir/data"
		printf 'http:\n  addr: 127.0.0.1:%s\n  secret: test-only\n' "$2"
		[ -z "${3:-}" ] || cat "$3"
	} >"$dir/config.yml"
	docker-registry serve "$dir/config.yml" >>"$dir/log" 2>&1 &
	STARTED_PID=$!
	for _ in $(seq 100); do
		case $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2/v2/" || true) in
		200|401) return 0 ;;
		esac
		sleep 0.1
	done
	fail "registry $1 does not answer on 127.0.0.1:$2: $(cat "$dir/log")"
}

step "base image from a registry"
PORT=$(free_port)
start_registry reg "$PORT"
REG_PID=$STARTED_PID
lk_ok "$T/push.log" push --insecure out/base:v1 "127.0.0.1:$PORT/team/base:v1"
sed "s#^base = out/base:v1#base = 127.0.0.1:$PORT/team/base:v1#; s#^\[layerkit\]#[layerkit]\ncache_dir = $T/pulls#" \
	layering.ini >reg.ini
sed -i "s#^output = out#output = regout#" reg.ini
lk "$T/reg-plain.log" build -c reg.ini --app web
[ "$RC" -ne 0 ] && grep -q "needs --insecure" "$T/reg-plain.log" ||
	fail "a plain-HTTP registry without --insecure: exit $RC: $(cat "$T/reg-plain.log")"
lk_ok "$T/reg1.log" build -c reg.ini --app web --insecure
[ "$(image_json regout/web | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')" = "$WEB_DIGEST" ] ||
	fail "the image on the registry base differs from the one on the layout base"
grep -q "base image 127.0.0.1:$PORT/team/base:v1: $N_BASE layers, $((N_BASE + 1)) blobs pulled" "$T/reg1.log" ||
	fail "first build: not every layer and the config pulled: $(cat "$T/reg1.log")"
for dg in $(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["manifest"]; print(" ".join(l["digest"][7:] for l in m["layers"]))' "$T/base.json"); do
	[ -f "$T/pulls/blobs/sha256/$dg" ] || fail "pulled layer $dg is not in the cache"
done
rm -rf regout
lk_ok "$T/reg2.log" build -c reg.ini --app web --insecure
grep -q "$N_BASE layers, 0 blobs pulled (0 bytes)" "$T/reg2.log" ||
	fail "second build pulled again: $(cat "$T/reg2.log")"
! grep -q "pulling layer" "$T/reg2.log" || fail "second build pulled a layer: $(cat "$T/reg2.log")"
umoci unpack --rootless --image regout/web:latest "$T/bundle3" >/dev/null 2>&1 ||
	fail "umoci cannot unpack the image on the registry base"
diff -r "$T/bundle/rootfs" "$T/bundle3/rootfs" || fail "the rootfs on the registry base differs"

step "a tag the registry lacks"
sed "s#^base = .*#base = 127.0.0.1:$PORT/team/base:v9#" reg.ini >reg-v9.ini
lk "$T/reg-v9.log" build -c reg-v9.ini --app web --insecure
[ "$RC" -eq 1 ] && grep -q "base image 127.0.0.1:$PORT/team/base:v9: registry 127.0.0.1:$PORT, repository team/base: getting manifest v9: HTTP 404" "$T/reg-v9.log" ||
	fail "a missing tag: exit $RC: $(cat "$T/reg-v9.log")"

step "a registry base behind htpasswd Basic auth"
htpasswd -Bbn puller secret-pw >"$T/htpasswd"
printf 'auth:\n  htpasswd: {realm: layerkit-test, path: %s}\n' "$T/htpasswd" >"$T/auth.yml"
APORT=$(free_port)
start_registry auth "$APORT" "$T/auth.yml"
AUTH_PID=$STARTED_PID
export LAYERKIT_REGISTRY_USER=puller LAYERKIT_REGISTRY_PASSWORD=secret-pw
lk_ok "$T/apush.log" push --insecure out/base:v1 "127.0.0.1:$APORT/team/base:v1"
unset LAYERKIT_REGISTRY_USER LAYERKIT_REGISTRY_PASSWORD
sed "s#^base = .*#base = 127.0.0.1:$APORT/team/base:v1#; s#^cache_dir = .*#cache_dir = $T/apulls#" reg.ini >auth.ini
lk "$T/anon.log" build -c auth.ini --app web --insecure
[ "$RC" -eq 1 ] && grep -q "wants a login (HTTP 401, Basic)" "$T/anon.log" ||
	fail "a base behind a login, no credentials: exit $RC: $(cat "$T/anon.log")"
export LAYERKIT_REGISTRY_USER=puller LAYERKIT_REGISTRY_PASSWORD=wrong-pw
lk "$T/wrong.log" build -c auth.ini --app web --insecure
[ "$RC" -eq 1 ] && grep -q "refused the credentials from" "$T/wrong.log" ||
	fail "a base behind a login, wrong password: exit $RC: $(cat "$T/wrong.log")"
! grep -q "wrong-pw" "$T/wrong.log" || fail "the password was printed: $(cat "$T/wrong.log")"
rm -rf regout
export LAYERKIT_REGISTRY_PASSWORD=secret-pw
lk_ok "$T/auth.log" build -c auth.ini --app web --insecure
unset LAYERKIT_REGISTRY_USER LAYERKIT_REGISTRY_PASSWORD
grep -q "$N_BASE layers, $((N_BASE + 1)) blobs pulled" "$T/auth.log" || fail "authenticated pull: $(cat "$T/auth.log")"
[ "$(image_json regout/web | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')" = "$WEB_DIGEST" ] ||
	fail "the image on the authenticated registry base differs"
stop_process "$AUTH_PID"
AUTH_PID=

step "a damaged pulled layer in the cache is pulled again"
FIRST=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifest"]["layers"][0]["digest"][7:])' "$T/base.json")
rm -f "$T/pulls/blobs/sha256/$FIRST"
head -c 10 /dev/zero >"$T/pulls/blobs/sha256/$FIRST"
rm -rf regout
lk_ok "$T/reg3.log" build -c reg.ini --app web --insecure
grep -q "pulling layer sha256:$FIRST" "$T/reg3.log" || fail "a truncated cached layer was used: $(cat "$T/reg3.log")"

step "a multi-platform base from a registry (an index, Docker media types)"
"$MAKE_MULTI" "$T/multi" >/dev/null
lk_ok "$T/mpush.log" push --insecure "$T/multi/baselayout:v1" "127.0.0.1:$PORT/team/multi:v1"
cat >multi.ini <<EOF
[layerkit]
output = mout
cache_dir = $T/pulls

[app.local]
root = $T/multi/app
base = $T/multi/baselayout:v1
platform = linux/arm64/v8

[app.remote]
root = $T/multi/app
base = 127.0.0.1:$PORT/team/multi:v1
platform = linux/arm64/v8
EOF
lk_ok "$T/multi.log" build -c multi.ini --insecure
[ "$(image_json mout/local | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')" = \
  "$(image_json mout/remote | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')" ] ||
	fail "the arm64 image of the registry index differs from the layout's: $(cat "$T/multi.log")"
grep -q "remote'.*1 layers, 3 blobs pulled" "$T/multi.log" ||
	fail "pulled other than the arm64 manifest, config and layer: $(cat "$T/multi.log")"
umoci unpack --rootless --image mout/remote:latest "$T/bundle-multi" >/dev/null 2>&1 || fail "umoci: multi"
[ "$(cat "$T/bundle-multi/rootfs/etc/platform")" = "arm64/v8" ] || fail "not the arm64 image's layer"
sed 's#linux/arm64/v8#linux/s390x#' multi.ini >multi-bad.ini
lk "$T/multi-bad.log" build -c multi-bad.ini --app remote --insecure
[ "$RC" -eq 2 ] && grep -q "has no image for linux/s390x (it has: linux/amd64, linux/arm64/v8)" "$T/multi-bad.log" ||
	fail "no such platform in a registry index: exit $RC: $(cat "$T/multi-bad.log")"

step "a digest reference builds from the cache alone"
BASE_DIGEST=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["digest"])' "$T/base.json")
stop_process "$REG_PID"
REG_PID=
sed -i "s#^base = .*#base = 127.0.0.1:$PORT/team/base@$BASE_DIGEST#" reg.ini
rm -rf regout
lk_ok "$T/reg4.log" build -c reg.ini --app web --insecure
grep -q "0 blobs pulled" "$T/reg4.log" || fail "digest reference: $(cat "$T/reg4.log")"
[ "$(image_json regout/web | python3 -c 'import json,sys; print(json.load(sys.stdin)["digest"])')" = "$WEB_DIGEST" ] ||
	fail "the image on the digest reference differs"
echo "test_base: ok"
