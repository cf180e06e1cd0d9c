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
anything failed: a test, a suite's exit code, a suite that never finished,
a VM that did not boot or timed out, or a splat in a guest log.
"""

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
PLAN = re.compile(r"^1\.\.(\d+)")


class Suite:
    def __init__(self, topo, name):
        self.topo, self.name = topo, name
        self.passed = self.failed = 0
        self.skips = []      # (test, reason)
        self.failures = []   # test names or why the suite itself failed

    @property
    def label(self):
        return f"{self.topo}/{self.name}"


def parse_tap(text, suite):
    """Counts top-level TAP results; indented lines are subtests or notes."""
    plan = None
    seen = 0
    for line in text.splitlines():
        m = PLAN.match(line)
        if m and plan is None:
            plan = int(m.group(1))
            continue
        m = RESULT.match(line)
        if not m:
            continue
        seen += 1
        status, name = m.group(1), m.group(3) or f"test {m.group(2)}"
        directive = (m.group(5) or "").strip()
        if status == "ok" and directive.upper().startswith("SKIP"):
            suite.skips.append((name, directive[4:].strip() or "no reason given"))
        elif status == "ok":
            suite.passed += 1
        elif directive.upper().startswith("TODO"):
            suite.skips.append((name, "TODO: " + directive[4:].strip()))
        else:
            suite.failed += 1
            suite.failures.append(name)
    return plan, seen


def read(path, default=None):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return default


def collect(topo_dir):
    topo = os.path.basename(os.path.normpath(topo_dir))
    suites, problems = [], []
    names = (read(os.path.join(topo_dir, "suites.list"), "") or "").split()
    for name in names:
        s = Suite(topo, name)
        suites.append(s)
        tap = read(os.path.join(topo_dir, name + ".tap"))
        rc = read(os.path.join(topo_dir, name + ".rc"))
        if tap is None or rc is None:
            s.failed += 1
            s.failures.append("suite did not finish (VM died or timed out)")
            continue
        plan, seen = parse_tap(tap, s)
        if plan is not None and seen < plan:
            s.failed += plan - seen
            s.failures.append(f"only {seen} of {plan} planned results reported")
        rc = int(rc.strip() or "1")
        if rc == 124:
            s.failed += 1
            s.failures.append("suite timed out")
        elif rc != 0 and rc != 4 and s.failed == 0:
            s.failed += 1
            s.failures.append(f"suite exited with {rc}")
        elif rc == 4 and seen == 0:
            s.skips.append(("(whole suite)", "exited with KSFT_SKIP"))
        if seen == 0 and rc == 0:
            s.failed += 1
            s.failures.append("suite reported no result")

    console = read(os.path.join(topo_dir, "console.log"))
    if console is None:
        problems.append(f"{topo}: no console log: the VM never started")
    else:
        splats = [l.strip() for l in console.splitlines()
                  if KERNEL_LINE.search(l) and SPLAT.search(l)]
        for line in splats[:20]:
            problems.append(f"{topo}: kernel splat: {line}")
        if len(splats) > 20:
            problems.append(f"{topo}: ... and {len(splats) - 20} more splat lines")
        if "[p2pmem] job done" not in console:
            problems.append(f"{topo}: the guest never finished its job")
    qrc = (read(os.path.join(topo_dir, "qemu.rc"), "") or "").strip()
    if qrc == "124":
        problems.append(f"{topo}: VM timed out")
    elif qrc not in ("", "0"):
        problems.append(f"{topo}: QEMU exited with {qrc}")
    return suites, problems


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    log_only = argv[1] == "--log-only"
    suites, problems = [], []
    for d in argv[2:] if log_only else argv[1:]:
        s, p = collect(d)
        suites += s
        problems += p

    if log_only:
        for p in problems:
            print(f"  {p}")
        return 1 if problems else 0

    width = max([len(s.label) for s in suites] + [10])
    print()
    print(f"{'suite':<{width}}  pass  fail  skip")
    for s in suites:
        print(f"{s.label:<{width}}  {s.passed:4}  {s.failed:4}  {len(s.skips):4}")
        for f in s.failures:
            print(f"{'':<{width}}    FAIL: {f}")
    skips = [(s, t, r) for s in suites for t, r in s.skips]
    if skips:
        print("\nskipped:")
        for s, t, r in skips:
            print(f"  {s.label}: {t}: {r}")
    if problems:
        print("\nguest problems (each fails the run):")
        for p in problems:
            print(f"  {p}")

    passed = sum(s.passed for s in suites)
    failed = sum(s.failed for s in suites) + len(problems)
    print(f"\n{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
