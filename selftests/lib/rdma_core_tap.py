#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Run rdma-core's python tests as tests/run_tests.py does, print TAP.

    rdma_core_tap.py --tests DIR [--only GLOB]... [--exclude FILE]
                     [--must-run GLOB]... [--test-timeout SEC] [--list]
                     -- [run_tests.py args]

DIR is rdma-core's tests/ directory. The tests are loaded exactly as
run_tests.py loads them (its argument parser, its tests package and that
package's load_tests), and the arguments after "--" are run_tests.py's own
(--dev, --port, --gid, --gpu, --gtt). Only the runner differs: each test
is one TAP line, "ok", "not ok" (its traceback as "# " lines) or
"ok ... # SKIP <unittest's skip message>".

--only keeps the tests whose id (tests.test_mr.DmaBufMRTest.test_dmabuf_rc
...) matches one of the globs. --exclude names a file of "<glob> <reason>"
lines ('#' starts a comment): a matching test is not run and is reported as
"ok ... # SKIP excluded: <reason>", so an exclusion is never silent.
--must-run names tests that may not skip: a selected test matching one of
its globs that skips (itself, a subtest of it, or by --exclude) is
reported "not ok" with the skip's reason, and the run bails out when the
loader finds no test at all matching one of them. Its default is
tests.test_p2pacc_dmabuf.*: the dma-buf MR tests on our accelerator's
memory (userspace/rdma-core/ patch 0003), the reason this runner exists.
--test-timeout fails a test that runs longer (SIGALRM). --list prints the
selected test ids and exits.
"""

import argparse
import fnmatch
import os
import signal
import sys
import tempfile
import time
import traceback
import unittest
from importlib.machinery import SourceFileLoader


DEFAULT_MUST_RUN = ["tests.test_p2pacc_dmabuf.*"]


class TestTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise TestTimeout("the test ran longer than --test-timeout")


def flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from flatten(t)
        else:
            yield t


def one_line(text):
    return " ".join(str(text).split()) or "no reason given"


def read_excludes(path):
    rules = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            glob, _, reason = line.partition(" ")
            rules.append((glob, reason.strip() or "no reason given"))
    return rules


def run_captured(fn):
    """Runs fn() with fds 1 and 2 (inherited by the tests' helper
    processes) sent to a file; returns what was written there."""
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as tmp:
        saved = [os.dup(1), os.dup(2)]
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            fn()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        tmp.seek(0)
        return tmp.read().decode(errors="replace")


class Outcome(unittest.TestResult):
    """Collects one test's outcome; subtests fold into their test."""

    def __init__(self):
        super().__init__()
        self.status = "ok"
        self.skip = None
        self.subskips = []
        self.diag = []

    def _fail(self, err):
        self.status = "not ok"
        self.diag.append("".join(traceback.format_exception(*err)))

    def addError(self, test, err):
        super().addError(test, err)
        self._fail(err)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._fail(err)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            if issubclass(err[0], unittest.SkipTest):
                self.subskips.append(f"subtest {subtest.id()} skipped: {one_line(err[1])}")
                return
            self.diag.append(f"subtest {subtest.id()}:")
            self._fail(err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.skip = one_line(reason)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.status = "not ok"
        self.diag.append("unexpected success of a test marked expectedFailure")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tests", required=True, help="rdma-core's tests/ directory")
    ap.add_argument("--only", action="append", default=[], metavar="GLOB")
    ap.add_argument("--exclude", metavar="FILE")
    ap.add_argument("--must-run", action="append", metavar="GLOB",
                    help=f"tests that may not skip (default: {' '.join(DEFAULT_MUST_RUN)})")
    ap.add_argument("--test-timeout", type=int, default=0, metavar="SEC")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("run_tests_args", nargs=argparse.REMAINDER)
    opts = ap.parse_args()
    rt_args = opts.run_tests_args
    if rt_args[:1] == ["--"]:
        rt_args = rt_args[1:]

    # What run_tests.py does, up to unittest.main().
    sys.path.insert(0, opts.tests)
    sys.argv[1:] = rt_args
    from args_parser import parser
    tests = SourceFileLoader("tests", os.path.join(opts.tests, "__init__.py")).load_module()
    parser.parse_args()
    if sys.argv[1:]:
        print(f"rdma_core_tap: run_tests.py does not take {sys.argv[1:]}", file=sys.stderr)
        return 2

    loaded = list(flatten(unittest.TestLoader().loadTestsFromModule(tests)))
    must_run = opts.must_run or DEFAULT_MUST_RUN
    absent = [g for g in must_run
              if not any(fnmatch.fnmatchcase(t.id(), g) for t in loaded)]
    if opts.only:
        loaded = [t for t in loaded
                  if any(fnmatch.fnmatchcase(t.id(), g) for g in opts.only)]
    excludes = read_excludes(opts.exclude) if opts.exclude else []
    if opts.list:
        for t in loaded:
            print(t.id())
        return 0

    print("TAP version 13")
    if absent:
        print(f"Bail out! no test matches --must-run {' '.join(absent)}: "
              "the tests that must run were not even loaded")
        return 1
    print(f"1..{len(loaded)}")
    sys.stdout.flush()
    signal.signal(signal.SIGALRM, on_alarm)
    failed = 0
    for n, test in enumerate(loaded, 1):
        tid = test.id()
        must = next((g for g in must_run if fnmatch.fnmatchcase(tid, g)), None)
        reason = next((r for g, r in excludes if fnmatch.fnmatchcase(tid, g)), None)
        if reason is not None and must:
            print(f"# {tid} must run (--must-run {must}), but is excluded: {one_line(reason)}")
            print(f"not ok {n} {tid}")
            failed += 1
            sys.stdout.flush()
            continue
        if reason is not None:
            print(f"ok {n} {tid} # SKIP excluded: {one_line(reason)}")
            sys.stdout.flush()
            continue
        res = Outcome()

        def run():
            signal.alarm(opts.test_timeout)
            try:
                # In a suite of its own, so that class fixtures run too.
                unittest.TestSuite([test]).run(res)
            except TestTimeout as e:
                res._fail((type(e), e, e.__traceback__))
            finally:
                signal.alarm(0)

        start = time.monotonic()
        output = run_captured(run)
        took = time.monotonic() - start
        for d in [output] + res.diag + res.subskips:
            for line in d.rstrip().splitlines():
                print(f"# {line}")
        if must and (res.skip is not None or res.subskips):
            why = res.skip if res.skip is not None else "; ".join(res.subskips)
            print(f"# {tid} must run (--must-run {must}), but skipped: {why}")
            res.status = "not ok"
        if res.status == "ok" and res.skip is not None:
            print(f"ok {n} {tid} # SKIP {res.skip}")
        else:
            print(f"{res.status} {n} {tid}")
            if took >= 10:
                print(f"# {tid} took {took:.0f}s")
        failed += res.status != "ok"
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
