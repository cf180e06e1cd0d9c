#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Plots and the summary of one `make bench` run.

    report.py <run dir>

Reads <run dir>/p2pacc_bench.json, perftest/<tool>-<host|p2pacc>-<size>.client
and clock.txt; writes bandwidth.png, latency.png, perftest.png,
registration.png, revoke.png and summary.txt into the run directory and
prints the summary. Needs python3-matplotlib (Debian's), nothing else.
"""
import glob
import json
import math
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MODES = ["host", "dmabuf", "staged-mmap", "staged-edu"]
OPS = ["write", "read", "send"]
LABEL = {
    "host": "host MR",
    "dmabuf": "dma-buf MR (zero-copy)",
    "staged-mmap": "staged, CPU copy through the mapping",
    "staged-edu": "staged, edu DMA engine copy",
}
TARGET = 0.05          # dma-buf MR within 5% of host memory ...
TARGET_FROM = 65536    # ... at every size from 64 KiB up


def size_name(n):
    for unit, shift in (("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return "%d%s" % (n >> shift, unit)
    return str(n)


def num(v, fmt="%.2f"):
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt % v


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def read_perftest(run):
    """{(tool, mem, size): row dict}: each run's result row, and over the
    repetitions (host and device memory alternated) the medians and the
    median of the paired device/host ratios."""
    runs = {}
    for f in glob.glob(os.path.join(run, "perftest", "*.client")):
        m = re.match(r"(ib_\w+?)-(host|p2pacc)-(\d+)(?:-r(\d+))?\.client$", os.path.basename(f))
        if not m:
            continue
        tool, mem, size, rep = m.group(1), m.group(2), int(m.group(3)), int(m.group(4) or 1)
        rc_file = f[: -len(".client")] + ".rc"
        rc = open(rc_file).read().strip() if os.path.exists(rc_file) else "?"
        lines = open(f, errors="replace").read().splitlines()
        row = None
        for i, line in enumerate(lines):
            if line.strip().startswith("#bytes") and i + 1 < len(lines):
                vals = lines[i + 1].split()
                if vals and vals[0].isdigit():
                    row = vals
                break
        entry = {"rc": rc}
        if row and tool.endswith("_bw") and len(row) >= 5:
            entry.update(bw_peak=float(row[2]), bw_avg=float(row[3]),
                         msg_rate=float(row[4]) * 1e6)
        elif row and tool.endswith("_lat") and len(row) >= 8:
            entry.update(t_min=float(row[2]), t_typical=float(row[4]),
                         t_avg=float(row[5]), t_p99=float(row[7]))
        runs.setdefault((tool, mem, size), {})[rep] = entry
    out = {}
    for (tool, mem, size), reps in runs.items():
        key = "bw_avg" if tool.endswith("_bw") else "t_typical"
        agg = {"rc": ",".join(sorted({e["rc"] for e in reps.values()})), "reps": len(reps)}
        for k in ("bw_peak", "bw_avg", "msg_rate", "t_min", "t_typical", "t_avg", "t_p99"):
            v = median(e.get(k) for e in reps.values())
            if v is not None:
                agg[k] = v
        agg["by_rep"] = {r: e.get(key) for r, e in reps.items()}
        out[(tool, mem, size)] = agg
    return out


def perftest_paired(pt, tool, size):
    h = pt.get((tool, "host", size), {}).get("by_rep", {})
    d = pt.get((tool, "p2pacc", size), {}).get("by_rep", {})
    return median(d[r] / h[r] for r in h if r in d and h[r] and d[r] is not None)


def median(v):
    v = sorted(x for x in v if x is not None)
    if not v:
        return None
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def paired(bench, a, b, op, size):
    """Median over the interleaved batches of bandwidth(a) / bandwidth(b)."""
    pa, pb = point(bench, a, op, size), point(bench, b, op, size)
    if not pa or not pb:
        return None
    return median(x / y for x, y in zip(pa.get("batch_bw_mib_s", []), pb.get("batch_bw_mib_s", []))
                  if x is not None and y)


def point(bench, mode, op, size):
    for p in bench.get("points", []):
        if p["mode"] == mode and p["op"] == op and p["bytes"] == size:
            return p
    return None


def plot_bench(run, bench):
    sizes = sorted({p["bytes"] for p in bench["points"]})
    for key, fname, ylabel, title in (
            ("bw_avg_mib_s", "bandwidth.png", "average bandwidth [MiB/s]",
             "p2pacc_bench: bandwidth"),
            ("lat_p50_us", "latency.png", "p50 latency [us] (log)",
             "p2pacc_bench: latency, one message at a time")):
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharey=True)
        for ax, op in zip(axes, OPS):
            for mode in MODES:
                pts = [point(bench, mode, op, s) for s in sizes]
                xs = [s for s, p in zip(sizes, pts) if p and p.get(key) is not None]
                ys = [p[key] for p in pts if p and p.get(key) is not None]
                if xs:
                    ax.plot(xs, ys, marker="o", label=LABEL[mode])
            ax.set_xscale("log", base=2)
            if key.startswith("lat"):
                ax.set_yscale("log")
            ax.set_xticks(sizes)
            ax.set_xticklabels([size_name(s) for s in sizes])
            ax.set_title("RDMA %s" % op.upper())
            ax.set_xlabel("message size")
            ax.grid(True, alpha=0.3)
        axes[0].set_ylabel(ylabel)
        axes[0].legend(fontsize=8)
        fig.suptitle("%s (%s, clocksource %s, %s)" % (
            title, bench.get("rdma_device"), bench.get("clocksource"), bench.get("kernel")))
        fig.tight_layout()
        fig.savefig(os.path.join(run, fname), dpi=100)
        plt.close(fig)


def plot_perftest(run, pt):
    tools = sorted({k[0] for k in pt})
    if not tools:
        return
    fig, axes = plt.subplots(1, len(tools), figsize=(4.5 * len(tools), 4.5))
    if len(tools) == 1:
        axes = [axes]
    for ax, tool in zip(axes, tools):
        key = "bw_avg" if tool.endswith("_bw") else "t_typical"
        for mem, label in (("host", "host memory"), ("p2pacc", "--use_p2pacc (dma-buf MR)")):
            xs = sorted(s for (t, m, s) in pt if t == tool and m == mem and key in pt[(t, m, s)])
            ys = [pt[(tool, mem, s)][key] for s in xs]
            if xs:
                ax.plot(xs, ys, marker="o", label=label)
        ax.set_xscale("log", base=2)
        if key == "t_typical":
            ax.set_yscale("log")
        ax.set_title(tool)
        ax.set_xlabel("message size [bytes]")
        ax.set_ylabel("BW average [MiB/s]" if key == "bw_avg" else "t_typical [us]")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("perftest 25.01 over rxe: server buffer in host memory vs device memory")
    fig.tight_layout()
    fig.savefig(os.path.join(run, "perftest.png"), dpi=100)
    plt.close(fig)


def plot_reg_revoke(run, bench):
    reg = bench.get("registration", [])
    if reg:
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        xs = [r["bytes"] for r in reg]
        for key, label in (("reg_mr_us", "ibv_reg_mr (host)"),
                           ("reg_dmabuf_mr_us", "ibv_reg_dmabuf_mr (device)"),
                           ("dereg_mr_us", "ibv_dereg_mr (host MR)"),
                           ("dereg_dmabuf_mr_us", "ibv_dereg_mr (dma-buf MR)")):
            pts = [(x, r[key]) for x, r in zip(xs, reg) if r.get(key) is not None]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label,
                        linestyle="-" if key.startswith("reg") else ":")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(xs)
        ax.set_xticklabels([size_name(x) for x in xs])
        ax.set_xlabel("MR size")
        ax.set_ylabel("median time [us]")
        ax.set_title("registration cost")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(run, "registration.png"), dpi=100)
        plt.close(fig)
    rev = [r for r in bench.get("revoke", []) if r.get("revoke_us") is not None]
    if rev:
        fig, ax = plt.subplots(figsize=(6.5, 4.5))
        xs = [r["mrs"] for r in rev]
        ax.plot(xs, [r["revoke_us"] / 1e3 for r in rev], marker="o", label="until every MR is unusable [ms]")
        ax.plot(xs, [r["per_mr_us"] / 1e3 for r in rev], marker="s", label="per MR [ms]")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("dma-buf MRs registered (one buffer each)")
        ax.set_title("revoke cost (device reset)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(run, "revoke.png"), dpi=100)
        plt.close(fig)


def summary(run, bench, pt):
    out = []
    w = out.append
    clock = {}
    cpath = os.path.join(run, "clock.txt")
    if os.path.exists(cpath):
        for line in open(cpath):
            k, _, v = line.partition(":")
            clock.setdefault(k.strip(), v.strip())
    w("make bench: %s" % run)
    if bench:
        w("kernel %s, %s vCPUs, %s (MTU %s), accelerator %s" % (
            bench.get("kernel"), bench.get("cpus"), bench.get("rdma_device"),
            bench.get("mtu"), bench.get("accelerator_pci")))
        w("clock: clocksource %s (available: %s), resolution %s ns; figures under %s ticks refused" % (
            bench.get("clocksource"), clock.get("available_clocksource", "?"),
            num(bench.get("clock_resolution_ns"), "%.0f"), bench.get("min_ticks")))
        mc = bench.get("memcpy_mib_s", {})
        w("physical limit, guest memcpy: host->host %s MiB/s, device->host %s MiB/s, host->device %s MiB/s" % (
            num(mc.get("host_to_host"), "%.0f"), num(mc.get("device_to_host"), "%.0f"),
            num(mc.get("host_to_device"), "%.0f")))

    if pt:
        w("")
        w("perftest 25.01 over rxe, server buffer in device memory (--use_p2pacc) / host memory")
        w("(medians over the runs; ratio of the medians [median of the paired runs' ratios]):")
        w("  %-13s %8s %14s %14s %16s" % ("tool", "size", "host", "p2pacc", "ratio [paired]"))
        for tool in sorted({k[0] for k in pt}):
            key, unit = ("bw_avg", "MiB/s") if tool.endswith("_bw") else ("t_typical", "us")
            for size in sorted({k[2] for k in pt if k[0] == tool}):
                h = pt.get((tool, "host", size), {})
                d = pt.get((tool, "p2pacc", size), {})
                hv, dv = h.get(key), d.get(key)
                note = ""
                if h.get("rc", "0") != "0" or d.get("rc", "0") != "0":
                    note = "  (exit %s/%s)" % (h.get("rc"), d.get("rc"))
                w("  %-13s %8s %9s %-4s %9s %-4s %16s%s" % (
                    tool, size_name(size), num(hv), unit, num(dv), unit,
                    "%s [%s]" % (num(ratio(dv, hv), "%.3f"),
                                 num(perftest_paired(pt, tool, size), "%.3f")), note))
        w("  (bandwidth: device/host, 1.0 = no loss; latency: device/host, 1.0 = no added latency)")

    if bench and bench.get("points"):
        sizes = sorted({p["bytes"] for p in bench["points"]})
        w("")
        w("p2pacc_bench (both ends of each transfer in the mode's memory), average bandwidth;")
        w("ratios: of the averages, and [the median of the ratios of interleaved batches]:")
        w("  %-6s %6s %9s %9s %9s %9s %15s %15s %9s %6s" % (
            "op", "size", "host", "dmabuf", "stg-mmap", "stg-edu", "dmabuf/host", "dmabuf/staged",
            "p50 lat", "copied"))
        w("  %-6s %6s %9s %9s %9s %9s %15s %15s %9s %6s" % (
            "", "", "[MiB/s]", "[MiB/s]", "[MiB/s]", "[MiB/s]", "avg [paired]", "avg [paired]",
            "dmb/host", "[B/B]"))
        misses = []
        for op in OPS:
            for s in sizes:
                p = {m: point(bench, m, op, s) for m in MODES}
                bw = {m: (p[m] or {}).get("bw_avg_mib_s") for m in MODES}
                lat = {m: (p[m] or {}).get("lat_p50_us") for m in MODES}
                zc_host = ratio(bw["dmabuf"], bw["host"])
                zc_staged = ratio(bw["dmabuf"], bw["staged-mmap"])
                pz_host = paired(bench, "dmabuf", "host", op, s)
                pz_staged = paired(bench, "dmabuf", "staged-mmap", op, s)
                copied = (p["staged-mmap"] or {}).get("copied_per_byte")
                judged = pz_host if pz_host is not None else zc_host
                if judged is not None and s >= TARGET_FROM and judged < 1 - TARGET:
                    misses.append("%s %s: %.3f" % (op, size_name(s), judged))
                w("  %-6s %6s %9s %9s %9s %9s %15s %15s %9s %6s" % (
                    op, size_name(s), num(bw["host"]), num(bw["dmabuf"]),
                    num(bw["staged-mmap"]), num(bw["staged-edu"]),
                    "%s [%s]" % (num(zc_host, "%.3f"), num(pz_host, "%.3f")),
                    "%s [%s]" % (num(zc_staged, "%.2f"), num(pz_staged, "%.2f")),
                    num(ratio(lat["dmabuf"], lat["host"]), "%.3f"), num(copied, "%.1f")))
        cpu = []
        for op in OPS:
            for s in sizes:
                h = (point(bench, "host", op, s) or {}).get("cpu_ns_per_byte")
                d = (point(bench, "dmabuf", op, s) or {}).get("cpu_ns_per_byte")
                st = (point(bench, "staged-mmap", op, s) or {}).get("cpu_ns_per_byte")
                if s >= TARGET_FROM:
                    cpu.append("%s %s %s/%s/%s" % (op, size_name(s), num(h), num(d), num(st)))
        w("  CPU ns per byte (all vCPUs; host/dmabuf/staged-mmap), >= 64K: " + "; ".join(cpu))
        allp = [paired(bench, "dmabuf", "host", op, s) for op in OPS for s in sizes if s >= TARGET_FROM]
        allp = [x for x in allp if x is not None]
        if allp:
            w("  dma-buf MR / host MR over every op and size >= %s: median %.3f, geometric mean %.3f"
              " (%d points, %.3f..%.3f)" % (
                  size_name(TARGET_FROM), median(allp), math.exp(sum(map(math.log, allp)) / len(allp)),
                  len(allp), min(allp), max(allp)))
        w("  target (dma-buf MR within %d%% of host memory at every size >= %s, paired median): %s" % (
            TARGET * 100, size_name(TARGET_FROM),
            "met" if not misses else "NOT met at " + ", ".join(misses)))
        stg = [p for p in bench["points"] if p["mode"] == "staged-mmap" and p["bytes"] >= TARGET_FROM
               and p.get("stage_share") is not None and p.get("stage_us_per_msg") is not None]
        if stg:
            w("  staged-mmap: the CPU copies take %s of the transfer time at >= 64K (%s..%s us per message)" % (
                "%.0f..%.0f%%" % (min(p["stage_share"] for p in stg) * 100,
                                   max(p["stage_share"] for p in stg) * 100),
                num(min(p["stage_us_per_msg"] for p in stg), "%.0f"),
                num(max(p["stage_us_per_msg"] for p in stg), "%.0f")))

    if bench and bench.get("registration"):
        w("")
        w("registration, median: ibv_reg_dmabuf_mr / ibv_reg_mr")
        for r in bench["registration"]:
            w("  %6s  reg_mr %10s us  reg_dmabuf_mr %10s us  ratio %7s   dereg %s / %s us" % (
                size_name(r["bytes"]), num(r.get("reg_mr_us"), "%.1f"),
                num(r.get("reg_dmabuf_mr_us"), "%.1f"),
                num(ratio(r.get("reg_dmabuf_mr_us"), r.get("reg_mr_us")), "%.3f"),
                num(r.get("dereg_mr_us"), "%.1f"), num(r.get("dereg_dmabuf_mr_us"), "%.1f")))
    if bench and bench.get("revoke"):
        w("")
        w("revoke (device reset) until every dma-buf MR is unusable:")
        for r in bench["revoke"]:
            w("  %5d MRs  %10s us  %8s us per MR  every MR refused after: %s" % (
                r["mrs"], num(r.get("revoke_us"), "%.0f"), num(r.get("per_mr_us"), "%.1f"),
                "yes" if r.get("all_unusable") else "NO"))
    for mode in ("host", "dmabuf"):
        f = os.path.join(run, "profile-%s.txt" % mode)
        if os.path.exists(f):
            rows = [l.rstrip() for l in open(f) if l.strip() and not l.startswith("#")][:6]
            if rows:
                w("")
                w("kernel profile, %s MR, RDMA WRITE 1M (perf record -a, top symbols):" % mode)
                out.extend("  " + r.strip() for r in rows)
    w("")
    w("plots: " + " ".join(sorted(os.path.basename(p) for p in glob.glob(os.path.join(run, "*.png")))))
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(argv) == 2 else 2
    run = argv[1]
    bench = {}
    jpath = os.path.join(run, "p2pacc_bench.json")
    if os.path.exists(jpath):
        bench = json.load(open(jpath))
    pt = read_perftest(run)
    if not bench and not pt:
        print("report.py: no results in %s" % run, file=sys.stderr)
        return 1
    if bench.get("points"):
        plot_bench(run, bench)
    plot_perftest(run, pt)
    plot_reg_revoke(run, bench)
    text = summary(run, bench, pt)
    open(os.path.join(run, "summary.txt"), "w").write(text)
    sys.stdout.write(text)
    return 0 if bench.get("passed", True) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
