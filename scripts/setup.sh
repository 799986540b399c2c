#!/bin/bash
# setup.sh - set up layerkit on Debian 12, as root, from a clean clone:
# install the build and test dependencies, configure and build build/, then
# build the bundled example image and show it with skopeo.
#
#   bash scripts/setup.sh [--deps-only] [--no-example]
#
# Safe to run again: packages already installed are not fetched, an existing
# build/ is reconfigured rather than recreated.
set -euo pipefail

usage() {
	cat <<'USAGE'
usage: bash scripts/setup.sh [--deps-only] [--no-example]

  --deps-only   only install the Debian packages (no build)
  --no-example  build layerkit but not the bundled example image
USAGE
}

deps_only=0
no_example=0
for arg in "$@"; do
	case "$arg" in
	--deps-only) deps_only=1 ;;
	--no-example) no_example=1 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "setup.sh: unknown option '$arg'" >&2; usage >&2; exit 2 ;;
	esac
done

cd "$(dirname "$0")/.."

# Everything the project needs to build (core, plugins; libcurl for push),
# test (cmocka, the e2e harness in python3, ASan/UBSan via gcc, fuzzers via
# clang, valgrind) and check images with real tools (skopeo, umoci,
# oci-image-tool, docker-registry; htpasswd, curl and openssl for the push
# tests), plus the benchmark's baselines (pigz, zstd).
packages=(
	build-essential meson ninja-build pkg-config
	libarchive-dev libjansson-dev libinih-dev libcmocka-dev libssl-dev
	zlib1g-dev libzstd-dev libdeflate-dev libcurl4-openssl-dev
	python3 clang valgrind
	skopeo umoci oci-image-tool docker-registry pigz zstd
	apache2-utils curl openssl podman
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "setup: all ${#packages[@]} packages are installed"
else
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup: these packages are missing: ${missing[*]}" >&2
		echo "setup: run this script as root (it uses apt-get), or install them first" >&2
		exit 1
	fi
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
fi

[ "$deps_only" -eq 1 ] && exit 0

if [ -f build/meson-private/coredata.dat ]; then
	meson setup --reconfigure build >/dev/null
else
	meson setup build >/dev/null
fi
echo "setup: building in build/"
meson compile -C build
echo "setup: built build/core/layerkit"

[ "$no_example" -eq 1 ] && exit 0

echo "setup: building the example image (examples/hello/layering.ini)"
build/core/layerkit build -c examples/hello/layering.ini
skopeo inspect oci:out/hello:latest
echo "setup: done; run the tests with: bash scripts/test.sh"
