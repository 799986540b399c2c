#!/usr/bin/env python3
"""End-to-end tests of shared_store and of the progress line (core/share.c,
core/progress.c), with the real layerkit and umoci:

    shared_store.py LAYERKIT shared     two apps, one store: equal layers, links resolve
    shared_store.py LAYERKIT progress   a terminal gets progress; a pipe and -q do not

`shared` builds two apps from the generated runfiles tree (other app code,
another prefix) with per-package layers, with and without
`shared_store = /opt/layerkit/store`, and checks: the interpreter and package
layers have the same digests in both images with the option (and differ
without it); `layerkit diff` says how many bytes the second image adds; the
unpacked rootfs (umoci) still has every file of the tree at its old path,
through relative links into the store; a warm cache gives the same images,
and switching the option off and on never reuses a blob laid out the other
way.  Prints the byte counts it measured.  Standard library only.
"""

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import tempfile

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
GENERATOR = os.path.join(SOURCE_ROOT, "examples", "gen_runfiles_tree.py")
STORE = "opt/layerkit/store"


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def env_for(tmp):
    env = dict(os.environ)
    for var in ("SOURCE_DATE_EPOCH", "LAYERKIT_PLUGIN_PATH"):
        env.pop(var, None)
    env["XDG_CACHE_HOME"] = os.path.join(tmp, "cache")
    env["LC_ALL"] = "C"
    return env


def run(argv, tmp, want=0):
    proc = subprocess.run(argv, cwd=tmp, env=env_for(tmp), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    for mark in (b"AddressSanitizer", b"LeakSanitizer", b"runtime error:"):
        check(mark not in proc.stderr, "sanitizer report from %s:\n%s"
              % (" ".join(argv), proc.stderr.decode(errors="replace")))
    check(proc.returncode == want, "%s: exit %d, want %d\n%s%s"
          % (" ".join(argv), proc.returncode, want, proc.stdout.decode(errors="replace"),
             proc.stderr.decode(errors="replace")))
    return proc


def generate(tmp):
    for name, extra in (("a", []), ("b", ["--app-change", "1"])):
        subprocess.run([sys.executable, GENERATOR, "--out", os.path.join(tmp, name),
                        "--scale", "0.001", "-q"] + extra, check=True)


def write_config(tmp, path, shared, out):
    with open(path, "w") as f:
        f.write("[layerkit]\noutput = %s\n%s\n" % (out, "shared_store = /%s" % STORE if shared else ""))
        f.write("[app.hello]\nroot = a/bazel-bin/app/hello_fastapi\ndiscovery = python-runfiles\n"
                "strategy = per-package\n\n")
        f.write("[app.greeter]\nroot = b/bazel-bin/app/hello_fastapi\ndiscovery = python-runfiles\n"
                "strategy = per-package\nprefix = srv/greeter\n")


def layers(layout):
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    with open(os.path.join(layout, "blobs", "sha256", index["manifests"][0]["digest"][7:])) as f:
        manifest = json.load(f)
    return [(l["annotations"]["dev.layerkit.layer.name"], l["digest"]) for l in manifest["layers"]]


def build(layerkit, tmp, config, extra=()):
    proc = run([layerkit, "build", "-c", config] + list(extra), tmp)
    return proc.stdout.decode()


def diff(layerkit, tmp, a, b):
    return json.loads(run([layerkit, "diff", "--json", a, b], tmp).stdout)["summary"]


def shared_layer(name):
    return name.startswith("interpreter-") or name.startswith("pkg-")


def check_rootfs(tmp, tree_root, rootfs, prefix):
    """Every file of the scanned tree is at prefix/PATH, through the links."""
    scan_root = os.path.join(tree_root, "bazel-bin", "app")
    base = os.path.join(rootfs, prefix)
    real_rootfs = os.path.realpath(rootfs)
    n = 0
    for top in ("hello_fastapi", "hello_fastapi.runfiles"):
        top_path = os.path.join(scan_root, top)
        walk = [(os.path.dirname(top_path), [], [top])] if os.path.isfile(top_path) \
            else os.walk(top_path, followlinks=True)
        for dirpath, _, filenames in walk:
            for name in filenames:
                src = os.path.join(dirpath, name)
                rel = os.path.relpath(src, scan_root)
                dst = os.path.join(base, rel)
                check(os.path.exists(dst), "%s: /%s/%s does not resolve in the image"
                      % (rootfs, prefix, rel))
                real = os.path.realpath(dst)
                check(real.startswith(real_rootfs + os.sep),
                      "/%s/%s resolves outside the image: %s" % (prefix, rel, real))
                with open(src, "rb") as f1, open(dst, "rb") as f2:
                    check(f1.read() == f2.read(), "/%s/%s: content differs" % (prefix, rel))
                n += 1
    link = os.path.join(base, "hello_fastapi.runfiles", "rules_python~~pip~pypi_311_fastapi",
                        "site-packages")
    check(os.path.islink(link), "%s is not a link into the store" % link)
    target = os.readlink(link)
    check(not target.startswith("/") and target.endswith(STORE + "/package-fastapi-0.110.0"),
          "%s -> %s: want a relative link to the store" % (link, target))
    return n


def unpack(tmp, layout, name):
    bundle = os.path.join(tmp, "bundle-" + name)
    argv = ["umoci", "unpack", "--image", layout + ":latest", bundle]
    if os.geteuid() != 0:
        argv.insert(2, "--rootless")
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return os.path.join(bundle, "rootfs")


def test_shared(layerkit, tmp):
    generate(tmp)
    shared_ini, plain_ini = os.path.join(tmp, "shared.ini"), os.path.join(tmp, "plain.ini")
    write_config(tmp, shared_ini, True, "out-shared")
    write_config(tmp, plain_ini, False, "out-plain")

    build(layerkit, tmp, shared_ini, ["--no-cache"])
    build(layerkit, tmp, plain_ini, ["--no-cache"])
    s_hello, s_greeter = layers(tmp + "/out-shared/hello"), layers(tmp + "/out-shared/greeter")
    p_hello, p_greeter = layers(tmp + "/out-plain/hello"), layers(tmp + "/out-plain/greeter")
    check([n for n, _ in s_hello] == [n for n, _ in s_greeter], "the two apps' plans differ")
    n_shared = 0
    for (name, d1), (_, d2) in zip(s_hello, s_greeter):
        if shared_layer(name):
            check(d1 == d2, "with shared_store, layer %s differs between the apps" % name)
            n_shared += 1
        else:
            check(d1 != d2, "layer %s should differ (app code, prefix)" % name)
    check(n_shared == 20, "want 20 shared layers (interpreter + 19 packages), got %d" % n_shared)
    for (name, d1), (_, d2) in zip(p_hello, p_greeter):
        check(d1 != d2, "without shared_store, layer %s should differ (prefix)" % name)

    ds = diff(layerkit, tmp, tmp + "/out-shared/hello", tmp + "/out-shared/greeter")
    dp = diff(layerkit, tmp, tmp + "/out-plain/hello", tmp + "/out-plain/greeter")
    check(ds["shared_layers"] == 20 and dp["shared_layers"] == 0,
          "diff: %d / %d shared layers" % (ds["shared_layers"], dp["shared_layers"]))
    check(ds["both_bytes"] < dp["both_bytes"], "no saving: %s vs %s" % (ds, dp))
    print("registry bytes for both images: %d with shared_store, %d without "
          "(the second image adds %d vs %d)" % (ds["both_bytes"], dp["both_bytes"],
                                               ds["transfer_bytes"], dp["transfer_bytes"]))

    for app, tree, prefix in (("hello", "a", "app"), ("greeter", "b", "srv/greeter")):
        rootfs = unpack(tmp, os.path.join(tmp, "out-shared", app), app)
        n = check_rootfs(tmp, os.path.join(tmp, tree), rootfs, prefix)
        check(os.path.isdir(os.path.join(rootfs, STORE, "interpreter-python3.11-3.11.9", "bin")),
              "no interpreter in the store of %s" % app)
        print("%s: %d files resolve at their old paths" % (app, n))

    # Warm cache: the same images; the layout is part of the fingerprint,
    # so turning the option off and on never takes the other kind's blob.
    build(layerkit, tmp, shared_ini)
    build(layerkit, tmp, plain_ini)
    out_again = build(layerkit, tmp, shared_ini)
    check(" cached)" in out_again, "the warm build reused nothing:\n" + out_again)
    check(layers(tmp + "/out-shared/hello") == s_hello, "a cached shared build differs")
    check(layers(tmp + "/out-plain/greeter") == p_greeter, "a cached plain build differs")
    build(layerkit, tmp, plain_ini)
    check(layers(tmp + "/out-plain/hello") == p_hello, "plain after shared differs")

    with open(os.path.join(tmp, "bad.ini"), "w") as f:
        f.write("[app.x]\nroot = a\nshared_store = opt/store\n")
    proc = run([layerkit, "plan", "-c", os.path.join(tmp, "bad.ini")], tmp, want=2)
    check(b"bad.ini:3: shared_store = 'opt/store' is not a directory in the image"
          in proc.stderr, proc.stderr.decode())


def read_tty(master, proc):
    data = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        elif proc.poll() is not None:
            break
    return data


def test_progress(layerkit, tmp):
    subprocess.run([sys.executable, GENERATOR, "--out", os.path.join(tmp, "a"),
                    "--scale", "0.001", "-q"], check=True)
    root = os.path.join(tmp, "a", "bazel-bin", "app", "hello_fastapi")
    base = [layerkit, "build", "--no-cache", "--root", root, "--discovery", "python-runfiles",
            "--strategy", "per-package", "-o", os.path.join(tmp, "out")]

    master, slave = pty.openpty()
    proc = subprocess.Popen(base, cwd=tmp, env=env_for(tmp), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    seen = read_tty(master, proc)
    proc.wait(timeout=60)
    os.close(master)
    check(proc.returncode == 0, "build on a terminal failed: %r" % seen)
    check(b"\rlayerkit: app: layers 22/22" in seen, "no progress on a terminal: %r" % seen)
    check(seen.endswith(b"\r\x1b[K"), "the progress line was not erased: %r" % seen[-80:])

    proc = run(base, tmp)
    check(b"\r" not in proc.stderr, "progress on a pipe: %r" % proc.stderr)

    master, slave = pty.openpty()
    proc = subprocess.Popen(base[:1] + ["-q"] + base[1:], cwd=tmp, env=env_for(tmp),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    seen = read_tty(master, proc)
    proc.wait(timeout=60)
    os.close(master)
    check(proc.returncode == 0 and seen == b"", "-q on a terminal printed %r" % seen)


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("shared", "progress"):
        print(__doc__)
        return 2
    layerkit, what = os.path.realpath(sys.argv[1]), sys.argv[2]
    tmp = os.path.realpath(tempfile.mkdtemp(prefix="lk-shared-"))
    try:
        (test_shared if what == "shared" else test_progress)(layerkit, tmp)
    except (Failure, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        print("FAIL: %s" % e)
        print("kept %s" % tmp)
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
