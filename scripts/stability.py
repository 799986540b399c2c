#!/usr/bin/env python3
"""Layer stability of each strategy under one-package changes (issue 3's measure).

For each package of the generated runfiles tree in turn, bump its version and
change its size by +PCT% and -PCT% (gen_runfiles_tree.py --bump NAME
--bump-size +-PCT), build the image with each strategy, and count the layers
of the new image whose diff_id the baseline image does not have.  Prints the
distribution per strategy, counting all layers and counting without the app
layer (which holds Bazel's MANIFEST: it lists the versioned dist-info path,
so any version bump changes it).

    python3 scripts/stability.py --layerkit build/core/layerkit [--packages 19] [--pct 20]
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "..", "examples", "gen_runfiles_tree.py")
STRATEGIES = ["two-layer", "per-package", "grouped-by-size"]


def image_layers(layout):
    """[(layer name, diff_id)] of the image in an OCI layout."""
    def blob(digest):
        with open(os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1])) as f:
            return json.load(f)
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    manifest = blob(index["manifests"][0]["digest"])
    config = blob(manifest["config"]["digest"])
    names = [l.get("annotations", {}).get("dev.layerkit.layer.name", "?")
             for l in manifest["layers"]]
    return list(zip(names, config["rootfs"]["diff_ids"]))


def generate(out, args, extra):
    subprocess.run([sys.executable, GEN, "--out", out, "--packages", str(args.packages),
                    "--scale", str(args.scale), "-q"] + extra, check=True)


def build(args, root, strategy, out, cache):
    subprocess.run([args.layerkit, "-q", "build", "--root", root, "--discovery",
                    "python-runfiles", "--strategy", strategy, "-o", out,
                    "--cache-dir", cache], check=True)
    return image_layers(out)


def package_names(args, root):
    out = subprocess.run([args.layerkit, "discover", "--json", "--root", root,
                          "--discovery", "python-runfiles"], check=True,
                         capture_output=True, text=True).stdout
    return sorted(u["name"] for u in json.loads(out)[0]["units"] if u["kind"] == "package")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layerkit", required=True)
    ap.add_argument("--packages", type=int, default=19)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--pct", type=int, default=20)
    ap.add_argument("--json", help="write the counts here")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="lk-stability-")
    tree = os.path.join(work, "tree")
    cache = os.path.join(work, "cache")
    root = os.path.join(tree, "bazel-bin", "app", "hello_fastapi")
    generate(tree, args, [])
    base = {s: build(args, root, s, os.path.join(work, "base-" + s), cache) for s in STRATEGIES}
    counts = {s: collections.Counter() for s in STRATEGIES}
    counts_no_app = {s: collections.Counter() for s in STRATEGIES}
    cases = []
    for name in package_names(args, root):
        for pct in (args.pct, -args.pct):
            generate(tree, args, ["--bump", name, "--bump-size", str(abs(pct)),
                                  "--bump-direction", "grow" if pct > 0 else "shrink"])
            row = {"package": name, "size_change_pct": pct}
            for s in STRATEGIES:
                layers = build(args, root, s, os.path.join(work, "out-" + s), cache)
                old = {d for _, d in base[s]}
                changed = [n for n, d in layers if d not in old]
                counts[s][len(changed)] += 1
                counts_no_app[s][len([n for n in changed if n != "app"])] += 1
                row[s] = changed
            cases.append(row)
            print(f"{name:>20} {pct:+d}%: " + "; ".join(
                f"{s} {len(row[s])} ({', '.join(row[s])})" for s in STRATEGIES), flush=True)
    generate(tree, args, [])
    n = len(cases)
    print(f"\n{n} one-package changes ({args.packages} packages x +-{args.pct}% size and a "
          f"version bump); layers whose diff_id changed:")
    for s in STRATEGIES:
        dist = ", ".join(f"{k} layers: {v}" for k, v in sorted(counts[s].items()))
        dist2 = ", ".join(f"{k}: {v}" for k, v in sorted(counts_no_app[s].items()))
        one = counts_no_app[s][1] / n * 100
        print(f"  {s:16} all layers -> {dist}\n  {'':16} without the app layer -> {dist2}"
              f" ({one:.1f}% exactly 1, max {max(counts_no_app[s])})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cases": cases,
                       "counts": {s: dict(counts[s]) for s in STRATEGIES},
                       "counts_without_app": {s: dict(counts_no_app[s]) for s in STRATEGIES}},
                      f, indent=2, sort_keys=True)
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
