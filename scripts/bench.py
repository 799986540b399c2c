#!/usr/bin/env python3
"""bench.py - the design note's build benchmark, run on layerkit and on the
plain tar pipelines of the same tree in the same run.

For each strategy: clean builds (empty cache, empty output) --runs times,
interleaved round by round with the baselines (tar | pigz -p2, tar | zstd -T2
-3, tar | sha256sum, tar > /dev/null) so machine noise hits both alike; then
--incremental builds each after an app-code change, --noop rebuilds without
a change, and one build after a one-package version bump.  Prints a table and,
with --json FILE, writes the same figures as JSON.

  python3 scripts/bench.py --layerkit build/core/layerkit --tree DIR \\
      [--generate] [--gen-arg=--packages=120 ...] [--runs 5] [--json out.json]

DIR is a tree written by examples/gen_runfiles_tree.py (--generate writes it
when it is missing); --app-root and --change-cmd/--bump-cmd run it on any
other app.  Python 3 standard library only.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GENERATOR = os.path.join(HERE, "..", "examples", "gen_runfiles_tree.py")
# core/build.c does not trust stamps younger than 2 s (git's racy rule).
RACY_WINDOW_S = 2.1
STRATEGIES = ("two-layer", "per-package", "grouped-by-size")

# "app: o:latest sha256:..., 2 layers (1 built, 1 cached), 91.6 MiB, 0.070 s"
BUILD_LINE = re.compile(r"(\d+) layers \((\d+) built, (\d+) cached\).*?([\d.]+) s\s*$")
# -v: "layerkit: debug: layer NAME: wrote|reused sha256:HEX"
LAYER_LINE = re.compile(r"debug: layer (.*): (\w+) (sha256:[0-9a-f]{64})")


def die(msg):
    print("bench.py: " + msg, file=sys.stderr)
    sys.exit(2)


def run_measured(argv, shell=False):
    """Runs argv; returns (wall seconds, CPU seconds, peak RSS KiB, stdout, stderr).

    The peak RSS is the child's (and its waited-for children's) ru_maxrss
    from wait4, so a pipeline reports its largest process.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, shell=shell, stdout=out, stderr=err,
                             executable="/bin/bash" if shell else None)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if p.returncode != 0:
        die("%s failed (exit %d):\n%s%s" % (argv if shell else shlex.join(argv),
                                             p.returncode, stdout, stderr))
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, stdout, stderr


def rm_rf(path):
    shutil.rmtree(path, ignore_errors=True)


def layout_sizes(layout):
    """Returns ({layer digest: size}, image size) of an OCI layout's first manifest."""
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    digest = index["manifests"][0]["digest"]
    with open(os.path.join(layout, "blobs", *digest.split(":"))) as f:
        manifest = json.load(f)
    layers = {l["digest"]: l["size"] for l in manifest["layers"]}
    image = sum(layers.values()) + manifest["config"]["size"]
    return layers, image


class Layerkit:
    def __init__(self, args, work):
        self.args = args
        self.work = work

    def dirs(self, strategy, compression):
        base = os.path.join(self.work, "%s-%s" % (strategy, compression))
        return os.path.join(base, "cache"), os.path.join(base, "out")

    def build(self, strategy, compression, clean):
        """One timed build; clean empties the cache and the output first (untimed)."""
        cache, out = self.dirs(strategy, compression)
        if clean:
            rm_rf(cache)
            rm_rf(out)
        argv = [self.args.layerkit, "-v", "build", "--root", self.args.app_root,
            "--discovery", self.args.discovery, "--strategy", strategy,
            "--compression", compression, "-o", out, "--cache-dir", cache]
        if self.args.jobs:
            argv += ["-j", str(self.args.jobs)]
        wall, cpu, rss, stdout, stderr = run_measured(argv)
        m = None
        for line in stdout.splitlines():
            m = BUILD_LINE.search(line) or m
        if not m:
            die("no build line in layerkit's output:\n" + stdout + stderr)
        layers, image = layout_sizes(out)
        rebuilt = 0
        names = []
        for name, verb, digest in LAYER_LINE.findall(stderr):
            if verb != "reused":
                rebuilt += layers.get(digest, 0)
                names.append(name)
        return {
            "wall_s": wall,
            "cpu_s": cpu,
            "self_s": float(m.group(4)),
            "peak_rss_kib": rss,
            "layers": int(m.group(1)),
            "layers_rebuilt": int(m.group(2)),
            "bytes_rebuilt": rebuilt,
            "rebuilt": names,
            "image_bytes": image,
        }


def baselines(tree, scratch):
    q = shlex.quote
    tar = "tar -chf - -C %s ." % q(tree)
    x = q(os.path.join(scratch, "baseline.out"))
    return {
        "tar|pigz -p2": "set -o pipefail; %s | pigz -p2 > %s" % (tar, x),
        "tar|zstd -T2 -3": "set -o pipefail; %s | zstd -q -T2 -3 > %s" % (tar, x),
        "tar|sha256sum": "set -o pipefail; %s | sha256sum > /dev/null" % tar,
        "tar>/dev/null": "%s > /dev/null" % tar,
    }


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def summary(runs):
    walls = [r["wall_s"] for r in runs]
    return {"median_s": statistics.median(walls), "min_s": min(walls), "max_s": max(walls),
        "cpu_median_s": median_of(runs, "cpu_s"),
        "self_median_s": median_of(runs, "self_s") if "self_s" in runs[0] else None,
        "peak_rss_kib": max(r["peak_rss_kib"] for r in runs)}


class AppChanger:
    """Changes the app's code: --change-cmd, or a comment appended to --change-file."""

    def __init__(self, args):
        self.args = args
        self.original = None
        if not args.change_cmd:
            with open(args.change_file, "rb") as f:
                self.original = f.read()

    def change(self, i):
        if self.args.change_cmd:
            subprocess.run(self.args.change_cmd.replace("{i}", str(i)), shell=True, check=True)
            return
        with open(self.args.change_file, "wb") as f:
            f.write(self.original + b"\n# bench change %d\n" % i)

    def restore(self):
        if self.original is not None:
            with open(self.args.change_file, "wb") as f:
                f.write(self.original)


def generator_cmd(args, extra):
    return [sys.executable, args.generator, "--out", args.tree, "-q"] + args.gen_arg + extra


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layerkit", required=True, help="the layerkit binary (an optimised build)")
    ap.add_argument("--tree", help="generated tree (gen_runfiles_tree.py --out)")
    ap.add_argument("--generate", action="store_true", help="write --tree first when it is missing")
    ap.add_argument("--generator", default=GENERATOR)
    ap.add_argument("--gen-arg", action="append", default=[],
                    help="extra generator argument (repeatable), e.g. --gen-arg=--packages=120")
    ap.add_argument("--app-root", help="layerkit --root (default TREE/bazel-bin/app/hello_fastapi)")
    ap.add_argument("--discovery", default="python-runfiles")
    ap.add_argument("--baseline-tree", help="TREE of the baselines (default: the app root's directory)")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--compression", default="gzip,zstd",
                    help="clean builds in each (the first: every strategy, and the rebuild series)")
    ap.add_argument("--other-compression-strategies", default="two-layer",
                    help="strategies that get clean builds in the compressions after the first too")
    ap.add_argument("--runs", type=int, default=5, help="clean builds and baseline runs each (median)")
    ap.add_argument("--incremental", type=int, default=5, help="builds after an app change")
    ap.add_argument("--noop", type=int, default=3, help="rebuilds without a change")
    ap.add_argument("--change-cmd", help="shell command that changes the app ({i}: the change's number)")
    ap.add_argument("--change-file", help="file to append a comment to (default: the generator's app/routes.py)")
    ap.add_argument("--bump", default="fastapi", help="generator --bump package (default fastapi)")
    ap.add_argument("--bump-cmd", help="shell command for the version bump (default: generator --bump)")
    ap.add_argument("--restore-cmd", help="shell command undoing the bump (default: generator re-run)")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless the cache behaved: clean builds build every layer, an app "
                         "change rebuilds one layer, the last no-op none, a bump not all of many")
    ap.add_argument("-j", "--jobs", type=int)
    ap.add_argument("--work", help="scratch directory for caches and outputs (default: next to the tree)")
    ap.add_argument("--json", help="write the results as JSON to this file")
    args = ap.parse_args()

    if not os.access(args.layerkit, os.X_OK):
        die("%s: not an executable layerkit; build it (meson setup build --buildtype=release && ninja -C build)" % args.layerkit)
    if args.tree:
        args.tree = os.path.abspath(args.tree)
        if not os.path.isdir(args.tree):
            if not args.generate:
                die("%s: no such tree; pass --generate to write it" % args.tree)
            subprocess.run(generator_cmd(args, []), check=True)
            time.sleep(RACY_WINDOW_S)
        if not args.app_root:
            args.app_root = os.path.join(args.tree, "bazel-bin", "app", "hello_fastapi")
        if not args.change_file and not args.change_cmd:
            args.change_file = os.path.join(args.tree, "workspace", "app", "routes.py")
    if not args.app_root:
        die("give --tree (a generated tree) or --app-root")
    if not args.change_cmd and not (args.change_file and os.path.isfile(args.change_file)):
        die("%s: no app file to change; give --change-file or --change-cmd" % args.change_file)
    tree_base = os.path.dirname(os.path.abspath(args.app_root))
    btree = args.baseline_tree or tree_base
    strategies = [s for s in args.strategies.split(",") if s]
    compressions = [c for c in args.compression.split(",") if c]
    # Not inside the tree: the generator deletes what its spec lacks.
    work = args.work or tempfile.mkdtemp(prefix="lk-bench-",
                                         dir=os.path.dirname(args.tree) if args.tree else None)
    os.makedirs(work, exist_ok=True)
    lk = Layerkit(args, work)
    changer = AppChanger(args)

    # Warm the page cache once so the first timed run is not the only cold one.
    subprocess.run("tar -chf - -C %s . > /dev/null" % shlex.quote(btree), shell=True, check=True)
    jobs = []
    if not args.no_baselines:
        jobs += [("baseline", name, cmd) for name, cmd in baselines(btree, work).items()]
    jobs += [("clean", (s, c), None) for c in compressions for s in strategies
             if c == compressions[0] or s in args.other_compression_strategies.split(",")]
    clean = {}
    base = {}
    for r in range(args.runs):
        # Rotate the order each round: no configuration always runs first.
        k = r % len(jobs)
        for kind, key, cmd in jobs[k:] + jobs[:k]:
            if kind == "baseline":
                wall, cpu, rss, _, _ = run_measured(cmd, shell=True)
                base.setdefault(key, []).append({"wall_s": wall, "cpu_s": cpu, "peak_rss_kib": rss})
            else:
                clean.setdefault(key, []).append(lk.build(key[0], key[1], clean=True))
            print("round %d/%d: %s %s done" % (r + 1, args.runs, kind, key), file=sys.stderr)
    try:
        os.unlink(os.path.join(work, "baseline.out"))
    except FileNotFoundError:
        pass

    results = {"tree": btree, "app_root": args.app_root, "runs": args.runs,
           "layerkit": args.layerkit, "cpus": os.cpu_count(),
           "loadavg_start": os.getloadavg(), "baselines": {}, "strategies": {}}
    for name, runs in base.items():
        results["baselines"][name] = summary(runs) | {"runs_s": [x["wall_s"] for x in runs]}

    comp0 = compressions[0]
    for s in strategies:
        entry = {}
        for c in compressions:
            runs = clean.get((s, c))
            if not runs:
                continue
            entry["clean_" + c] = summary(runs) | {
                "runs_s": [x["wall_s"] for x in runs],
                "layers": runs[-1]["layers"], "image_bytes": runs[-1]["image_bytes"]}
        # The incremental series continues from the last clean build's cache.
        incs = []
        for i in range(1, args.incremental + 1):
            changer.change(i)
            incs.append(lk.build(s, comp0, clean=False))
        # A rebuild seconds later: the first one stores the app layer that
        # the racy-stamp rule kept out of the cache, the next are no-ops.
        time.sleep(RACY_WINDOW_S)
        noops = [lk.build(s, comp0, clean=False) for _ in range(args.noop)]
        changer.restore()
        entry["incremental"] = summary(incs) | {
            "runs": incs,
            "bytes_rebuilt_median": median_of(incs, "bytes_rebuilt"),
            "layers_rebuilt_median": median_of(incs, "layers_rebuilt")}
        entry["noop"] = summary(noops) | {"runs": noops}
        entry["compression"] = comp0
        results["strategies"][s] = entry
        print("%s: incremental and no-op builds done" % s, file=sys.stderr)

    # One version bump, then every strategy's build of it: bumping and
    # restoring per strategy would leave new stamps behind for the next.
    time.sleep(RACY_WINDOW_S)
    if args.bump_cmd:
        subprocess.run(args.bump_cmd, shell=True, check=True)
    else:
        subprocess.run(generator_cmd(args, ["--bump", args.bump]), check=True)
    for s in strategies:
        results["strategies"][s]["bump"] = lk.build(s, comp0, clean=False)
    if args.restore_cmd:
        subprocess.run(args.restore_cmd, shell=True, check=True)
    elif not args.bump_cmd:
        subprocess.run(generator_cmd(args, []), check=True)
    results["loadavg_end"] = os.getloadavg()
    print_table(results, compressions)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if not args.work:
        rm_rf(work)
    if args.check:
        problems = check(results, clean)
        for p in problems:
            print("bench.py: check: " + p, file=sys.stderr)
        sys.exit(1 if problems else 0)


def check(res, clean):
    """Returns what contradicts the cache's contract in these results."""
    problems = []
    for (s, c), runs in clean.items():
        for r in runs:
            if r["layers_rebuilt"] != r["layers"]:
                problems.append("%s %s clean build reused %d layers from an empty cache"
                                % (s, c, r["layers"] - r["layers_rebuilt"]))
    for s, e in res["strategies"].items():
        for r in e["incremental"]["runs"]:
            if r["layers_rebuilt"] != 1:
                problems.append("%s: an app change rebuilt %s, not one layer" % (s, r["rebuilt"]))
        last = e["noop"]["runs"][-1] if e["noop"]["runs"] else None
        if last and last["layers_rebuilt"] != 0:
            problems.append("%s: the last no-op rebuild rebuilt %s" % (s, last["rebuilt"]))
        b = e["bump"]
        if b["layers"] > 3 and b["layers_rebuilt"] >= b["layers"]:
            problems.append("%s: a one-package bump rebuilt all %d layers" % (s, b["layers"]))
        if b["layers_rebuilt"] < 1:
            problems.append("%s: a one-package bump rebuilt nothing" % s)
    return problems


def mib(n):
    return "%.1f" % (n / 1048576.0)


def print_table(res, compressions):
    b = res["baselines"]
    print("tree: %s (%d CPUs, load %.1f -> %.1f), medians of %d runs; "
          "ratios: layerkit median / baseline median, wall (cpu = user+sys)"
          % (res["tree"], res["cpus"], res["loadavg_start"][0], res["loadavg_end"][0], res["runs"]))
    if b:
        print("\n%-16s %8s %7s %7s %7s %8s" % ("baseline", "median s", "min s", "max s", "cpu s", "RSS MiB"))
        for name, v in b.items():
            print("%-16s %8.3f %7.3f %7.3f %7.3f %8s" % (
                name, v["median_s"], v["min_s"], v["max_s"], v["cpu_median_s"],
                mib(v["peak_rss_kib"] * 1024)))
    ref = {"gzip": "tar|pigz -p2", "zstd": "tar|zstd -T2 -3"}
    print("\n%-16s %-5s %8s %7s %7s %7s %7s %7s %9s %6s %8s" % (
        "strategy", "comp", "clean s", "min s", "max s", "x base", "cpu s", "x cpu",
        "image MiB", "layers", "RSS MiB"))
    for s, e in res["strategies"].items():
        for c in compressions:
            v = e.get("clean_" + c)
            if not v:
                continue
            r = b.get(ref.get(c, ""))
            print("%-16s %-5s %8.3f %7.3f %7.3f %7s %7.3f %7s %9s %6d %8s" % (
                s, c, v["median_s"], v["min_s"], v["max_s"],
                "%.2fx" % (v["median_s"] / r["median_s"]) if r else "-", v["cpu_median_s"],
                "%.2fx" % (v["cpu_median_s"] / r["cpu_median_s"]) if r else "-",
                mib(v["image_bytes"]), v["layers"], mib(v["peak_rss_kib"] * 1024)))
    print("\n%-16s %-22s %6s %7s %8s %8s %7s %8s %8s" % (
        "strategy", "incr med/min/max s", "self s", "x clean", "no-op s", "rebuilt", "layers",
        "bump s", "RSS MiB"))
    for s, e in res["strategies"].items():
        i, n, bump = e["incremental"], e["noop"], e["bump"]
        c = e["clean_" + e["compression"]]
        rss = max(i["peak_rss_kib"], n["peak_rss_kib"], bump["peak_rss_kib"])
        print("%-16s %6.3f/%6.3f/%6.3f %7.3f %6.0fx %8.3f %6.1fKiB %7s %8.3f %8s" % (
            s, i["median_s"], i["min_s"], i["max_s"], i["self_median_s"],
            c["median_s"] / i["median_s"], n["median_s"], i["bytes_rebuilt_median"] / 1024.0,
            "%g/%d" % (i["layers_rebuilt_median"], c["layers"]), bump["wall_s"], mib(rss * 1024)))
        print("%-16s no-op: layers rebuilt per run %s, cpu %.3f s; bump: %s rebuilt (%s MiB)" % (
            "", [x["layers_rebuilt"] for x in n["runs"]], n["cpu_median_s"],
            ", ".join(bump["rebuilt"]) if bump["layers_rebuilt"] < bump["layers"]
            else "all %d layers" % bump["layers"], mib(bump["bytes_rebuilt"])))

if __name__ == "__main__":
    main()
