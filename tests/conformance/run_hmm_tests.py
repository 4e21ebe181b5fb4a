#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run the kernel's HMM selftest (hmm-tests.c) against libuhmm-dmirror.

1. Sources: Debian's linux-source-6.1 package is fetched with
   `apt-get download` into the cache (${UHMM_CACHE_DIR:-~/.cache/uhmm}) and
   only the files the selftest needs are extracted, once, under a lock and
   with an atomic rename; the package itself is deleted afterwards.  Kernel
   sources never enter the repository.
2. Build: hmm-tests.c is compiled with the project's compiler and sanitizer
   flags into a scratch folder of the build tree.
3. Run: LD_PRELOAD=[sanitizer runtime:]shim:libuhmm-interpose ./hmm-tests,
   bounded in time.
4. Verdict: a table of the device-private cases; the test fails when a
   required case does not pass.  The harness's own totals count the
   device-coherent variants' skips as passes and are ignored.

Exit: 0 pass, 1 fail, 77 skipped (the package could not be fetched).
"""

import argparse
import fcntl
import glob
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PACKAGE = "linux-source-6.1"
TOP = "linux-source-6.1/"
SELFTEST = "tools/testing/selftests/vm/hmm-tests.c"
NEEDED = [
    SELFTEST,
    "tools/testing/selftests/kselftest_harness.h",
    "tools/testing/selftests/kselftest.h",
    "lib/test_hmm_uapi.h",
    "mm/gup_test.h",
]
# Kernel-tree include roots the selftest reaches with <...> (-I <tree>).
TREE_ROOTS = ("lib/", "mm/", "tools/")
MAX_DEB_BYTES = 512 << 20
SKIP = 77

HUGE = "needs huge pages"
# Cases of hmm.hmm_device_private that must pass; None: always required,
# else the condition (a key of the machine facts) under which they are.
REQUIRED = {
    "open_close": None, "anon_read": None, "anon_read_prot": None,
    "anon_write": None, "anon_write_prot": None, "anon_write_child": None,
    "anon_write_child_shared": None, "anon_write_huge": None,
    "anon_write_hugetlbfs": None, "file_read": None, "file_write": None,
    "anon_read_multiple": None, "anon_teardown": None, "mixedmap": None,
    "compound": HUGE,
}
# Cases that may skip themselves and still count (their reason is a
# property of the machine, printed with the table).
MAY_SKIP = {"anon_write_hugetlbfs": "no huge page could be allocated"}
FIXTURES = ("hmm.hmm_device_private.", "hmm2.hmm2_device_private.")
SANITIZER_REPORT = re.compile(
    r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer"
    r"|runtime error: |ThreadSanitizer: |AddressSanitizer: ")


class Skipped(Exception):
    pass


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------------
# 1. Sources


def cache_root():
    base = os.environ.get("UHMM_CACHE_DIR")
    if not base:
        home = os.environ.get("HOME") or os.path.expanduser("~")
        base = os.path.join(home or "/tmp", ".cache", "uhmm")
    return os.path.join(base, PACKAGE)


def tail(text, lines=8):
    return "\n".join(text.strip().splitlines()[-lines:])


def download(dest):
    """apt-get download the package into dest; return the .deb path."""
    if not shutil.which("apt-get"):
        raise Skipped("apt-get is not available (not a Debian system)")
    log(f"conformance: downloading {PACKAGE} with apt-get (~140 MB, once)")
    try:
        r = subprocess.run(["apt-get", "download", PACKAGE], cwd=dest,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=600)
    except subprocess.TimeoutExpired:
        raise Skipped(f"apt-get download {PACKAGE} took over 600 s")
    debs = glob.glob(os.path.join(dest, PACKAGE + "_*.deb"))
    if r.returncode or len(debs) != 1:
        raise Skipped(f"apt-get download {PACKAGE} failed "
                      f"(exit {r.returncode}):\n{tail(r.stdout)}")
    if os.path.getsize(debs[0]) > MAX_DEB_BYTES:
        raise Skipped(f"{debs[0]} is larger than {MAX_DEB_BYTES} bytes")
    return debs[0]


def extract(deb, out, members):
    """Extract the named tree files (and nothing else) from the .deb.

    The .deb holds usr/src/linux-source-6.1.tar.xz; the two archives are
    streamed, never written out, and tar stops reading once every name was
    found (--occurrence).  Both steps are bounded in time.
    """
    names = [TOP + m for m in members]
    cmd = ("dpkg-deb --fsys-tarfile \"$1\" | "
           "tar -xO --wildcards './usr/src/linux-source-*.tar.xz' | "
           "tar -xJ -C \"$2\" --occurrence=1 \"${@:3}\"")
    try:
        subprocess.run(["bash", "-c", cmd, "extract", deb, out] + names,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise Skipped(f"extracting {len(names)} files from {deb} took "
                      "over 300 s")
    # The pipeline's status is meaningless (tar stopping early kills the
    # writers with SIGPIPE): what counts is whether the files are there.
    missing = [m for m in members
               if not os.path.isfile(os.path.join(out, TOP, m))]
    return missing


INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def includes_of(tree, rel):
    """Tree-relative paths of the kernel files that rel #includes."""
    with open(os.path.join(tree, rel), errors="replace") as f:
        text = f.read()
    found = []
    for kind, name in INCLUDE.findall(text):
        if kind == '"':
            path = os.path.normpath(os.path.join(os.path.dirname(rel), name))
        elif name.startswith(TREE_ROOTS):
            path = os.path.normpath(name)
        else:
            continue
        if not path.startswith("..") and re.fullmatch(r"[\w./+-]+", path):
            found.append(path)
    return found


def extract_closure(deb, out):
    """NEEDED plus whatever they #include from the tree (a few passes)."""
    wanted, have = list(NEEDED), set()
    for _ in range(4):
        todo = [m for m in wanted if m not in have]
        if not todo:
            return
        missing = extract(deb, out, todo)
        if missing:
            raise Skipped(f"{deb} lacks {', '.join(missing)}")
        have.update(todo)
        for m in todo:
            for inc in includes_of(os.path.join(out, TOP), m):
                if inc not in wanted:
                    wanted.append(inc)
    raise Skipped("the selftest's #include chain is deeper than expected")


def lock(path, seconds=840):
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise Skipped(f"{path} stayed locked for {seconds} s")
            time.sleep(1)


def fetch_sources():
    """The cached tree (downloaded and extracted the first time)."""
    root = cache_root()
    tree = os.path.join(root, "tree")
    if os.path.isfile(os.path.join(tree, ".complete")):
        return tree
    os.makedirs(root, exist_ok=True)
    fd = lock(os.path.join(root, ".lock"))
    try:
        if os.path.isfile(os.path.join(tree, ".complete")):
            return tree
        shutil.rmtree(tree, ignore_errors=True)	# a crashed first run
        scratch = tempfile.mkdtemp(prefix="fetch.", dir=root)
        try:
            deb = download(scratch)
            out = os.path.join(scratch, "x")
            os.mkdir(out)
            extract_closure(deb, out)
            with open(os.path.join(out, TOP, ".complete"), "w") as f:
                f.write(os.path.basename(deb) + "\n")
            os.rename(os.path.join(out, TOP), tree)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return tree
    finally:
        os.close(fd)


# ---------------------------------------------------------------------
# 2. Build


def build(args, tree, work):
    exe = os.path.join(work, "hmm-tests")
    flags = args.cflags.split()
    base = [args.cc, "-O1", "-g", "-I", tree]
    src = os.path.join(tree, SELFTEST)
    if args.sanitize == "thread":
        # The selftest's anon_teardown reads buffer->ptr while its unmap
        # thread writes it: a race of the kernel's test code, on stacks
        # shared with the device's own.  The selftest is built
        # uninstrumented (TSan still sees the shim, the device and the
        # core), and linked with the runtime.
        steps = [base + ["-c", src, "-o", exe + ".o"],
                 [args.cc] + flags + [exe + ".o", "-o", exe, "-lpthread"]]
    else:
        steps = [base + flags + [src, "-o", exe, "-lpthread"]]
    for cmd in steps:
        r = subprocess.run(cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=120)
        if r.returncode:
            log(" ".join(cmd) + "\n" + r.stdout)
            raise RuntimeError("building hmm-tests failed")
    return exe


# ---------------------------------------------------------------------
# 3. Run


def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def runtime_of(lib):
    """The sanitizer runtime the shim needs first in LD_PRELOAD, if any."""
    r = subprocess.run(["ldd", lib], stdout=subprocess.PIPE, text=True)
    m = re.search(r"\s(/\S*/lib(?:asan|tsan)\.so[.\d]*)\s", r.stdout)
    return [m.group(1)] if m else []


def kill_session(sid):
    """SIGKILL every process of the run's session (the harness puts each
    test in its own process group, so a group kill is not enough)."""
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:
                os.kill(int(stat.split("/")[2]), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass


MAX_OUTPUT = 8 << 20


def collect(p, deadline):
    """The program's output, at most MAX_OUTPUT bytes kept (the rest is
    read and counted, so a case stuck printing cannot fill memory).
    Return (bytes, dropped, timed_out)."""
    kept, dropped = bytearray(), 0
    fd = p.stdout.fileno()
    os.set_blocking(fd, False)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(kept), dropped, True
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not r:
            continue
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return bytes(kept), dropped, False
        room = MAX_OUTPUT - len(kept)
        kept += chunk[:room]
        dropped += max(0, len(chunk) - room)


def run(args, exe, work):
    preload = runtime_of(args.shim) + [args.shim, args.interpose]
    env = dict(os.environ, LD_PRELOAD=":".join(preload),
               UHMM_HMM_SHIM_END_CASE="1")
    log("conformance: LD_PRELOAD=" + env["LD_PRELOAD"] + " ./hmm-tests")
    p = subprocess.Popen([exe], cwd=work, env=env, start_new_session=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, dropped, timed_out = collect(p, time.monotonic() + args.timeout)
    if timed_out:
        kill_session(p.pid)
    p.stdout.close()
    p.wait()
    text = out.decode(errors="replace")
    log(text)
    if dropped:
        log(f"conformance: WARNING: {dropped} more bytes of output dropped")
    if timed_out:
        log(f"conformance: hmm-tests killed after {args.timeout} s")
    else:
        log(f"conformance: hmm-tests exited with {p.returncode} "
            "(its totals count skips as passes: the table below decides)")
    return text


# ---------------------------------------------------------------------
# 4. Verdict

RUN = re.compile(r"^#\s+RUN\s+(\S+) \.\.\.")
RESULT = re.compile(r"^(not )?ok \d+( # SKIP)?")


def parse(text):
    """case -> 'pass' | 'fail' | 'skip' | 'sanitizer' (a report in it)."""
    results, current, flagged = {}, None, False
    for line in text.splitlines():
        m = RUN.match(line)
        if m:
            current, flagged = m.group(1), False
            results[current] = "no result"
            continue
        if current and SANITIZER_REPORT.search(line):
            flagged = True
        m = RESULT.match(line)
        if m and current:
            r = "fail" if m.group(1) else "skip" if m.group(2) else "pass"
            results[current] = "sanitizer" if flagged else r
            current = None
    return results


def requirement(case, facts):
    """(required?, note) for one device-private case."""
    name = case.split(".", 2)[2]
    if case.startswith("hmm2."):
        return False, "migrates to device memory"
    if name not in REQUIRED:
        return False, "needs device memory or a kernel-only module"
    cond = REQUIRED[name]
    if cond and not facts[cond]:
        return False, "no free huge page: the case returns untested"
    return True, ""


def verdict(results, facts):
    cases = sorted(c for c in results if c.startswith(FIXTURES))
    expected = ["hmm.hmm_device_private." + n for n in REQUIRED]
    cases += [c for c in expected if c not in results]
    failed = []
    log(f"{'case':<52} {'result':<10} required")
    for case in cases:
        res = results.get(case, "not run")
        req, note = requirement(case, facts)
        name = case.split(".", 2)[2]
        if req and res == "skip" and name in MAY_SKIP:
            note = "skip accepted: " + MAY_SKIP[name]
            if facts[HUGE]:
                note += " (WARNING: huge pages were free)"
        elif req and res != "pass":
            failed.append(case)
        log(f"{case:<52} {res:<10} {'yes' if req else 'no'}"
            f"{'  (' + note + ')' if note else ''}")
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cc", required=True)
    ap.add_argument("--cflags", default="")
    ap.add_argument("--sanitize", default="")
    ap.add_argument("--shim", required=True)
    ap.add_argument("--interpose", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--timeout", type=int, default=int(
        os.environ.get("UHMM_CONFORMANCE_TIMEOUT", "240")))
    args = ap.parse_args()
    try:
        tree = fetch_sources()
    except Skipped as e:
        log(f"SKIPPED: conformance.hmm_tests because {e}")
        return SKIP
    with open(os.path.join(tree, ".complete")) as f:
        log(f"conformance: sources from {f.read().strip()} in {tree}")
    os.makedirs(args.work, exist_ok=True)
    work = tempfile.mkdtemp(prefix="run.", dir=args.work)
    try:
        facts = {HUGE: meminfo("HugePages_Free") > 0}
        text = run(args, build(args, tree, work), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = verdict(parse(text), facts)
    if failed:
        log(f"conformance: FAIL: {len(failed)} required case(s) did not "
            f"pass: {', '.join(failed)}")
        return 1
    log("conformance: PASS: every required case passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
