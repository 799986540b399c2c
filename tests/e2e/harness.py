#!/usr/bin/env python3
"""End-to-end harness: runs the table-driven cases of tests/cases/ against a
built layerkit and checks every image it writes with the real OCI tools.

    harness.py --layerkit EXE case CASE_DIR [--update]
    harness.py --layerkit EXE reproducible CASE_DIR
    harness.py list CASES_DIR
    harness.py check-registered CASES_DIR NAME...

The case format is described in tests/e2e/README.md.  Standard library only.
Exit 0 = pass, 1 = fail (meson's convention; 77 would be a skip, never used:
a missing tool is a failure so CI cannot pass without checking the image).
"""

import argparse
import configparser
import difflib
import gzip
import hashlib
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time

# Substrings the sanitizers print: any of them fails a case whatever it expected.
SANITIZER_MARKS = (
    b"ERROR: AddressSanitizer",
    b"ERROR: LeakSanitizer",
    b"runtime error:",
    b"SUMMARY: UndefinedBehaviorSanitizer",
)

# valgrind's summary when it found something (memcheck or a leak).
VALGRIND_ERRORS = re.compile(rb"ERROR SUMMARY: [1-9]|definitely lost: [1-9]")

MEDIA_LAYER_PREFIX = "application/vnd.oci.image.layer.v1.tar"
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))

# "NAME: OUTPUT:TAG sha256:HEX, N layers (...), SIZE, SECONDS s" (core/main.c)
BUILD_LINE = re.compile(
    r"^(?P<app>[^:\s]+): (?P<output>.+):(?P<tag>[^:\s]+) "
    r"(?P<digest>sha256:[0-9a-f]{64}), (?P<layers>\d+) layers\b",
    re.M)
# Build times vary from run to run; goldens keep a placeholder.
SECONDS = re.compile(rb", \d+\.\d+ s$", re.M)


class CaseFailure(Exception):
    pass


def fail(msg):
    raise CaseFailure(msg)


def log(msg):
    print(msg, flush=True)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def path_key(path):
    """The order of core/common.c lk_path_cmp: component by component."""
    return [c.encode("utf-8", "surrogateescape") for c in path.split("/")]


def norm_mode(mode):
    """The writer's mode rule: 0755 for executables, 0644 otherwise."""
    return 0o755 if mode & 0o111 else 0o644


def need_tools():
    missing = [t for t in ("skopeo", "umoci", "oci-image-tool", "zstd")
               if shutil.which(t) is None]
    if missing:
        fail("missing tool(s) %s: run 'bash scripts/setup.sh --deps-only' as root"
             % ", ".join(missing))


def run_tool(argv, what, cwd=None):
    proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=300)
    if proc.returncode != 0:
        fail("%s failed (exit %d): %s\n%s%s" % (
            what, proc.returncode, " ".join(shlex.quote(a) for a in argv),
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace")))
    return proc.stdout


class Case:
    """One tests/cases/<name>/ directory, materialised in a temp dir."""

    def __init__(self, layerkit, case_dir, tmp):
        self.layerkit = os.path.realpath(layerkit)
        self.dir = os.path.realpath(case_dir)
        self.name = os.path.basename(self.dir)
        self.tmp = tmp
        self.tree = os.path.join(tmp, "tree")
        self.out = os.path.join(tmp, "out")
        self.config = os.path.join(tmp, "layering.ini")
        self.plugin_dir = os.path.dirname(self.layerkit)

    def file(self, *parts):
        return os.path.join(self.dir, *parts)

    def read(self, *parts, default=None):
        path = self.file(*parts)
        if not os.path.exists(path):
            return default
        with open(path, "rb") as f:
            return f.read()

    def placeholders(self):
        """Longest paths first, so @TREE@ wins over @TMP@."""
        return [
            ("@CONFIG@", self.config),
            ("@TREE@", self.tree),
            ("@OUT@", self.out),
            ("@CASE@", self.dir),
            ("@PLUGINDIR@", self.plugin_dir),
            ("@TMP@", self.tmp),
        ]

    def expand(self, text):
        for mark, value in self.placeholders():
            text = text.replace(mark, value)
        return text

    def mask(self, data):
        """Temp paths and timings back to placeholders, for goldens."""
        pairs = sorted(self.placeholders(), key=lambda p: -len(p[1]))
        for mark, value in pairs:
            data = data.replace(value.encode(), mark.encode())
        return SECONDS.sub(b", @SECONDS@ s", data)

    def env(self):
        env = dict(os.environ)
        # Goldens assume the defaults: no epoch, no extra plugins, own cache.
        for var in ("SOURCE_DATE_EPOCH", "LAYERKIT_PLUGIN_PATH"):
            env.pop(var, None)
        env["XDG_CACHE_HOME"] = os.path.join(self.tmp, "cache")
        env["LC_ALL"] = "C"
        env["LK_SOURCE_ROOT"] = SOURCE_ROOT
        return env

    def make_tree(self, dest=None):
        """Copies tree/ or runs make-tree DEST; returns whether there is a tree."""
        dest = dest or self.tree
        if os.path.isdir(self.file("tree")):
            shutil.copytree(self.file("tree"), dest, symlinks=True)
            return True
        if os.path.exists(self.file("make-tree")):
            proc = subprocess.run([self.file("make-tree"), dest], cwd=self.tmp,
                                  env=self.env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
            if proc.returncode != 0:
                fail("make-tree failed (exit %d):\n%s"
                     % (proc.returncode, proc.stdout.decode(errors="replace")))
            return True
        return False

    def write_config(self):
        text = self.read("layering.ini")
        if text is not None:
            with open(self.config, "w") as f:
                f.write(self.expand(text.decode()))

    def argv(self, extra=()):
        words = shlex.split(self.read("cmd", default=b"").decode())
        if not words:
            fail("%s: the cmd file is missing or empty" % self.file("cmd"))
        return [self.layerkit] + [self.expand(w) for w in words] + list(extra)

    def command(self):
        for w in shlex.split(self.read("cmd", default=b"").decode()):
            if w in ("build", "plan", "discover", "plugins"):
                return w
        return None

    def run_layerkit(self, argv, cwd=None):
        # LK_E2E_WRAP runs layerkit under a checker, e.g. valgrind (see README.md).
        wrap = shlex.split(os.environ.get("LK_E2E_WRAP", ""))
        argv = wrap + list(argv)
        proc = subprocess.run(argv, cwd=cwd or self.tmp, env=self.env(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=600)
        for mark in SANITIZER_MARKS:
            if mark in proc.stderr:
                fail("sanitizer report from %s:\n%s"
                     % (" ".join(argv), proc.stderr.decode(errors="replace")))
        if wrap and VALGRIND_ERRORS.search(proc.stderr):
            fail("valgrind found errors in %s:\n%s"
                 % (" ".join(argv), proc.stderr.decode(errors="replace")))
        if proc.returncode < 0:
            fail("layerkit died of signal %d:\n%s"
                 % (-proc.returncode, proc.stderr.decode(errors="replace")))
        return proc


def compare_golden(case, rel, actual, update):
    path = case.file(rel)
    if update:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(actual)
        log("updated %s" % os.path.relpath(path))
        return
    expected = case.read(rel)
    if expected is None:
        fail("%s is missing: write it with tests/e2e/update-golden.sh %s, check it by eye"
             % (path, case.name))
    if expected != actual:
        diff = difflib.unified_diff(
            expected.decode(errors="replace").splitlines(True),
            actual.decode(errors="replace").splitlines(True),
            "expected " + rel, "actual " + rel)
        fail("%s differs:\n%s" % (rel, "".join(diff)))


# ---- image checks ---------------------------------------------------------

def read_blob(layout, desc, what):
    digest = desc.get("digest", "")
    if not digest.startswith("sha256:"):
        fail("%s: descriptor digest '%s' is not sha256" % (what, digest))
    path = os.path.join(layout, "blobs", "sha256", digest[7:])
    if not os.path.isfile(path):
        fail("%s: blob %s is missing" % (what, path))
    with open(path, "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != digest[7:]:
        fail("%s: blob %s does not hash to its name" % (what, path))
    if len(data) != desc.get("size"):
        fail("%s: blob is %d bytes, descriptor says %s" % (what, len(data), desc.get("size")))
    return data


def uncompress(data, media_type, what):
    if media_type.endswith("+gzip"):
        # Python's reader takes multi-member streams as zlib's and Go's do.
        return gzip.decompress(data)
    if media_type.endswith("+zstd"):
        proc = subprocess.run(["zstd", "-dcq"], input=data, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
        if proc.returncode != 0:
            fail("%s: zstd -d failed: %s" % (what, proc.stderr.decode(errors="replace")))
        return proc.stdout
    if media_type == MEDIA_LAYER_PREFIX:
        return data
    fail("%s: unknown layer media type %s" % (what, media_type))


def escapes_root(name, target):
    """True when a link named name pointing at target leaves the image root."""
    if target.startswith("/"):
        return True
    depth = len(name.split("/")) - 1
    for part in target.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def check_layer_tar(tar_bytes, what, mtime_expected):
    """Checks the tar rules of ../shared/reference/oci-and-tar.md and returns
    (listing lines, {path: kind}) of the layer."""
    import io
    lines = []
    seen = {}
    prev_key = None
    mtimes = set()
    with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
        for m in tar:
            name = m.name
            where = "%s: entry '%s'" % (what, name)
            if not name or name.startswith("/") or name.startswith("./"):
                fail("%s: not a clean relative name" % where)
            if any(p in ("", ".", "..") for p in name.split("/")):
                fail("%s: empty, '.' or '..' component" % where)
            key = path_key(name)
            if prev_key is not None and key <= prev_key:
                fail("%s: out of order or duplicate (after '%s')"
                     % (where, b"/".join(prev_key).decode(errors="replace")))
            prev_key = key
            parent = name.rsplit("/", 1)[0] if "/" in name else None
            if parent is not None and seen.get(parent) != "d":
                fail("%s: parent directory '%s' not emitted before it" % (where, parent))
            if m.uid != 0 or m.gid != 0:
                fail("%s: owner %d:%d, want 0:0" % (where, m.uid, m.gid))
            if m.uname not in ("", "root") or m.gname not in ("", "root"):
                fail("%s: owner names %r:%r" % (where, m.uname, m.gname))
            if "mtime" in m.pax_headers or m.mtime != int(m.mtime):
                fail("%s: fractional mtime (PAX mtime record)" % where)
            mtimes.add(int(m.mtime))
            mode = m.mode & 0o7777
            if m.isdir():
                if mode != 0o755:
                    fail("%s: directory mode %04o, want 0755" % (where, mode))
                lines.append("  d %04o %s/" % (mode, name))
                seen[name] = "d"
            elif m.issym():
                if mode != 0o777:
                    fail("%s: symlink mode %04o, want 0777" % (where, mode))
                if escapes_root(name, m.linkname):
                    fail("%s: link target '%s' leaves the image root" % (where, m.linkname))
                lines.append("  l %s -> %s" % (name, m.linkname))
                seen[name] = "l"
            elif m.islnk():
                if seen.get(m.linkname) != "f":
                    fail("%s: hard link to '%s', not an earlier file of this layer"
                         % (where, m.linkname))
                lines.append("  h %04o %s => %s" % (mode, name, m.linkname))
                seen[name] = "f"
            elif m.isreg():
                if mode not in (0o644, 0o755):
                    fail("%s: file mode %04o, want 0644 or 0755" % (where, mode))
                lines.append("  f %04o %d %s" % (mode, m.size, name))
                seen[name] = "f"
            else:
                fail("%s: unexpected entry type %r" % (where, m.type))
    if len(mtimes) > 1:
        fail("%s: several mtimes %s, want one" % (what, sorted(mtimes)))
    if mtimes and mtime_expected is not None and mtimes != {mtime_expected}:
        fail("%s: mtime %s, want %d" % (what, mtimes.pop(), mtime_expected))
    return lines, seen


def check_layout(layout, tag, printed_digest, mtime_expected):
    """Own checks of an OCI layout; returns (manifest, config, summary lines,
    uncompressed layer tars)."""
    what = "%s:%s" % (layout, tag)
    try:
        with open(os.path.join(layout, "oci-layout")) as f:
            if json.load(f).get("imageLayoutVersion") != "1.0.0":
                fail("%s: oci-layout has no imageLayoutVersion 1.0.0" % layout)
        with open(os.path.join(layout, "index.json")) as f:
            index = json.load(f)
    except (OSError, ValueError) as e:
        fail("%s: unreadable layout: %s" % (layout, e))
    if index.get("schemaVersion") != 2:
        fail("%s/index.json: schemaVersion is not 2" % layout)
    tagged = [d for d in index.get("manifests", [])
              if d.get("annotations", {}).get(REF_NAME) == tag]
    if len(tagged) != 1:
        fail("%s/index.json: %d manifests tagged '%s', want 1" % (layout, len(tagged), tag))
    mdesc = tagged[0]
    if mdesc.get("mediaType") != MEDIA_MANIFEST:
        fail("%s: index entry media type %s" % (what, mdesc.get("mediaType")))
    if "platform" not in mdesc:
        fail("%s: index entry has no platform" % what)
    if printed_digest and mdesc["digest"] != printed_digest:
        fail("%s: index names %s, layerkit printed %s" % (what, mdesc["digest"], printed_digest))
    manifest = json.loads(read_blob(layout, mdesc, what + " manifest"))
    if manifest.get("schemaVersion") != 2 or manifest.get("mediaType") != MEDIA_MANIFEST:
        fail("%s: manifest schemaVersion/mediaType wrong" % what)
    cdesc = manifest.get("config", {})
    if cdesc.get("mediaType") != MEDIA_CONFIG:
        fail("%s: config media type %s" % (what, cdesc.get("mediaType")))
    config = json.loads(read_blob(layout, cdesc, what + " config"))
    for key in ("architecture", "os"):
        if not config.get(key):
            fail("%s: config has no %s" % (what, key))
    layers = manifest.get("layers", [])
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    if config.get("rootfs", {}).get("type") != "layers" or len(diff_ids) != len(layers):
        fail("%s: %d layers but %d diff_ids" % (what, len(layers), len(diff_ids)))
    history = [h for h in config.get("history", []) if not h.get("empty_layer")]
    if len(history) != len(layers):
        fail("%s: %d history entries for %d layers" % (what, len(history), len(layers)))

    referenced = {mdesc["digest"], cdesc["digest"]}
    summary = ["image %s (%d layers)" % (tag, len(layers)),
               "  config: %s" % json.dumps(config.get("config", {}), sort_keys=True)]
    tars = []
    for i, ldesc in enumerate(layers):
        lwhat = "%s layer %d" % (what, i + 1)
        mt = ldesc.get("mediaType", "")
        if not mt.startswith(MEDIA_LAYER_PREFIX):
            fail("%s: media type %s" % (lwhat, mt))
        referenced.add(ldesc["digest"])
        tar_bytes = uncompress(read_blob(layout, ldesc, lwhat), mt, lwhat)
        diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
        if diff_id != diff_ids[i]:
            fail("%s: diff_id %s, the uncompressed tar hashes to %s" % (lwhat, diff_ids[i], diff_id))
        listing, _ = check_layer_tar(tar_bytes, lwhat, mtime_expected)
        notes = " ".join("%s=%s" % kv for kv in sorted(ldesc.get("annotations", {}).items()))
        summary.append("layer %d/%d %s %s" % (i + 1, len(layers), mt[len(MEDIA_LAYER_PREFIX):] or "(tar)", notes))
        summary.append("  diff_id %s" % diff_id)
        summary.append("  history: %s" % json.dumps(history[i], sort_keys=True))
        summary.extend(listing)
        tars.append(tar_bytes)
    blobs = {"sha256:" + b for b in os.listdir(os.path.join(layout, "blobs", "sha256"))}
    stray = sorted(blobs - referenced)
    if stray:
        fail("%s: blobs the index does not reference: %s" % (what, ", ".join(stray)))
    return manifest, config, summary, tars


def check_with_tools(layout, tag, manifest_digest, zstd, scratch):
    """The real tools: schema, digests, diff_ids.  Returns the unpacked rootfs
    (umoci for gzip/plain; Debian's umoci and oci-image-tool reject zstd)."""
    ref = "oci:%s:%s" % (layout, tag)
    if not zstd:
        run_tool(["oci-image-tool", "validate", "--type", "image", "--ref", "name=" + tag,
                  layout], "oci-image-tool validate")
    info = json.loads(run_tool(["skopeo", "inspect", ref], "skopeo inspect"))
    if info.get("Digest") != manifest_digest:
        fail("skopeo inspect %s: digest %s, want %s" % (ref, info.get("Digest"), manifest_digest))
    run_tool(["skopeo", "--insecure-policy", "copy", "-q", ref,
              "dir:" + os.path.join(scratch, "skopeo-dir")], "skopeo copy (verifies digests)")
    if zstd:
        log("checked %s: skopeo inspect, skopeo copy (zstd: no umoci, no oci-image-tool)" % ref)
        return None
    bundle = os.path.join(scratch, "bundle")
    argv = ["umoci", "unpack", "--image", "%s:%s" % (layout, tag), bundle]
    if os.geteuid() != 0:
        argv.insert(2, "--rootless")
    run_tool(argv, "umoci unpack (verifies diff_ids)")
    log("checked %s: oci-image-tool validate, skopeo inspect, skopeo copy, umoci unpack" % ref)
    return os.path.join(bundle, "rootfs")


def extract_layers(tars, dest):
    """Applies layer tars in order (for zstd images, which umoci refuses)."""
    import io
    os.makedirs(dest)
    for tar_bytes in tars:
        with tarfile.open(fileobj=io.BytesIO(tar_bytes), mode="r:") as tar:
            if hasattr(tarfile, "tar_filter"):
                tar.extractall(dest, numeric_owner=True, filter="tar")
            else:
                tar.extractall(dest, numeric_owner=True)
    return dest


# ---- rootfs versus input tree ----------------------------------------------

def under(rel, paths):
    parts = rel.split("/")
    return any("/".join(parts[:i]) in paths for i in range(1, len(parts) + 1))


def kept_link(rel, target):
    """The scan's rule: a relative link whose target stays in the tree is kept."""
    return not target.startswith("/") and not escapes_root(rel, target)


def expected_tree(root, entries, dropped):
    """What the image must hold for a tree: {rel: description}."""
    want = {}

    def visit(abs_dir, rel_dir, names):
        for name in sorted(names):
            rel = rel_dir + "/" + name if rel_dir else name
            path = os.path.join(abs_dir, name)
            if under(rel, dropped):
                continue
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(path)
                if kept_link(rel, target):
                    want[rel] = ("link", target)
                    continue
                st = os.stat(path)
                path = os.path.realpath(path)
            if stat.S_ISDIR(st.st_mode):
                want[rel] = ("dir",)
                visit(path, rel, os.listdir(path))
            elif stat.S_ISREG(st.st_mode):
                want[rel] = ("file", norm_mode(st.st_mode), sha256_file(path))
            # Specials are skipped or refused; the skipped list covers them.

    visit(root, "", entries if entries is not None else os.listdir(root))
    return want


def actual_tree(rootfs, prefix):
    base = os.path.join(rootfs, prefix) if prefix else rootfs
    # Every directory on the way to the prefix: 0755, root-owned.
    walk = rootfs
    for part in [p for p in prefix.split("/") if p]:
        names = os.listdir(walk)
        if names != [part]:
            fail("rootfs %s holds %s, want only '%s' on the way to the prefix"
                 % (walk, sorted(names), part))
        walk = os.path.join(walk, part)
        st = os.lstat(walk)
        if not stat.S_ISDIR(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o755:
            fail("rootfs %s: parent of the app is not a 0755 directory" % walk)
    got = {}
    for dirpath, dirnames, filenames in os.walk(base):
        rel_dir = os.path.relpath(dirpath, base)
        rel_dir = "" if rel_dir == "." else rel_dir
        for name in dirnames + filenames:
            rel = rel_dir + "/" + name if rel_dir else name
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if os.geteuid() == 0 and (st.st_uid, st.st_gid) != (0, 0):
                fail("rootfs %s: owner %d:%d, want 0:0" % (rel, st.st_uid, st.st_gid))
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                got[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                if mode != 0o755:
                    fail("rootfs %s: directory mode %04o, want 0755" % (rel, mode))
                got[rel] = ("dir",)
            elif stat.S_ISREG(st.st_mode):
                got[rel] = ("file", mode, sha256_file(path))
            else:
                got[rel] = ("special",)
    return got


def compare_trees(want, got, what):
    problems = []
    for rel in sorted(set(want) | set(got), key=path_key):
        w, g = want.get(rel), got.get(rel)
        if w == g:
            continue
        if g is None:
            problems.append("missing from the image: %s %s" % (rel, w[0]))
        elif w is None:
            problems.append("not in the tree: %s %s" % (rel, g[0]))
        elif w[0] != g[0]:
            problems.append("%s: %s in the tree, %s in the image" % (rel, w[0], g[0]))
        elif w[0] == "link":
            problems.append("%s: link to '%s', image has '%s'" % (rel, w[1], g[1]))
        elif w[1] != g[1]:
            problems.append("%s: mode %04o, want %04o" % (rel, g[1], w[1]))
        else:
            problems.append("%s: content differs" % rel)
    if problems:
        more = "\n  ... and %d more" % (len(problems) - 20) if len(problems) > 20 else ""
        fail("%s differs from its input tree:\n  %s%s" % (what, "\n  ".join(problems[:20]), more))


def config_apps(path):
    """prefix and mtime from layering.ini, as configparser reads inih's format."""
    parser = configparser.ConfigParser(interpolation=None, strict=False,
                                       inline_comment_prefixes=(";",),
                                       comment_prefixes=(";", "#"))
    parser.optionxform = str
    prefixes, mtime = {}, None
    if path and os.path.exists(path):
        parser.read(path)
        for section in parser.sections():
            if section.startswith("app."):
                prefixes[section[4:]] = parser[section].get("prefix", "app")
        if parser.has_option("layerkit", "mtime"):
            mtime = int(parser.get("layerkit", "mtime"))
    return prefixes, mtime if mtime is not None else 0


def config_path_of(argv, default):
    """The -c/--config argument, else ./layering.ini as layerkit would read it."""
    for i, word in enumerate(argv):
        if word in ("-c", "--config") and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith("--config="):
            return word[len("--config="):]
        if word.startswith("-c") and len(word) > 2 and not word.startswith("--"):
            return word[2:]
    return default


def read_compare_spec(case):
    """The optional `compare` file: `none`, or lines `APP PREFIX DIR [ENTRY...]`."""
    text = case.read("compare")
    if text is None:
        return None
    spec = {}
    for line in case.expand(text.decode()).splitlines():
        words = shlex.split(line)
        if not words or words[0].startswith("#"):
            continue
        if words == ["none"]:
            return {}
        if len(words) < 3:
            fail("%s: want 'APP PREFIX DIR [ENTRY...]', got '%s'" % (case.file("compare"), line))
        prefix = "" if words[1] in ("/", ".") else words[1].strip("/")
        spec[words[0]] = (prefix, words[2], words[3:] or None)
    return spec


def plan_of(case, argv):
    """`layerkit plan --json` with the case's arguments: roots and what the scan dropped."""
    words = [w for w in argv[1:]]
    i = words.index("build")
    words[i] = "plan"
    proc = case.run_layerkit([case.layerkit] + words + ["--json"])
    if proc.returncode != 0:
        fail("layerkit plan --json failed (exit %d) where build passed:\n%s"
             % (proc.returncode, proc.stderr.decode(errors="replace")))
    return {run["app"]: run for run in json.loads(proc.stdout)}


def check_build(case, argv, stdout, scratch, compare=True):
    """Everything about the images a build case wrote.  Returns the summary."""
    need_tools()
    images = list(BUILD_LINE.finditer(stdout.decode(errors="replace")))
    if not images:
        fail("a build case must print its summary lines (no -q): none in\n%s"
             % stdout.decode(errors="replace"))
    prefixes, mtime = config_apps(config_path_of(argv, case.config))
    spec = read_compare_spec(case)
    plans = plan_of(case, argv) if compare and spec is None else {}
    summary = []
    for n, m in enumerate(images):
        app, layout, tag, digest = m["app"], m["output"], m["tag"], m["digest"]
        manifest, config, lines, tars = check_layout(layout, tag, digest, mtime)
        zstd = any(l["mediaType"].endswith("+zstd") for l in manifest["layers"])
        if int(m["layers"]) != len(manifest["layers"]):
            fail("%s: printed %s layers, manifest has %d" % (app, m["layers"], len(manifest["layers"])))
        work = os.path.join(scratch, "image-%d" % n)
        os.makedirs(work)
        rootfs = check_with_tools(layout, tag, digest, zstd, work)
        if rootfs is None:
            rootfs = extract_layers(tars, os.path.join(work, "rootfs"))
        summary.append("app %s" % app)
        summary.extend(lines)
        if not compare:
            continue
        if spec is not None:
            if app not in spec:
                continue
            prefix, root, entries = spec[app]
            dropped = set()
        else:
            run = plans.get(app)
            if run is None:
                fail("plan --json lists no app '%s'" % app)
            prefix = prefixes.get(app, "app").strip("/")
            root, entries = run["root"], None
            dropped = set(run.get("excluded", [])) | set(run.get("skipped", []))
        compare_trees(expected_tree(root, entries, dropped), actual_tree(rootfs, prefix),
                      "image %s:%s (rootfs/%s)" % (layout, tag, prefix))
    return ("\n".join(summary) + "\n").encode("utf-8", "surrogateescape")


# ---- commands ---------------------------------------------------------------

def new_scratch(name):
    tmp = os.path.realpath(tempfile.mkdtemp(prefix="lk-e2e-%s-" % name))
    return tmp


def done_scratch(tmp, ok):
    if os.environ.get("LK_E2E_KEEP"):
        log("kept %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)


def run_case(layerkit, case_dir, update):
    tmp = new_scratch(os.path.basename(os.path.normpath(case_dir)))
    ok = False
    try:
        case = Case(layerkit, case_dir, tmp)
        case.make_tree()
        case.write_config()
        argv = case.argv()
        log("$ " + " ".join(shlex.quote(a) for a in argv))
        proc = case.run_layerkit(argv)
        stdout, stderr = case.mask(proc.stdout), case.mask(proc.stderr)
        sys.stdout.write(stderr.decode(errors="replace"))

        want_exit = (case.read("expect", "exit", default=b"0").decode().strip())
        if want_exit == "nonzero":
            if proc.returncode == 0:
                fail("exit 0, want nonzero")
        elif proc.returncode != int(want_exit):
            fail("exit %d, want %s; stderr:\n%s" % (proc.returncode, want_exit,
                                                    stderr.decode(errors="replace")))
        if proc.returncode != 0:
            # A failed build leaves no image behind, not even part of one.
            leftovers = [os.path.join(d, f) for d, _, fs in os.walk(case.out) for f in fs]
            if leftovers:
                fail("exit %d but the output holds %s" % (proc.returncode, ", ".join(leftovers[:5])))
        for line in (case.read("expect", "stderr-contains", default=b"")).splitlines():
            if line.strip() and case.expand(line.decode()).encode() not in proc.stderr \
                    and line not in stderr:
                fail("stderr lacks '%s':\n%s" % (line.decode(), stderr.decode(errors="replace")))
        if update or case.read("expect", "stdout") is not None or proc.returncode == 0:
            compare_golden(case, os.path.join("expect", "stdout"), stdout, update)
        if case.command() == "build" and proc.returncode == 0:
            summary = check_build(case, argv, proc.stdout, tmp)
            compare_golden(case, os.path.join("expect", "image"), case.mask(summary), update)
            log("images checked: layout, blobs, diff_ids, tar entries, rootfs = tree")
        ok = True
    finally:
        done_scratch(tmp, ok)


def touch_tree(root, when):
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (when, when), follow_symlinks=False)
    os.utime(root, (when, when))


def perturb_tree(root):
    """Modes and owners the writer must normalise away: 0600/0700, uid 4242."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if os.geteuid() == 0:
                os.chown(path, 4242, 4242, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                os.chmod(path, 0o700)
            elif stat.S_ISREG(st.st_mode):
                os.chmod(path, 0o700 if st.st_mode & 0o111 else 0o600)


def run_reproducible(layerkit, case_dir):
    """Builds the case's tree from two copies at different paths, mtimes,
    modes, owners, times and thread counts; the manifest digests must agree."""
    tmp = new_scratch("repro-" + os.path.basename(os.path.normpath(case_dir)))
    ok = False
    try:
        digests = []
        for n, (sub, when, jobs) in enumerate((("a", 1000000000, "1"),
                                               ("b/much/deeper/path", 1600000000, "2"))):
            work = os.path.join(tmp, sub)
            os.makedirs(work)
            case = Case(layerkit, case_dir, work)
            if case.command() != "build":
                fail("reproducible needs a build case; %s runs '%s'" % (case_dir, case.command()))
            case.make_tree()
            case.write_config()
            if n == 1:
                perturb_tree(case.tree)
            touch_tree(case.tree, when)
            if n == 1:
                time.sleep(1.1)	# a build second later: no wall clock may leak in
            argv = case.argv(["-j", jobs])
            log("$ " + " ".join(shlex.quote(a) for a in argv))
            proc = case.run_layerkit(argv)
            if proc.returncode != 0:
                fail("build failed (exit %d):\n%s" % (proc.returncode,
                                                      proc.stderr.decode(errors="replace")))
            images = [(m["app"], m["digest"]) for m in BUILD_LINE.finditer(proc.stdout.decode())]
            if not images:
                fail("no summary line in the build's output:\n%s" % proc.stdout.decode())
            # The image must also still match the tree the perturbed copy holds.
            check_build(case, argv, proc.stdout, work)
            digests.append(images)
        log("first build:  %s" % digests[0])
        log("second build: %s" % digests[1])
        if digests[0] != digests[1]:
            fail("manifest digests differ between the two builds")
        # The second tree again, over its own image and with its cache warm:
        # whatever is reused must give the very same image.
        proc = case.run_layerkit(argv)
        if proc.returncode != 0:
            fail("rebuild failed (exit %d):\n%s" % (proc.returncode,
                                                     proc.stderr.decode(errors="replace")))
        again = [(m["app"], m["digest"]) for m in BUILD_LINE.finditer(proc.stdout.decode())]
        log("rebuild:      %s" % again)
        if again != digests[1]:
            fail("a rebuild of an unchanged tree gave another image")
        check_build(case, argv, proc.stdout, os.path.join(work, "rebuild"))
        ok = True
    finally:
        done_scratch(tmp, ok)


def list_cases(cases_dir):
    return sorted(n for n in os.listdir(cases_dir)
                  if os.path.isfile(os.path.join(cases_dir, n, "cmd")))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layerkit", help="the built layerkit binary")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("case", help="run one case")
    p.add_argument("case_dir")
    p.add_argument("--update", action="store_true", help="rewrite expect/stdout and expect/image")
    p = sub.add_parser("reproducible", help="two builds of a case's tree must agree")
    p.add_argument("case_dir")
    p = sub.add_parser("list", help="print the case names")
    p.add_argument("cases_dir")
    p = sub.add_parser("check-registered", help="fail if meson registered other cases")
    p.add_argument("cases_dir")
    p.add_argument("names", nargs="*")
    args = ap.parse_args()

    if args.command == "list":
        print("\n".join(list_cases(args.cases_dir)))
        return 0
    if args.command == "check-registered":
        on_disk, registered = set(list_cases(args.cases_dir)), set(args.names)
        if on_disk != registered:
            log("cases on disk and cases meson registered differ (new: %s, gone: %s); run "
                "'meson setup --reconfigure BUILDDIR'"
                % (sorted(on_disk - registered), sorted(registered - on_disk)))
            return 1
        return 0
    if not args.layerkit:
        ap.error("--layerkit is required")
    try:
        if args.command == "case":
            run_case(args.layerkit, args.case_dir, args.update)
        else:
            run_reproducible(args.layerkit, args.case_dir)
    except CaseFailure as e:
        log("FAIL: %s" % e)
        return 1
    except subprocess.TimeoutExpired as e:
        log("FAIL: timed out: %s" % e)
        return 1
    log("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
