#!/usr/bin/env python3
"""Write a deterministic synthetic Bazel runfiles tree of a FastAPI app.

The tree looks like what `bazel build //app:hello_fastapi` leaves for a
rules_python py_binary (the design note's hello_fastapi): an output base
holding the real files, and

    OUT/bazel-bin/app/hello_fastapi             the launcher (a script)
    OUT/bazel-bin/app/hello_fastapi.runfiles/   ABSOLUTE symlinks into the
                                                output base (dirs are real),
                                                MANIFEST and _repo_mapping

with a hermetic interpreter repo (~250 MB at --scale 1), 19 pip packages
with real-looking dist-info, a small rules_python support repo, and the app
(~10 KB).  Content is Python-like text and semi-compressible machine-code-like
bytes from a seeded PRNG, about as compressible as the real thing.

Same arguments, same tree, byte for byte (symlink targets include the
absolute path of --out).  Re-running over an existing OUT rewrites only the
files whose content changes and removes what no longer belongs, so
`--app-change 2` after `--app-change 1` touches one file: good for
incremental-build benchmarks.

Standard library only.  See examples/README.md.
"""

import argparse
import base64
import csv
import hashlib
import io
import math
import os
import random
import stat
import sys
import time

PY_MAJOR_MINOR = "3.11"
PY_VERSION = "3.11.9"
PY_TAG = "311"
PLATFORM = "x86_64-unknown-linux-gnu"
SO_SUFFIX = ".cpython-311-x86_64-linux-gnu.so"
APP_PACKAGE = "app"
APP_NAME = "hello_fastapi"
WORKSPACE_NAME = "hello_ws"

# (METADATA name, version, top-level modules, installed KB at scale 1,
#  share of the bytes in compiled extensions, console scripts)
PACKAGES = [
    ("fastapi", "0.110.0", ["fastapi"], 1150, 0.0, []),
    ("pydantic", "2.6.4", ["pydantic"], 3100, 0.0, []),
    ("pydantic_core", "2.16.3", ["pydantic_core"], 4500, 0.93, []),
    ("starlette", "0.36.3", ["starlette"], 650, 0.0, []),
    ("uvicorn", "0.29.0", ["uvicorn"], 560, 0.0, ["uvicorn"]),
    ("anyio", "4.3.0", ["anyio"], 820, 0.0, []),
    ("idna", "3.6", ["idna"], 480, 0.0, []),
    ("sniffio", "1.3.1", ["sniffio"], 60, 0.0, []),
    ("typing_extensions", "4.10.0", ["typing_extensions.py"], 180, 0.0, []),
    ("annotated-types", "0.6.0", ["annotated_types"], 56, 0.0, []),
    ("click", "8.1.7", ["click"], 560, 0.0, []),
    ("h11", "0.14.0", ["h11"], 300, 0.0, []),
    ("httptools", "0.6.1", ["httptools"], 1300, 0.85, []),
    ("uvloop", "0.19.0", ["uvloop"], 4200, 0.90, []),
    ("websockets", "12.0", ["websockets"], 1000, 0.15, []),
    ("watchfiles", "0.21.0", ["watchfiles"], 1200, 0.80, ["watchfiles"]),
    ("python-dotenv", "1.0.1", ["dotenv"], 120, 0.0, ["dotenv"]),
    ("PyYAML", "6.0.1", ["yaml", "_yaml"], 2500, 0.80, []),
    ("python-multipart", "0.0.9", ["multipart"], 120, 0.0, []),
]

# The interpreter at scale 1: (bucket, files, bytes).  Sums to ~254 MB.
INTERPRETER_BUCKETS = {
    "stdlib_py": (2200, 60_000_000),
    "stdlib_pyc": (2200, 70_000_000),
    "libpython": (1, 64_000_000),
    "dynload": (72, 26_000_000),
    "include": (220, 2_500_000),
    "tcltk": (360, 9_000_000),
    "config": (6, 1_000_000),
    "site_packages": (1300, 18_000_000),
}

STDLIB_MODULES = (
    "abc aifc argparse ast asynchat asyncore base64 bdb bisect bz2 calendar cgi "
    "cgitb chunk cmd code codecs codeop colorsys compileall configparser "
    "contextlib contextvars copy copyreg cProfile crypt csv dataclasses datetime "
    "decimal difflib dis doctest enum filecmp fileinput fnmatch fractions ftplib "
    "functools genericpath getopt getpass gettext glob graphlib gzip hashlib heapq "
    "hmac imaplib imghdr inspect io ipaddress keyword linecache locale lzma "
    "mailbox mimetypes modulefinder netrc ntpath nturl2path numbers opcode "
    "operator optparse os pathlib pdb pickle pickletools pipes pkgutil platform "
    "plistlib poplib posixpath pprint profile pstats pty py_compile pyclbr pydoc "
    "queue quopri random re reprlib rlcompleter runpy sched secrets selectors "
    "shelve shlex shutil signal site smtpd smtplib sndhdr socket socketserver "
    "sre_compile sre_constants sre_parse ssl stat statistics string stringprep "
    "struct subprocess sunau symtable sysconfig tabnanny tarfile telnetlib "
    "tempfile textwrap this threading timeit token tokenize trace traceback "
    "tracemalloc tty turtle types typing uu uuid warnings wave weakref "
    "webbrowser xdrlib zipapp zipfile zipimport"
).split()
STDLIB_PACKAGES = (
    "asyncio collections concurrent ctypes curses dbm distutils email encodings "
    "ensurepip html http idlelib importlib json lib2to3 logging multiprocessing "
    "pydoc_data sqlite3 test tkinter tomllib unittest urllib venv wsgiref xml "
    "xmlrpc zoneinfo"
).split()

WORDS = (
    "data value result items config request response path name key index count "
    "buffer stream handler context node parent child token state cache entry "
    "record field schema model params options session client server route app "
    "event loop task future callback timeout retry limit offset size length "
    "header body status code message error warning info debug level logger "
    "source target input output reader writer encoder decoder parser lexer "
    "module package version registry factory builder manager provider adapter "
    "validator serializer converter wrapper proxy queue worker pool thread lock "
    "signal channel socket address host port protocol transport connection "
    "default extra args kwargs self cls obj attr method func wrapped inner outer "
    "start stop begin end first last prev next left right top bottom min max "
    "total chunk block frame line column row table query filter sort order "
    "group mapping sequence iterator generator annotation type hint origin"
).split()
VERBS = (
    "get set make build load dump parse read write open close send recv handle "
    "process validate check update create delete find match apply resolve "
    "register dispatch emit wait run call bind encode decode compile render "
    "format split join merge copy clear reset flush iter collect convert"
).split()
EXCEPTIONS = (
    "ValueError TypeError KeyError RuntimeError AttributeError LookupError "
    "IndexError OSError NotImplementedError AssertionError"
).split()
SENTENCE_WORDS = (
    "the a of to and in is for that this with as be on not it by are or from "
    "at an when which if return value given object default used call function "
    "method class instance should must may will can each all any none raise "
    "error first list new set used by caller returns passed into only"
).split()


# ---------------------------------------------------------------- content

def _ident(rng):
    if rng.random() < 0.55:
        return rng.choice(WORDS)
    return rng.choice(VERBS) + "_" + rng.choice(WORDS)


def _sentence(rng, lo=4, hi=12):
    words = [rng.choice(SENTENCE_WORDS if rng.random() < 0.6 else WORDS)
             for _ in range(rng.randint(lo, hi))]
    return " ".join(words).capitalize()


def _statement(rng, ind):
    v, w, a = _ident(rng), rng.choice(WORDS), rng.choice(WORDS)
    r = rng.random()
    if r < 0.22:
        return [f"{ind}{v} = {w}.{rng.choice(VERBS)}({a})"]
    if r < 0.34:
        return [f"{ind}if {v} is None:", f"{ind}    return {w}"]
    if r < 0.44:
        return [f"{ind}for {v} in {w}.{rng.choice(WORDS)}:",
                f"{ind}    {a}.append({v})"]
    if r < 0.52:
        return [f"{ind}if not isinstance({v}, {rng.choice(['str', 'int', 'dict', 'list', 'tuple', 'bytes'])}):",
                f"{ind}    raise {rng.choice(EXCEPTIONS)}(f\"{_sentence(rng, 3, 6)}: {{{v}!r}}\")"]
    if r < 0.60:
        return [f"{ind}self.{v} = {w}"]
    if r < 0.66:
        return [f"{ind}# {_sentence(rng)}."]
    if r < 0.74:
        return [f"{ind}try:", f"{ind}    {v} = {w}[{a}]",
                f"{ind}except KeyError:", f"{ind}    {v} = {rng.choice(['None', '0', '[]', '{}', repr(a)])}"]
    if r < 0.82:
        return [f"{ind}{v} = [{a} for {a} in {w} if {a}.{rng.choice(WORDS)}]"]
    if r < 0.90:
        return [f"{ind}with {w}.{rng.choice(VERBS)}() as {v}:",
                f"{ind}    {v}.{rng.choice(VERBS)}({a}, {rng.randint(0, 4096)})"]
    return [f"{ind}return {v}"]


def _function(rng, ind):
    args = ", ".join(rng.sample(WORDS, rng.randint(0, 4)))
    name = rng.choice(VERBS) + "_" + rng.choice(WORDS)
    lines = [f"{ind}def {name}({'self, ' if ind else ''}{args}):".replace(", )", ")"),
             f'{ind}    """{_sentence(rng)}."""']
    for _ in range(rng.randint(2, 7)):
        lines += _statement(rng, ind + "    ")
    lines.append(f"{ind}    return {rng.choice(WORDS)}")
    return lines


def _block(rng):
    r = rng.random()
    if r < 0.45:
        return _function(rng, "") + [""]
    if r < 0.70:
        cname = rng.choice(WORDS).capitalize() + rng.choice(WORDS).capitalize()
        lines = [f"class {cname}({rng.choice(['object', 'Exception', 'Protocol', 'Generic[T]'])}):",
                 f'    """{_sentence(rng)}.', "", f"    {_sentence(rng)}.", '    """', ""]
        for _ in range(rng.randint(1, 3)):
            lines += _function(rng, "    ") + [""]
        return lines
    if r < 0.82:
        return [f"# {_sentence(rng)}." for _ in range(rng.randint(1, 4))] + [""]
    if r < 0.92:
        mod = ".".join(rng.sample(WORDS, rng.randint(1, 2)))
        names = ", ".join(sorted(set(rng.choice(WORDS) for _ in range(rng.randint(1, 4)))))
        return [f"from {mod} import {names}"]
    return [f"{rng.choice(WORDS).upper()}_{rng.choice(WORDS).upper()} = "
            f"{rng.choice([str(rng.randint(0, 65535)), repr(rng.choice(WORDS)), 'None', 'True'])}"]


class Content:
    """Deterministic content factories shared by the whole tree."""

    def __init__(self, seed):
        rng = random.Random(f"{seed}:pool")
        self.blocks = ["\n".join(_block(rng)) + "\n" for _ in range(6000)]
        # Machine-code-like bytes: a skewed byte distribution (x86 code is
        # dominated by a few opcode, ModRM and REX bytes and zeros), so
        # gzip gets about 3x, as on real shared objects.
        self.code_table = self._table(rng, [
            (0x00, 155), (0x48, 14), (0x89, 11), (0x8B, 9), (0xFF, 8), (0xE8, 6),
            (0x0F, 6), (0x85, 4), (0x74, 4), (0x75, 4), (0x24, 4), (0x44, 4), (0x4C, 4),
            (0xC3, 3), (0x83, 4), (0x01, 3), (0x10, 3), (0x08, 3), (0x20, 2), (0xC0, 2),
            (0x41, 3), (0x31, 2),
        ], spread=1)
        self.data_table = self._table(rng, [(0x00, 190), (0x01, 12), (0xFF, 10), (0x02, 6),
                                            (0x04, 6), (0x08, 6), (0x10, 6), (0x20, 6)],
                                      spread=2)
        syms = sorted(set(f"_Py{rng.choice(WORDS).capitalize()}_{rng.choice(VERBS).capitalize()}"
                          f"{rng.choice(WORDS).capitalize()}" for _ in range(3000)))
        self.symbols = syms

    @staticmethod
    def _table(rng, weights, spread):
        table = []
        for byte, n in weights:
            table += [byte] * n
        rest = [b for b in range(256)]
        rng.shuffle(rest)
        i = 0
        while len(table) < 256:
            table += [rest[i % 256]] * min(spread, 256 - len(table))
            i += 1
        return bytes(table[:256])

    def text(self, key, size, header=""):
        """Python-like source of about size bytes (at least the header)."""
        rng = random.Random(key)
        parts = [header] if header else []
        total = len(header)
        blocks = self.blocks
        n = len(blocks)
        while total < size:
            picks = [blocks[int(rng.random() * n)] for _ in range(16)]
            for b in picks:
                parts.append(b)
                total += len(b)
                if total >= size:
                    break
        data = "".join(parts).encode()
        if len(data) > size and size >= len(header.encode()):
            data = data[:size]
            nl = data.rfind(b"\n")
            if nl >= len(header.encode()) and nl > size // 2:
                data = data[:nl + 1]
        return data

    def binary(self, key, size, elf=True):
        """Shared-object-like bytes: code, data tables and symbol strings."""
        rng = random.Random(key)
        out = bytearray()
        if elf:
            out += b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x03\x00\x3e\x00\x01\x00\x00\x00"
        while len(out) < size:
            seg = rng.randint(2048, 24576)
            r = rng.random()
            if r < 0.74:
                out += rng.randbytes(seg).translate(self.code_table)
            elif r < 0.90:
                out += rng.randbytes(seg).translate(self.data_table)
            else:
                names = []
                total = 0
                while total < seg:
                    s = self.symbols[int(rng.random() * len(self.symbols))]
                    names.append(s)
                    total += len(s) + 1
                out += "\0".join(names).encode() + b"\0"
        return bytes(out[:size])

    def pyc(self, key, size):
        """A .pyc-like file: the 3.11 header, then marshalled-looking bytes."""
        rng = random.Random(key)
        head = b"\xa7\x0d\x0d\x0a" + bytes(4) + rng.randbytes(4) + rng.randbytes(4)
        body = bytearray()
        while len(head) + len(body) < size:
            if rng.random() < 0.55:
                body += rng.randbytes(rng.randint(64, 1024)).translate(self.code_table)
            else:
                body += b"\xda" + self.blocks[int(rng.random() * len(self.blocks))][:200].encode()
        return (head + bytes(body))[:max(size, 16)]


# ---------------------------------------------------------------- layout

def norm(name):
    """PEP 503."""
    out, sep = [], False
    for ch in name:
        if ch in "-_.":
            sep = True
            continue
        if sep and out:
            out.append("-")
        sep = False
        out.append(ch.lower())
    return "".join(out)


def bump_version(v):
    parts = v.split(".")
    for i in range(len(parts) - 1, -1, -1):
        if parts[i].isdigit():
            parts[i] = str(int(parts[i]) + 1)
            return ".".join(parts)
    return v + ".post1"


def split_sizes(rng, total, n, sigma=0.9, minimum=64):
    """n positive sizes summing to about total, lognormally spread."""
    if n <= 0:
        return []
    w = [rng.lognormvariate(0, sigma) for _ in range(n)]
    s = sum(w)
    return [max(minimum, int(total * x / s)) for x in w]


def scaled_count(n, scale, minimum=1):
    return max(minimum, int(round(n * math.sqrt(min(scale, 1.0)) if scale < 1 else n)))


class Package:
    def __init__(self, name, version, modules, kb, so_share, scripts):
        self.name = name
        self.version = version
        self.modules = modules
        self.kb = kb
        self.so_share = so_share
        self.scripts = scripts

    @property
    def key(self):
        return norm(self.name)


SYN_PREFIX = ("data async fast micro cloud json http auth log cache geo text num graph "
              "stream task config secure event queue proto meta schema vector").split()
SYN_SUFFIX = ("kit lib core tools io utils flow base ify parse client server store pack "
              "forge ops wire bridge hub").split()


def package_list(args):
    pk = [Package(*p) for p in PACKAGES]
    if args.packages <= len(pk):
        pk = pk[:args.packages]
    else:
        rng = random.Random(f"{args.seed}:synthetic-packages")
        names = set(p.key for p in pk)
        while len(pk) < args.packages:
            name = rng.choice(SYN_PREFIX) + rng.choice(["", "-", "_"]) + rng.choice(SYN_SUFFIX)
            if norm(name) in names:
                name = f"{name}{rng.randint(2, 99)}"
                if norm(name) in names:
                    continue
            names.add(norm(name))
            kb = int(min(6000, max(20, rng.lognormvariate(math.log(150), 1.1))))
            so = rng.choice([0.0] * 6 + [0.7])
            mod = norm(name).replace("-", "_")
            version = f"{rng.randint(0, 5)}.{rng.randint(0, 30)}.{rng.randint(0, 12)}"
            pk.append(Package(name, version, [mod], kb, so, []))
    bumped = set(norm(b) for b in args.bump)
    unknown = bumped - set(p.key for p in pk)
    if unknown:
        sys.exit(f"gen_runfiles_tree: --bump {', '.join(sorted(unknown))}: no such package "
                 f"(have: {', '.join(p.key for p in pk[:25])}{' ...' if len(pk) > 25 else ''})")
    for p in pk:
        if p.key in bumped:
            rng = random.Random(f"{args.seed}:bump:{p.key}")
            p.version = bump_version(p.version)
            f = args.bump_size / 100.0
            factor = {"grow": 1 + f, "shrink": 1 - f}.get(args.bump_direction)
            p.kb = max(1, int(round(p.kb * (factor or rng.choice([1 - f, 1 + f])))))
    return pk


def repo_names(style):
    """(main, interpreter, support, pip(package) -> name)"""
    interp_local = f"python_3_11_{PLATFORM}"
    if style == "workspace":
        return (WORKSPACE_NAME, interp_local, "rules_python",
                lambda p: "pip_" + norm(p.name).replace("-", "_"))
    if style == "bzlmod6":
        pre = "rules_python~0.31.0"
        return ("_main", f"{pre}~python~{interp_local}", pre,
                lambda p: f"{pre}~pip~pypi_{PY_TAG}_" + norm(p.name).replace("-", "_"))
    if style == "bzlmod71":
        return ("_main", f"rules_python~~python~{interp_local}", "rules_python~",
                lambda p: "rules_python~~pip~pypi_" + PY_TAG + "_" + norm(p.name).replace("-", "_"))

    def bzl8(p):
        base = f"rules_python++pip+pypi_{PY_TAG}_" + norm(p.name).replace("-", "_")
        if p.so_share:
            # Wheels Bazel downloads itself: tags and a hash in the name.
            h = hashlib.sha256(f"{p.key}-{p.version}".encode()).hexdigest()[:8]
            base += f"_cp{PY_TAG}_cp{PY_TAG}_manylinux_2_17_x86_64_{h}"
        return base
    return ("_main", f"rules_python++python+{interp_local}", "rules_python+", bzl8)


# ---------------------------------------------------------------- writing

class Writer:
    """Makes a directory tree equal to what is put into it, touching only
    the files whose content or target changes."""

    def __init__(self, out):
        self.out = out
        self.expected = set()
        self.files = 0
        self.bytes = 0
        self.written = 0

    def _prepare(self, path):
        self.expected.add(path)
        d = os.path.dirname(path)
        while d and d != self.out and d not in self.expected:
            self.expected.add(d)
            d = os.path.dirname(d)
        os.makedirs(os.path.dirname(path), exist_ok=True)

    def file(self, path, data, mode=0o644):
        self._prepare(path)
        self.files += 1
        self.bytes += len(data)
        try:
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and st.st_size == len(data):
                with open(path, "rb") as f:
                    if f.read() == data:
                        if stat.S_IMODE(st.st_mode) != mode:
                            os.chmod(path, mode)
                        return
            if stat.S_ISDIR(st.st_mode) and not os.path.islink(path):
                _rmtree(path)
            else:
                os.unlink(path)
        except FileNotFoundError:
            pass
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        self.written += 1

    def link(self, path, target):
        self._prepare(path)
        self.files += 1
        try:
            if os.readlink(path) == target:
                return
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError:
            if os.path.isdir(path) and not os.path.islink(path):
                _rmtree(path)
            else:
                os.unlink(path)
        os.symlink(target, path)
        self.written += 1

    def prune(self, top):
        """Removes from top whatever was not put there this time."""
        if not os.path.lexists(top):
            return
        for dirpath, dirnames, filenames in os.walk(top, topdown=False):
            for n in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                p = os.path.join(dirpath, n)
                if p not in self.expected:
                    os.unlink(p)
            for n in dirnames:
                p = os.path.join(dirpath, n)
                if not os.path.islink(p) and p not in self.expected:
                    try:
                        os.rmdir(p)
                    except OSError:
                        pass


def _rmtree(path):
    for dirpath, dirnames, filenames in os.walk(path, topdown=False):
        for n in filenames:
            os.unlink(os.path.join(dirpath, n))
        for n in dirnames:
            p = os.path.join(dirpath, n)
            if os.path.islink(p):
                os.unlink(p)
            else:
                os.rmdir(p)
    os.rmdir(path)


def record_hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


# ---------------------------------------------------------------- pieces

def interpreter_files(content, args):
    """repo-relative path -> (bytes | ('link', target), mode)."""
    seed, scale = args.seed, args.scale
    rng = random.Random(f"{seed}:interpreter-layout")
    files = {}
    lib = f"lib/python{PY_MAJOR_MINOR}"

    def bucket(name):
        n, b = INTERPRETER_BUCKETS[name]
        return scaled_count(n, scale), max(1, int(b * scale))

    # bin/
    files["bin/python3.11"] = (content.binary(f"{seed}:bin/python3.11", max(2048, int(17_000 * max(scale, 0.1)))), 0o755)
    files["bin/python3"] = (("link", "python3.11"), 0o777)
    files["bin/python"] = (("link", "python3.11"), 0o777)
    for s in ("pip3", "pip3.11", "pydoc3.11", "idle3.11", "2to3-3.11"):
        files[f"bin/{s}"] = (b"#!/bin/sh\n'''exec' \"$(dirname -- \"$(realpath -- \"$0\")\")/python3.11\" \"$0\" \"$@\"\n' '''\n"
                             + content.text(f"{seed}:bin/{s}", 200), 0o755)
    files["bin/python3.11-config"] = (b"#!/bin/sh\n" + content.text(f"{seed}:config-sh", 3000), 0o755)
    files["bin/python3-config"] = (("link", "python3.11-config"), 0o777)

    # lib/libpython
    n, b = bucket("libpython")
    files[f"lib/libpython{PY_MAJOR_MINOR}.so.1.0"] = (content.binary(f"{seed}:libpython", b), 0o755)
    files["lib/libpython3.so"] = (content.binary(f"{seed}:libpython3.so", max(1024, int(15_000 * max(scale, 0.1)))), 0o755)
    for pc in ("python-3.11.pc", "python-3.11-embed.pc", "python3.pc"):
        files[f"lib/pkgconfig/{pc}"] = (f"prefix=/install\nName: Python\nVersion: {PY_MAJOR_MINOR}\nLibs: -L${{libdir}} -lpython{PY_MAJOR_MINOR}\n".encode(), 0o644)

    # the standard library: os.py first, so every scale has it
    n_py, b_py = bucket("stdlib_py")
    names = ["os.py"] + [m + ".py" for m in STDLIB_MODULES if m != "os"]
    pkgs = list(STDLIB_PACKAGES)
    i = 0
    while len(names) < n_py * 2:
        p = pkgs[i % len(pkgs)]
        if i < len(pkgs):
            names.append(f"{p}/__init__.py")
        else:
            sub = rng.choice(WORDS) + "_" + rng.choice(WORDS + VERBS)
            if p == "test" and rng.random() < 0.5:
                sub = "test_" + sub
            names.append(f"{p}/{sub}.py")
        i += 1
    seen, ordered = set(), []
    for nm in names:
        if nm not in seen:
            seen.add(nm)
            ordered.append(nm)
    py_names = ordered[:n_py]
    for nm, size in zip(py_names, split_sizes(rng, b_py, len(py_names))):
        files[f"{lib}/{nm}"] = (content.text(f"{seed}:stdlib:{nm}", size,
                                             f'"""{nm[:-3].replace("/", ".")} - {_sentence(rng)}."""\n\n'), 0o644)
    n_pyc, b_pyc = bucket("stdlib_pyc")
    for nm, size in zip(py_names[:n_pyc], split_sizes(rng, b_pyc, min(n_pyc, len(py_names)))):
        d, base = os.path.split(nm)
        pyc = os.path.join(d, "__pycache__", base[:-3] + f".cpython-{PY_TAG}.pyc")
        files[f"{lib}/{pyc}"] = (content.pyc(f"{seed}:pyc:{nm}", size), 0o644)

    n_dl, b_dl = bucket("dynload")
    dl_names = sorted(set(["_ssl", "_hashlib", "_sqlite3", "_ctypes", "_decimal", "_json",
                           "_asyncio", "_socket", "select", "math", "zlib", "_bz2", "_lzma",
                           "pyexpat", "_elementtree", "array", "binascii", "_struct",
                           "_pickle", "_datetime", "_random", "_uuid", "readline", "_curses"]
                          + [f"_{rng.choice(WORDS)}{k}" for k in range(n_dl)]))[:n_dl]
    for nm, size in zip(dl_names, split_sizes(rng, b_dl, len(dl_names), sigma=1.2, minimum=512)):
        files[f"{lib}/lib-dynload/{nm}{SO_SUFFIX}"] = (content.binary(f"{seed}:dynload:{nm}", size), 0o755)

    n_inc, b_inc = bucket("include")
    inc = f"include/python{PY_MAJOR_MINOR}"
    files[f"{inc}/patchlevel.h"] = ((
        "/* Python version identification scheme. */\n"
        "#define PY_MAJOR_VERSION        3\n#define PY_MINOR_VERSION        11\n"
        "#define PY_MICRO_VERSION        9\n"
        f"#define PY_VERSION              \"{PY_VERSION}\"\n").encode(), 0o644)
    for k, size in enumerate(split_sizes(rng, b_inc, max(1, n_inc - 1), minimum=128)):
        sub = "cpython/" if k % 4 == 0 else ""
        hname = f"{inc}/{sub}{rng.choice(WORDS)}{k}object.h"
        files[hname] = (content.text(f"{seed}:inc:{k}", size, "#ifndef Py_H\n#define Py_H\n"), 0o644)

    n_tcl, b_tcl = bucket("tcltk")
    for k, size in enumerate(split_sizes(rng, b_tcl, n_tcl, minimum=128)):
        top = "tcl8.6" if k % 3 else "tk8.6"
        files[f"lib/{top}/{rng.choice(WORDS)}{k}.tcl"] = (content.text(f"{seed}:tcl:{k}", size, "# tcl\n"), 0o644)

    n_cf, b_cf = bucket("config")
    cfg = f"{lib}/config-{PY_MAJOR_MINOR}-x86_64-linux-gnu"
    for k, (nm, size) in enumerate(zip(["Makefile", "Setup", "Setup.local", "config.c", "python-config.py", "python.o"],
                                        split_sizes(rng, b_cf, 6, minimum=64))):
        data = content.binary(f"{seed}:cfg:{nm}", size) if nm.endswith(".o") else \
            content.text(f"{seed}:cfg:{nm}", size, "# config\n")
        files[f"{cfg}/{nm}"] = (data, 0o644)

    # its own site-packages: pip and setuptools, which belong to it
    n_sp, b_sp = bucket("site_packages")
    sp = f"{lib}/site-packages"
    files[f"{sp}/README.txt"] = (b"This directory exists so that 3rd party packages can be installed here.\n", 0o644)
    for dist, ver, share in (("pip", "24.0", 0.6), ("setuptools", "65.5.0", 0.4)):
        cnt = max(2, int(n_sp * share))
        paths = [f"{dist}/__init__.py"] + [
            f"{dist}/{'_vendor/' if k % 3 == 0 else ''}{rng.choice(WORDS)}_{k}.py" for k in range(cnt - 1)]
        installed = {}
        for pth, size in zip(paths, split_sizes(rng, int(b_sp * share), len(paths))):
            installed[pth] = content.text(f"{seed}:sp:{pth}", size)
        if dist == "setuptools":
            # A vendored distribution's metadata inside a package.
            installed["setuptools/_vendor/packaging-23.1.dist-info/METADATA"] = \
                b"Metadata-Version: 2.1\nName: packaging\nVersion: 23.1\n"
        di = f"{dist}-{ver}.dist-info"
        installed[f"{di}/METADATA"] = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {ver}\n\n".encode()
        installed[f"{di}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: bdist_wheel (0.42.0)\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        installed[f"{di}/INSTALLER"] = b"pip\n"
        installed[f"{di}/RECORD"] = make_record(installed, f"{di}/RECORD")
        for pth, data in installed.items():
            files[f"{sp}/{pth}"] = (data, 0o644)

    files[f"{lib}/LICENSE.txt"] = (content.text(f"{seed}:license", 13_000), 0o644)
    files["share/man/man1/python3.11.1"] = (content.text(f"{seed}:man", 9_000, ".TH PYTHON 1\n"), 0o644)
    return files


def make_record(installed, record_path, extra=()):
    rows = sorted(installed.items())
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for pth, data in rows:
        if pth == record_path:
            continue
        w.writerow([pth, record_hash(data), len(data)])
    for pth, data in extra:
        w.writerow([pth, record_hash(data), len(data)])
    w.writerow([record_path, "", ""])
    return buf.getvalue().encode()


def package_files(content, args, p, scripts_rel):
    """site-packages-relative path -> bytes, and repo/venv-relative scripts."""
    seed, scale = args.seed, args.scale
    rng = random.Random(f"{seed}:pkg:{p.key}:{p.version}")
    total = max(256, int(p.kb * 1024 * scale))
    so_bytes = int(total * p.so_share)
    py_bytes = total - so_bytes
    n_py = scaled_count(max(1, int(p.kb // 22 * args.file_density)), scale)
    installed = {}
    mods = p.modules
    if len(mods) == 1 and mods[0].endswith(".py"):
        installed[mods[0]] = content.text(f"{seed}:{p.key}:{p.version}:{mods[0]}", py_bytes,
                                          f'"""{p.name} {p.version}."""\n')
    else:
        top = mods[0]
        paths = [f"{top}/__init__.py"]
        for k in range(n_py - 1):
            sub = rng.choice(["", "", f"{rng.choice(WORDS)}/"])
            paths.append(f"{top}/{sub}{rng.choice(WORDS)}_{rng.choice(VERBS)}{k}.py")
        if n_py > 3:
            paths.append(f"{top}/py.typed")
        for pth, size in zip(paths, split_sizes(rng, py_bytes, len(paths), minimum=32)):
            installed[pth] = b"" if pth.endswith("py.typed") else content.text(
                f"{seed}:{p.key}:{p.version}:{pth}", size, f'"""{pth} ({p.name} {p.version})."""\n')
        if so_bytes:
            ext_mod = mods[-1] if len(mods) > 1 else f"{top}/_{top.strip('_')}"
            so_path = ext_mod + SO_SUFFIX if len(mods) > 1 else f"{top}/_{top.strip('_')}{SO_SUFFIX}"
            installed[so_path] = content.binary(f"{seed}:{p.key}:{p.version}:so", so_bytes)
    di = f"{p.name.replace('-', '_')}-{p.version}.dist-info"
    requires = "".join(f"Requires-Dist: {q}\n" for q in sorted(rng.sample(
        [x[0] for x in PACKAGES], 2)) if norm(q) != p.key)
    desc = content.text(f"{seed}:{p.key}:{p.version}:readme", 2500, f"# {p.name}\n\n")
    installed[f"{di}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {p.name}\nVersion: {p.version}\n"
        f"Summary: {_sentence(rng)}\n"
        f"Project-URL: Homepage, https://example.invalid/{p.key}\n"
        f"License: MIT\nRequires-Python: >=3.8\n{requires}"
        f"Description-Content-Type: text/markdown\n\n").encode() + desc
    tag = f"cp{PY_TAG}-cp{PY_TAG}-manylinux_2_17_x86_64" if p.so_share else "py3-none-any"
    installed[f"{di}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: bdist_wheel (0.42.0)\n"
                                f"Root-Is-Purelib: {'false' if p.so_share else 'true'}\nTag: {tag}\n").encode()
    installed[f"{di}/INSTALLER"] = b"pip\n" if args.venv else b"https://github.com/bazelbuild/rules_python\n"
    installed[f"{di}/licenses/LICENSE"] = content.text(f"{seed}:{p.key}:license", 1100)
    scripts = {}
    if p.scripts:
        installed[f"{di}/entry_points.txt"] = ("[console_scripts]\n" + "".join(
            f"{s} = {mods[0]}.main:main\n" for s in p.scripts)).encode()
        for s in p.scripts:
            scripts[s] = (f"#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\nimport re\nimport sys\n"
                          f"from {mods[0]}.main import main\nif __name__ == '__main__':\n"
                          f"    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
                          f"    sys.exit(main())\n").encode()
    extra = [(f"{scripts_rel}/{s}", data) for s, data in sorted(scripts.items())]
    installed[f"{di}/RECORD"] = make_record(installed, f"{di}/RECORD", extra)
    return installed, scripts, di


APP_FILES = {
    "__init__.py": 120,
    "main.py": 2600,
    "routes.py": 3200,
    "models.py": 2500,
    "config.py": 1500,
}


def app_files(content, args):
    out = {}
    for nm, size in APP_FILES.items():
        change = args.app_change if nm == "routes.py" else 0
        key = f"{args.seed}:app:{nm}:{change}"
        header = f'"""{APP_NAME}: {nm}."""\n'
        if change:
            header += f"# change {change}\n"
        if nm == "main.py":
            header += "from fastapi import FastAPI\n\nfrom app.routes import router\n\napp = FastAPI()\napp.include_router(router)\n\n"
        out[nm] = content.text(key, size, header)
    return out


def launcher_script(content, args, main_repo, interp_repo):
    head = (
        "#!/usr/bin/env python3\n"
        "# This file was generated by rules_python's py_binary bootstrap template.\n"
        f"PYTHON_BINARY = '{interp_repo}/bin/python3'\n"
        f"MAIN = '{main_repo}/{APP_PACKAGE}/main.py'\n"
        "IS_ZIPFILE = False\nRECURSION_LIMIT = 0\n\n")
    return content.text(f"{args.seed}:launcher", 18_000, head)


# ---------------------------------------------------------------- trees

def write_runfiles(args, content, w, out):
    main_repo, interp_repo, support_repo, pip_repo = repo_names(args.style)
    base = os.path.join(out, "output_base")
    ext = os.path.join(base, "external")
    ws = os.path.join(out, "workspace")
    bindir = os.path.join(out, "bazel-bin", APP_PACKAGE)
    rf = os.path.join(bindir, APP_NAME + ".runfiles")
    runfiles = {}	# runfiles path -> absolute target

    def external(repo, rel, data, mode=0o644):
        path = os.path.join(ext, repo, rel)
        if isinstance(data, tuple):
            w.link(path, data[1])
        else:
            w.file(path, data, mode)
        runfiles[f"{repo}/{rel}"] = path

    for rel, (data, mode) in sorted(interpreter_files(content, args).items()):
        external(interp_repo, rel, data, mode)

    for p in package_list(args):
        repo = pip_repo(p)
        installed, scripts, _ = package_files(content, args, p, "../bin")
        for rel, data in sorted(installed.items()):
            external(repo, f"site-packages/{rel}", data, 0o755 if rel.endswith(".so") else 0o644)
        for s, data in sorted(scripts.items()):
            external(repo, f"bin/{s}", data, 0o755)
        external(repo, "site-packages/__init__.py", b"")

    for rel in ("python/runfiles/__init__.py", "python/runfiles/runfiles.py"):
        external(support_repo, rel, content.text(f"{args.seed}:rules_python:{rel}",
                                                 300 if rel.endswith("__init__.py") else 16_000))

    # the main repo: sources in the workspace, the launcher in bazel-bin
    for nm, data in sorted(app_files(content, args).items()):
        path = os.path.join(ws, APP_PACKAGE, nm)
        w.file(path, data)
        runfiles[f"{main_repo}/{APP_PACKAGE}/{nm}"] = path
    launcher = os.path.join(bindir, APP_NAME)
    w.file(launcher, launcher_script(content, args, main_repo, interp_repo), 0o755)
    runfiles[f"{main_repo}/{APP_PACKAGE}/{APP_NAME}"] = launcher

    if args.legacy_external:
        for path, target in list(runfiles.items()):
            repo = path.split("/", 1)[0]
            if repo != main_repo:
                runfiles[f"{main_repo}/external/{path}"] = target

    if args.style != "workspace":
        mapping = os.path.join(bindir, APP_NAME + ".repo_mapping")
        lines = [f",__main__,{main_repo}", f",{APP_NAME},{main_repo}",
                 f",python_3_11,{interp_repo}", f",rules_python,{support_repo}",
                 f"{support_repo},rules_python,{support_repo}"]
        w.file(mapping, ("\n".join(lines) + "\n").encode())
        runfiles["_repo_mapping"] = mapping

    for path, target in sorted(runfiles.items()):
        w.link(os.path.join(rf, path), target)
    manifest = "".join(f"{p} {t}\n" for p, t in sorted(runfiles.items())).encode()
    w.file(os.path.join(rf, "MANIFEST"), manifest)
    w.file(os.path.join(bindir, APP_NAME + ".runfiles_manifest"), manifest)
    return [base, ws, os.path.join(out, "bazel-bin")]


def write_venv(args, content, w, out):
    venv = os.path.join(out, "venv")
    sp = os.path.join(venv, "lib", f"python{PY_MAJOR_MINOR}", "site-packages")
    w.file(os.path.join(venv, "pyvenv.cfg"),
           f"home = /usr/local/bin\ninclude-system-site-packages = false\nversion = {PY_VERSION}\n"
           f"executable = /usr/local/bin/python{PY_MAJOR_MINOR}\ncommand = /usr/local/bin/python3 -m venv --copies /opt/venv\n".encode())
    # --copies: the interpreter binary is in the venv, not a link out of it
    w.file(os.path.join(venv, "bin", "python3.11"),
           content.binary(f"{args.seed}:venv:python3.11", max(2048, int(17_000 * max(args.scale, 0.1)))), 0o755)
    w.link(os.path.join(venv, "bin", "python3"), "python3.11")
    w.link(os.path.join(venv, "bin", "python"), "python3.11")
    for act in ("activate", "activate.csh", "activate.fish", "Activate.ps1"):
        w.file(os.path.join(venv, "bin", act), content.text(f"{args.seed}:venv:{act}", 2200, "# venv\n"))
    w.link(os.path.join(venv, "lib64"), "lib")
    for p in package_list(args):
        installed, scripts, _ = package_files(content, args, p, "../../../bin")
        for rel, data in sorted(installed.items()):
            w.file(os.path.join(sp, rel), data, 0o755 if rel.endswith(".so") else 0o644)
        for s, data in sorted(scripts.items()):
            w.file(os.path.join(venv, "bin", s), data, 0o755)
    # pip as a venv has it, with its RECORD
    installed = {"pip/__init__.py": content.text(f"{args.seed}:venv:pip", 400)}
    for k in range(scaled_count(120, args.scale)):
        installed[f"pip/_internal/{WORDS[k % len(WORDS)]}_{k}.py"] = \
            content.text(f"{args.seed}:venv:pip:{k}", max(64, int(60_000 * args.scale)))
    di = "pip-24.0.dist-info"
    installed[f"{di}/METADATA"] = b"Metadata-Version: 2.1\nName: pip\nVersion: 24.0\n\n"
    installed[f"{di}/INSTALLER"] = b"pip\n"
    installed[f"{di}/RECORD"] = make_record(installed, f"{di}/RECORD")
    for rel, data in sorted(installed.items()):
        w.file(os.path.join(sp, rel), data)
    return [venv]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="directory to write (created; made equal to the spec)")
    ap.add_argument("--style", choices=["workspace", "bzlmod6", "bzlmod71", "bzlmod8"], default="bzlmod71",
                    help="Bazel repo naming: WORKSPACE, Bazel 6/7.0, 7.1+, 8+ (default: bzlmod71)")
    ap.add_argument("--packages", type=int, default=len(PACKAGES),
                    help="pip packages (default 19; more adds synthetic ones, e.g. 120)")
    ap.add_argument("--scale", type=float, default=1.0,
                    help="size multiplier; file counts scale with its square root (default 1: ~277 MB)")
    ap.add_argument("--bump", action="append", default=[], metavar="NAME",
                    help="bump this package's version and change its size by ~10%% (repeatable)")
    ap.add_argument("--bump-size", type=float, default=10.0, metavar="PCT",
                    help="how much --bump grows or shrinks a package, in %% (default 10)")
    ap.add_argument("--bump-direction", choices=["random", "grow", "shrink"], default="random",
                    help="whether --bump grows or shrinks the package (default: a seeded "
                         "random choice per package)")
    ap.add_argument("--file-density", type=float, default=1.0, metavar="F",
                    help="files per pip package times F, same bytes (e.g. 20 with "
                         "--packages 120 for a tree with ~10x the files)")
    ap.add_argument("--app-change", type=int, default=0, metavar="N",
                    help="rewrite app/routes.py with content that depends on N (0: the original)")
    ap.add_argument("--legacy-external", action="store_true",
                    help="also write <main>/external/<repo>/ duplicates (--legacy_external_runfiles)")
    ap.add_argument("--venv", action="store_true",
                    help="write OUT/venv, a virtualenv (lib/python3.11/site-packages) instead")
    ap.add_argument("--seed", type=int, default=1, help="PRNG seed (default 1)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.scale <= 0 or args.scale > 100:
        ap.error("--scale must be in (0, 100]")
    if args.packages < 0 or args.packages > 5000:
        ap.error("--packages must be in [0, 5000]")
    if not 0 <= args.bump_size < 100:
        ap.error("--bump-size must be in [0, 100)")
    if not 0 < args.file_density <= 1000:
        ap.error("--file-density must be in (0, 1000]")
    if args.app_change < 0:
        ap.error("--app-change must be >= 0")

    t0 = time.monotonic()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    content = Content(args.seed)
    w = Writer(out)
    tops = write_venv(args, content, w, out) if args.venv else write_runfiles(args, content, w, out)
    for top in tops:
        w.prune(top)
    # The other layout's directories, from an earlier run with other flags.
    for stale in ("venv",) if not args.venv else ("output_base", "workspace", "bazel-bin"):
        p = os.path.join(out, stale)
        if os.path.isdir(p) and not os.path.islink(p):
            _rmtree(p)
    if not args.quiet:
        root = os.path.join(out, "venv") if args.venv else \
            os.path.join(out, "bazel-bin", APP_PACKAGE, APP_NAME)
        print(f"{root}: {w.files} entries, {w.bytes / 1e6:.1f} MB of file content, "
              f"{w.written} written, {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
