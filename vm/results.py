#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Turn what the guests left behind into one verdict.

    vm/results.py <run-dir>/<topology>...
    vm/results.py --log-only <dir>...   (only judge the guest logs)

Each <topology> directory holds, per suite, <suite>.tap (what it printed)
and <suite>.rc (its exit code), the suites that were meant to run
(suites.list), the guest's console.log and qemu.rc. Prints per-suite
results, the skips with their reasons, every kernel splat found in a
console log, and ends with the line "N passed, N failed". Exits 1 when
anything failed:

  - a test ("not ok"), or a test marked TODO or XFAIL (known broken);
  - a suite that emitted no TAP, said "Bail out!", has no plan, more than
    one plan, or reported fewer or more results than its plan (1..N);
  - a suite's exit code (neither 0 nor 4, KSFT_SKIP), a suite that timed
    out or never finished;
  - a skip the suite did not declare (see below);
  - a VM that did not boot, timed out, or whose job never printed
    "[p2pmem] job done" (the last lines of its console log are printed);
  - a kernel splat in a guest log (KASAN, lockdep, WARN, BUG, Oops, panic,
    hung task, RCU stall, kmemleak).

Expected skips are declared in the suite's header comment (the comment
block at the top of selftests/suites/<suite>.sh), one or more lines of

    # expected-skips: <where>: <test-glob> [<test-glob>...]

<where> is a comma-separated list of <topology>[@<kernel>], where
<topology> may be "*" (any) and @<kernel> (e.g. @6.12) limits the line to
that kernel; without it the line holds for every kernel. A <test-glob> is
an fnmatch pattern on the test's name as its TAP line gives it; a suite
that skips as a whole (exit 4 with no result, or "1..0 # SKIP") is named
"(whole suite)". A declared skip that does not happen is fine; any other
skip fails the run. The kernel is the KERNEL of the run's job.sh (what
vm/check.sh booted), else $KERNEL (6.12, 7.1, ...), else the major.minor
version the guest booted; a mismatch with the booted version fails. Every
summary line names its kernel: <kernel>/<topology>/<suite>.
"""

import fnmatch
import os
import re
import sys

# Anything here in a guest's console log fails the run, whatever the tests
# said: KASAN, lockdep, WARN, BUG, Oops, panics, hung tasks, RCU stalls.
SPLAT = re.compile(
    r"(BUG: |WARNING: |INFO: |UBSAN: |Oops|general protection fault|"
    r"kernel BUG at|Kernel panic|Call Trace:|"
    r"list_(add|del) corruption|unreferenced object|"
    r"possible (circular|recursive) locking|blocked for more than)")

# Kernel lines carry a printk timestamp; only they are scanned, so a test
# that prints "BUG: " in its own output cannot trip the detector.
KERNEL_LINE = re.compile(r"\[\s*\d+\.\d{6}\]")

RESULT = re.compile(r"^(not ok|ok)\b\s*(\d+)?\s*-?\s*([^#]*?)\s*(#\s*(.*))?$")
PLAN = re.compile(r"^1\.\.(\d+)\s*(#\s*(.*))?$")
BAIL = re.compile(r"^\s*Bail out!(.*)$")
EXPECTED = re.compile(r"^#\s*expected-skips:(.*)$")
SELECTOR = re.compile(r"^(\*|[A-Za-z0-9_-]+)(?:@([0-9][0-9.]*))?$")
BOOTED = re.compile(r"Linux version (\d+\.\d+)\S*")

WHOLE_SUITE = "(whole suite)"
TAIL_LINES = 30
JOB_DONE = "[p2pmem] job done"

REPO = os.environ.get("REPO") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))


class Suite:
    def __init__(self, kernel, topo, name):
        self.kernel, self.topo, self.name = kernel, topo, name
        self.passed = self.failed = 0
        self.skips = []      # (test, reason, declared)
        self.failures = []   # test names or why the suite itself failed

    @property
    def label(self):
        return f"{self.kernel}/{self.topo}/{self.name}"

    def fail(self, why, count=1):
        self.failed += count
        self.failures.append(why)


def parse_tap(text, suite):
    """Judges top-level TAP lines; indented lines are subtests or notes.
    Returns (plans, number of results)."""
    plans = []           # (N, directive)
    seen = 0
    order_broken = False
    for line in text.splitlines():
        m = BAIL.match(line)
        if m:
            suite.fail("Bail out!" + m.group(1).rstrip())
            continue
        m = PLAN.match(line)
        if m:
            plans.append((int(m.group(1)), (m.group(3) or "").strip()))
            continue
        m = RESULT.match(line)
        if not m:
            continue
        seen += 1
        if m.group(2) is not None and int(m.group(2)) != seen and not order_broken:
            order_broken = True
            suite.fail(f"result {seen} is numbered {m.group(2)}: results out of order or repeated")
        status, name = m.group(1), m.group(3) or f"test {m.group(2) or seen}"
        directive = (m.group(5) or "").strip()
        word = directive.split(None, 1)[0].upper() if directive else ""
        why = directive[len(word):].strip()
        if word == "TODO":
            suite.fail(f"{name}: {status} # TODO {why}".rstrip())
        elif word == "XFAIL":
            suite.fail(f"{name}: {status} # XFAIL {why}".rstrip())
        elif status == "ok" and word == "SKIP":
            suite.skips.append((name, why or "no reason given", False))
        elif status == "ok":
            suite.passed += 1
        else:
            suite.fail(name)
    return plans, seen


def read(path, default=None):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return default


def suite_script(name):
    for d in ("selftests/suites", "vm/harness-inject"):
        path = os.path.join(REPO, d, name + ".sh")
        if os.path.isfile(path):
            return path
    return None


def declarations(name):
    """The suite's expected-skips lines: [(selectors, globs)], [errors]."""
    path = suite_script(name)
    if path is None:
        return [], [f"no script for suite {name} to read its expected skips from"]
    decls, errors = [], []
    lines = (read(path, "") or "").splitlines()
    for n, line in enumerate(lines, 1):
        if n == 1 and line.startswith("#!"):
            continue
        if not line.startswith("#"):
            break    # only the header comment declares
        m = EXPECTED.match(line)
        if not m:
            continue
        where, sep, globs = m.group(1).strip().partition(": ")
        selectors = [s.strip() for s in where.split(",")]
        globs = globs.split()
        if not sep or not globs or not all(SELECTOR.match(s) for s in selectors):
            errors.append(f"{os.path.relpath(path, REPO)}:{n}: malformed expected-skips line "
                          "(want '# expected-skips: <topology>[@<kernel>][,...]: <glob>...')")
            continue
        decls.append(([SELECTOR.match(s).groups() for s in selectors], globs))
    return decls, errors


def kernel_matches(kernel, want):
    return want is None or kernel == want or kernel.startswith(want + ".")


def declared(decls, topo, kernel, test):
    for selectors, globs in decls:
        if not any(t in ("*", topo) and kernel_matches(kernel, k) for t, k in selectors):
            continue
        if any(fnmatch.fnmatchcase(test, g) for g in globs):
            return True
    return False


def suite_time(console, name):
    """Seconds the suite ran, from run-suites.sh's line in the console."""
    m = re.search(rf"^\[p2pmem\] suite {re.escape(name)}: exit \d+ after (\d+)s",
                  console or "", re.M)
    return int(m.group(1)) if m else None


def judge_suite(s, topo_dir, kernel, console, timeout):
    tap = read(os.path.join(topo_dir, s.name + ".tap"))
    rc = read(os.path.join(topo_dir, s.name + ".rc"))
    if tap is None or rc is None:
        s.fail("suite did not finish: no exit code (the job or the VM died, "
               "see the guest problems below)")
        return
    plans, seen = parse_tap(tap, s)
    try:
        rc = int(rc.strip())
    except ValueError:
        rc = None
    if rc is None:
        s.fail("suite left no valid exit code")
    elif rc in (124, 137):
        took = suite_time(console, s.name)
        ran = f" after {took}s" if took is not None else ""
        limit = f" (SUITE_TIMEOUT={timeout}s)" if timeout else " (SUITE_TIMEOUT)"
        if rc == 124:
            s.fail(f"suite timed out{ran}{limit}: it hung")
        elif took is not None and timeout and took >= int(timeout):
            s.fail(f"suite timed out{ran}{limit}: it hung and ignored SIGTERM, SIGKILL ended it")
        else:
            s.fail(f"suite was killed by SIGKILL{ran} (exit 137)")
    elif rc not in (0, 4) and s.failed == 0:
        s.fail(f"suite exited with {rc}")

    if not plans and seen == 0:
        if rc == 4:
            s.skips.append((WHOLE_SUITE, "exited with KSFT_SKIP (4) and no TAP", False))
        else:
            s.fail("suite emitted no TAP (no plan, no result)")
    elif not plans:
        s.fail(f"no plan (1..N) for its {seen} results")
    else:
        if len(plans) > 1:
            s.fail(f"{len(plans)} plans: " + ", ".join(f"1..{n}" for n, _ in plans))
        planned, directive = plans[0]
        if planned == 0 and seen == 0:
            word = directive.split(None, 1)[0].upper() if directive else ""
            if word == "SKIP":
                s.skips.append((WHOLE_SUITE, directive[4:].strip() or "1..0 # SKIP", False))
            else:
                s.fail("plan 1..0 and no result, without '# SKIP' saying why")
        elif seen < planned:
            s.fail(f"only {seen} of {planned} planned results reported", planned - seen)
        elif seen > planned:
            s.fail(f"{seen} results reported, but the plan is 1..{planned}")

    decls, errors = declarations(s.name)
    for e in errors:
        s.fail(e)
    undeclared = 0
    for i, (test, reason, _) in enumerate(s.skips):
        if declared(decls, s.topo, kernel, test):
            s.skips[i] = (test, reason, True)
        else:
            undeclared += 1
            s.fail(f"undeclared skip: {test}: {reason}")
    if undeclared and s.passed == 0 and not any(d for _, _, d in s.skips):
        s.fail(f"every test skipped ({undeclared}), none declared", 0)


def guest_cause(console):
    """Why a guest that did not finish stopped, as far as its log says."""
    for line in console.splitlines():
        if "Kernel panic - not syncing" in line:
            why = line.split("Kernel panic - not syncing", 1)[1].lstrip(": ").strip()
            return "the guest kernel panicked: " + why
    for line in reversed(console.splitlines()):
        if line.startswith("p2pmem-guest: "):
            return "guest init: " + line[len("p2pmem-guest: "):].strip()
    return None


def collect(topo_dir, log_only=False):
    topo = os.path.basename(os.path.normpath(topo_dir))
    suites, problems, tail = [], [], None

    console = read(os.path.join(topo_dir, "console.log"))
    booted = None
    if console is not None:
        m = BOOTED.search(console)
        booted = m.group(1) if m else None
    job = read(os.path.join(topo_dir, "job.sh"), "") or ""
    m = re.search(r"\bKERNEL='([0-9.]+)'", job)
    kernel = (m.group(1) if m else None) or os.environ.get("KERNEL") or booted or "unknown"
    where = f"{kernel}/{topo}"
    if booted and not kernel_matches(booted, kernel) and not kernel_matches(kernel, booted):
        problems.append(f"{where}: KERNEL={kernel} but the guest booted {booted}")

    if not log_only:
        m = re.search(r"SUITE_TIMEOUT='(\d+)'", job)
        timeout = m.group(1) if m else None
        names = (read(os.path.join(topo_dir, "suites.list"), "") or "").split()
        if not names:
            problems.append(f"{where}: no suite was meant to run (empty or missing suites.list)")
        for name in names:
            s = Suite(kernel, topo, name)
            suites.append(s)
            judge_suite(s, topo_dir, kernel, console, timeout)

    unfinished = False
    if console is None:
        problems.append(f"{where}: no console log: the VM never started")
    else:
        splats = [l.strip() for l in console.splitlines()
                  if KERNEL_LINE.search(l) and SPLAT.search(l)]
        for line in splats[:20]:
            problems.append(f"{where}: kernel splat: {line}")
        if len(splats) > 20:
            problems.append(f"{where}: ... and {len(splats) - 20} more splat lines")
        if JOB_DONE not in console:
            cause = guest_cause(console)
            problems.append(f"{where}: the guest never finished its job (no '{JOB_DONE}')"
                            + (f": {cause}" if cause else ""))
            unfinished = True
    qrc = (read(os.path.join(topo_dir, "qemu.rc"), "") or "").strip()
    if qrc == "124":
        problems.append(f"{where}: VM timed out (VM_TIMEOUT)")
        unfinished = True
    elif qrc not in ("", "0"):
        problems.append(f"{where}: QEMU exited with {qrc}")
        unfinished = True
    if unfinished and console is not None:
        lines = console.rstrip("\n").splitlines()[-TAIL_LINES:]
        tail = (os.path.join(topo_dir, "console.log"), lines)
    return suites, problems, tail


def print_problems(problems, tails):
    for p in problems:
        print(f"  {p}")
    for path, lines in tails:
        print(f"\nlast {len(lines)} lines of {path}:")
        for line in lines:
            print(f"  | {line}")


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    log_only = argv[1] == "--log-only"
    dirs = argv[2:] if log_only else argv[1:]
    suites, problems, tails = [], [], []
    for d in dirs:
        s, p, t = collect(d, log_only)
        suites += s
        problems += p
        if t:
            tails.append(t)
    if not dirs:
        problems.append("no result directory given")

    if log_only:
        print_problems(problems, tails)
        return 1 if problems else 0

    width = max([len(s.label) for s in suites] + [10])
    print()
    print(f"{'suite':<{width}}  pass  fail  skip")
    for s in suites:
        print(f"{s.label:<{width}}  {s.passed:4}  {s.failed:4}  {len(s.skips):4}")
        for f in s.failures:
            print(f"{'':<{width}}    FAIL: {f}")
    skips = [(s, t, r, d) for s in suites for t, r, d in s.skips]
    if skips:
        print("\nskipped:")
        for s, t, r, d in skips:
            print(f"  {s.label}: {t}: {r}" + ("" if d else "   [UNDECLARED: fails the run]"))
    if problems:
        print("\nguest problems (each fails the run):")
        print_problems(problems, tails)

    passed = sum(s.passed for s in suites)
    failed = sum(s.failed for s in suites) + len(problems)
    kernels = sorted({s.kernel for s in suites}, key=lambda k: [int(x) if x.isdigit() else 0 for x in k.split(".")])
    print()
    if len(kernels) > 1:
        for k in kernels:
            ks = [s for s in suites if s.kernel == k]
            kp = [p for p in problems if p.startswith(k + "/")]
            print(f"Linux {k}: {sum(s.passed for s in ks)} passed, "
                  f"{sum(s.failed for s in ks) + len(kp)} failed")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
