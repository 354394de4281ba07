#!/usr/bin/env python3
"""Generates docs/benchmarks.md and its plots from the runner's results.

    python3 bench/report.py [--write] [--check] [--no-plots] [--output FILE]

Without --write it only reads the results, checks them and prints the
report to stdout; with --write it writes docs/benchmarks.md (or --output)
and the plots. `--help` describes the options and writes nothing.

Reads bench/results.csv (medians), bench/results-raw.csv (every repetition),
bench/results-status.csv (attempts and spread per row), bench/machine.txt
and, if present, the hand-written bench/notes.md, which is copied into the
report verbatim (profiles and analysis live there, so regenerating the
report never loses them). Plots are drawn with matplotlib
(bench/requirements.txt) into bench/plots/; without matplotlib the report
says so and has no plots (nothing is installed).

Exit status: 0 on success; 1 when the results are malformed (nothing is
written) or, with --check, when a target is not met.

Besides the standard library only matplotlib is used, and only if present.
"""

import argparse
import csv
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
DOCS = os.path.join(ROOT, "docs")
PLOTS = os.path.join(BENCH, "plots")

HEADER = [
    "scenario", "client", "server", "target_rps", "throughput", "p50_us",
    "p95_us", "p99_us", "client_cpu_pct", "server_cpu_pct", "total_cpu_pct",
]

# Scenario order, unit of the throughput column, and a short description.
SCENARIOS = [
    ("uds-ping-pong", "req/s", "one INCREMENT per round trip over UDS SEQPACKET"),
    ("shm-ping-pong", "req/s", "one INCREMENT per round trip over shared memory"),
    ("snapshot-baseline", "snapshots/s", "Level 2 cgroups snapshot call (16 items, 1301 bytes) over UDS"),
    ("snapshot-shm", "snapshots/s", "Level 2 cgroups snapshot call over shared memory"),
    ("uds-batch-ping-pong", "items/s", "one batch of 2-1000 INCREMENT items per round trip over UDS"),
    ("shm-batch-ping-pong", "items/s", "one batch of 2-1000 INCREMENT items per round trip over shared memory"),
    ("lookup", "lookups/s", "in-process Level 3 table lookups by (hash, name), 16 entries"),
    ("uds-pipeline-d16", "req/s", "16 INCREMENT requests in flight, then 16 replies, over UDS"),
    ("uds-pipeline-batch-d16", "items/s", "16 random-size batches in flight, then 16 replies, over UDS"),
]
# The lookup calls: per method, in-process dispatch and Level 2 clients over
# UDS and shared memory, 16 to 32,768 keys. Throughput is logical calls per
# second (split and stitch included).
LOOKUP_SIZES = [(16, "known"), (16, "unknown"), (256, "mixed"), (8192, "mixed"), (32768, "mixed")]
for _method, _what in (("cgroups", "cgroup paths"), ("apps", "PIDs")):
    for _where, _how in (("dispatch", "in-process request encode, handler dispatch and response decode"),
                         ("uds", "Level 2 lookup call over UDS"),
                         ("shm", "Level 2 lookup call over shared memory")):
        for _n, _mix in LOOKUP_SIZES:
            SCENARIOS.append((f"{_method}-lookup-{_where}-{_n}-{_mix}", "calls/s",
                              f"{_how}: {_n:,} {_mix} {_what} per call"))
UNITS = {name: unit for name, unit, _ in SCENARIOS}

# Targets at the maximum rate: (scenario, minimum throughput, reference C
# throughput, extra p50 bound in µs or None).
MAX_RATE_TARGETS = [
    ("uds-ping-pong", 40_000, "19.4k req/s (p50 ≈ 50 µs)", None),
    ("shm-ping-pong", 1_000_000, "98k req/s (86k-200k, bimodal)", 1),
    ("uds-batch-ping-pong", 12_000_000, "7.6M items/s", None),
    ("shm-batch-ping-pong", 25_000_000, "8.8M items/s", None),
    ("uds-pipeline-d16", 270_000, "182k req/s", None),
    ("uds-pipeline-batch-d16", 50_000_000, "38M items/s", None),
    ("snapshot-baseline", 40_000, "19.5k req/s", None),
    ("snapshot-shm", 500_000, "62k req/s", None),
    ("lookup", 150_000_000, "96M lookups/s", None),
    # The reference's published lookup floors (24-core host).
    ("cgroups-lookup-shm-16-known", 250_000, "≥ 250k calls/s", None),
    ("cgroups-lookup-shm-16-unknown", 500_000, "≥ 500k calls/s", None),
    ("cgroups-lookup-shm-256-mixed", 25_000, "≥ 25k calls/s", None),
    ("apps-lookup-shm-8192-mixed", 1_200, "~1.2k calls/s, p50 0.8 ms (Rust)", 800),
]

TARGET_BY_SCENARIO = {s: floor for s, floor, _, _ in MAX_RATE_TARGETS}

# Fixed-rate CPU target: the reference uses about 23-24 % client + 8 %
# server CPU for ping-pong at 10,000 req/s; our total at 1k, 10k and 100k
# must not be higher.
CPU_TARGET_PCT = 31.0
CPU_TARGET_SCENARIOS = ["uds-ping-pong", "shm-ping-pong"]
CPU_TARGET_RATES = [1000, 10000, 100000]
# A fixed-rate row must deliver at least this share of its target rate for
# its CPU figure to count.
RATE_REACHED = 0.95

# Floors of the reference harness (max rate, every pair).
FLOORS = [
    ("shm-ping-pong", 1_000_000),
    ("snapshot-shm", 1_000_000),
    ("uds-ping-pong", 150_000),
    ("snapshot-baseline", 100_000),
    ("lookup", 10_000_000),
]


def fail(msg):
    print(f"report.py: {msg}", file=sys.stderr)
    sys.exit(1)


def read_csv(path, required=True):
    if not os.path.exists(path):
        if required:
            fail(f"{os.path.relpath(path, ROOT)} is missing; run bench/run.sh first")
        return None, []
    with open(path, newline="") as f:
        text = f.read().replace("\r", "")
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        fail(f"{os.path.relpath(path, ROOT)} is empty")
    return rows[0], rows[1:]


def read_machine():
    facts = {}
    path = os.path.join(BENCH, "machine.txt")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    facts[k] = v
    return facts


def load():
    header, rows = read_csv(os.path.join(BENCH, "results.csv"))
    if header != HEADER:
        fail("bench/results.csv: unexpected header " + ",".join(header))
    results = {}
    for i, r in enumerate(rows, start=2):
        if not r:
            continue
        if len(r) != len(HEADER):
            fail(f"bench/results.csv line {i}: {len(r)} columns instead of {len(HEADER)}")
        rec = dict(zip(HEADER, r))
        try:
            for k in HEADER[3:]:
                rec[k] = float(rec[k])
        except ValueError:
            fail(f"bench/results.csv line {i}: a number does not parse")
        if rec["throughput"] <= 0:
            fail(f"bench/results.csv line {i}: throughput must be > 0")
        rec["target_rps"] = int(rec["target_rps"])
        results[(rec["scenario"], rec["target_rps"])] = rec

    _, status_rows = read_csv(os.path.join(BENCH, "results-status.csv"), required=False)
    status = {}
    for r in status_rows:
        if len(r) >= 7:
            status[(r[0], int(r[1]))] = {
                "attempts": int(r[2]), "spread": float(r[3] or 0),
                "ok_reps": int(r[4]), "reps": int(r[5]), "status": r[6],
                "used_attempt": int(r[7]) if len(r) >= 8 and r[7] else int(r[2]),
            }

    _, raw_rows = read_csv(os.path.join(BENCH, "results-raw.csv"), required=False)
    raw = {}
    for r in raw_rows:
        if len(r) >= 14 and r[13] == "ok":
            key = (r[0], int(r[3]))
            raw.setdefault(key, {}).setdefault(int(r[4]), []).append(float(r[6]))
    return results, status, raw


def si(x):
    """A throughput with an SI suffix."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}" if x / div < 100 else f"{x / div:.0f}{suffix}"
    return f"{x:.0f}"


def cpu_us_per_op(rec):
    """Total CPU microseconds spent per request (or item, or lookup)."""
    if rec["throughput"] <= 0:
        return 0.0
    return rec["total_cpu_pct"] / 100.0 / rec["throughput"] * 1e6


def rate_label(rate):
    return "max" if rate == 0 else f"{rate:,}"


def short_rate(rate):
    return "max" if rate == 0 else si(rate)


def matplotlib_pyplot():
    """matplotlib's pyplot with a file-only backend, or None when matplotlib
    is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        return None


def plot_bars(plt, path, title, ylabel, labels, values, targets=None):
    """A log-scale bar chart with optional target marks; returns True when
    the PNG was written."""
    if not values:
        return False
    width = max(9.0, 0.6 * len(values) + 2.0)
    fig, ax = plt.subplots(figsize=(width, 6.4), dpi=100)
    try:
        xs = list(range(len(values)))
        ax.bar(xs, values, color="#3b6ea8", label="measured")
        if targets and any(targets):
            tx = [x for x, t in zip(xs, targets) if t]
            ty = [t for t in targets if t]
            ax.scatter(tx, ty, color="#c0392b", zorder=3, label="target")
            ax.legend(loc="upper left")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=40, ha="right")
        ax.grid(axis="y", which="major", alpha=0.4)
        fig.tight_layout()
        fig.savefig(path)
        return os.path.exists(path)
    except (OSError, ValueError) as e:
        print(f"report.py: plotting {path} failed: {e}", file=sys.stderr)
        return False
    finally:
        plt.close(fig)


def make_plots(results):
    """Draws both plots; returns the list of (caption, relative path) drawn,
    or None when matplotlib is missing."""
    plt = matplotlib_pyplot()
    if plt is None:
        print("report.py: matplotlib is not installed (pip install -r bench/requirements.txt); "
              "no plots", file=sys.stderr)
        return None
    os.makedirs(PLOTS, exist_ok=True)
    drawn = []
    order = [name for name, _, _ in SCENARIOS]
    maxrate = [results[(s, 0)] for s in order if (s, 0) in results]
    path = os.path.join(PLOTS, "throughput.png")
    if plot_bars(plt, path, "Throughput at the maximum rate (median; log scale)",
                 "per second (requests, items, snapshots or lookups)",
                 [f"{r['scenario']}" for r in maxrate], [r["throughput"] for r in maxrate],
                 [TARGET_BY_SCENARIO.get(r["scenario"]) for r in maxrate]):
        drawn.append(("Throughput per scenario at the maximum rate", "../bench/plots/throughput.png"))
    rows = sorted(results.values(),
                  key=lambda r: (order.index(r["scenario"]) if r["scenario"] in order else 99,
                                 r["target_rps"] != 0, -r["target_rps"]))
    rows = [r for r in rows if r["scenario"] != "lookup"]
    path = os.path.join(PLOTS, "cpu-per-request.png")
    if plot_bars(plt, path, "Client + server CPU time per request or item (median; log scale)",
                 "CPU µs per request (batch scenarios: per item)",
                 [f"{r['scenario']} @{short_rate(r['target_rps'])}" for r in rows],
                 [max(cpu_us_per_op(r), 1e-6) for r in rows]):
        drawn.append(("CPU per request (or per batch item) for every transport row",
                      "../bench/plots/cpu-per-request.png"))
    return drawn


def verdict(ok):
    return "**met**" if ok else "**not met**"


def targets_section(results):
    out = []
    all_met = True
    out.append("| scenario | reference C | target | measured (median) | result |")
    out.append("|---|---:|---:|---:|---|")
    for scenario, floor, ref, p50_max in MAX_RATE_TARGETS:
        rec = results.get((scenario, 0))
        target = f"≥ {si(floor)} {UNITS[scenario]}"
        if p50_max is not None:
            target += f", p50 ≤ {p50_max} µs"
        if rec is None:
            out.append(f"| {scenario} | {ref} | {target} | no result | {verdict(False)} |")
            all_met = False
            continue
        ok = rec["throughput"] >= floor
        measured = f"{si(rec['throughput'])} {UNITS[scenario]}"
        if p50_max is not None:
            ok = ok and rec["p50_us"] <= p50_max
            measured += f", p50 {rec['p50_us']:.0f} µs"
        all_met &= ok
        out.append(f"| {scenario} | {ref} | {target} | {measured} | {verdict(ok)} |")
    out.append("")
    out.append(f"Fixed rates: the reference spends about 23-24 % client + 8 % server CPU for "
               f"ping-pong at 10,000 req/s; our client + server total must not exceed "
               f"{CPU_TARGET_PCT:.0f} % at 1k, 10k and 100k req/s, and the row must deliver at "
               f"least {RATE_REACHED:.0%} of its target rate.")
    out.append("")
    out.append("| scenario | target rate | achieved | client CPU | server CPU | total CPU | result |")
    out.append("|---|---:|---:|---:|---:|---:|---|")
    for scenario in CPU_TARGET_SCENARIOS:
        for rate in CPU_TARGET_RATES:
            rec = results.get((scenario, rate))
            if rec is None:
                out.append(f"| {scenario} | {rate:,} | no result | | | | {verdict(False)} |")
                all_met = False
                continue
            reached = rec["throughput"] >= RATE_REACHED * rate
            ok = reached and rec["total_cpu_pct"] <= CPU_TARGET_PCT
            all_met &= ok
            note = "" if reached else " (rate not reached)"
            out.append(f"| {scenario} | {rate:,} | {rec['throughput']:,.0f}{note} | "
                       f"{rec['client_cpu_pct']:.1f} % | {rec['server_cpu_pct']:.1f} % | "
                       f"{rec['total_cpu_pct']:.1f} % | {verdict(ok)} |")
    out.append("")
    out.append("Floors of the reference harness (maximum rate; every pair must reach them):")
    out.append("")
    out.append("| scenario | floor | measured | result |")
    out.append("|---|---:|---:|---|")
    for scenario, floor in FLOORS:
        rec = results.get((scenario, 0))
        if rec is None:
            out.append(f"| {scenario} | {si(floor)} | no result | {verdict(False)} |")
            all_met = False
            continue
        ok = rec["throughput"] >= floor
        all_met &= ok
        out.append(f"| {scenario} | {si(floor)} | {si(rec['throughput'])} | {verdict(ok)} |")
    return out, all_met


def scenario_sections(results, status, raw):
    out = []
    for scenario, unit, desc in SCENARIOS:
        rows = [r for (s, _), r in results.items() if s == scenario]
        if not rows:
            continue
        rows.sort(key=lambda r: (r["target_rps"] != 0, -r["target_rps"]))
        out.append(f"### {scenario}")
        out.append("")
        out.append(f"{desc[0].upper()}{desc[1:]}. Throughput in {unit}.")
        out.append("")
        out.append("| target rate | throughput | spread | runs | p50 µs | p95 µs | p99 µs | "
                   "client CPU % | server CPU % | total CPU % | CPU µs/op | samples |")
        out.append("|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for r in rows:
            key = (scenario, r["target_rps"])
            st = status.get(key, {})
            spread = f"{st['spread']:.2f}×" if st else "?"
            runs = (f"{st.get('ok_reps', '?')}/{st.get('reps', '?')} ok, "
                    f"attempt {st.get('used_attempt', '?')} of {st.get('attempts', '?')}")
            if st.get("status", "ok") != "ok":
                runs += f", **{st['status']}**"
            attempt = st.get("used_attempt")
            samples = raw.get(key, {}).get(attempt, [])
            sample_text = " ".join(si(x) for x in sorted(samples)) if samples else ""
            out.append(
                f"| {rate_label(r['target_rps'])} | {r['throughput']:,.0f} | {spread} | {runs} | "
                f"{r['p50_us']:.0f} | {r['p95_us']:.0f} | {r['p99_us']:.0f} | "
                f"{r['client_cpu_pct']:.1f} | {r['server_cpu_pct']:.1f} | {r['total_cpu_pct']:.1f} | "
                f"{cpu_us_per_op(r):.3g} | {sample_text} |")
        out.append("")
    return out


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="bench/report.py",
        description="Builds docs/benchmarks.md (and its plots) from bench/results*.csv, "
                    "bench/machine.txt and bench/notes.md. Without --write the report goes "
                    "to stdout and no file is touched.")
    p.add_argument("--write", action="store_true",
                   help="write the report to docs/benchmarks.md (or --output) and draw the plots "
                        "into bench/plots/")
    p.add_argument("--output", metavar="FILE",
                   help="with --write: write the report here instead of docs/benchmarks.md")
    p.add_argument("--no-plots", action="store_true",
                   help="with --write: do not draw plots (the report says so)")
    p.add_argument("--check", action="store_true",
                   help="exit 1 when a target is not met")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    check = args.check
    results, status, raw = load()
    machine = read_machine()
    plots = make_plots(results) if args.write and not args.no_plots else None
    targets, all_met = targets_section(results)
    unstable = [f"{s}@{rate_label(r)}" for (s, r), st in status.items() if st["status"] != "ok"]

    md = []
    md.append("# Benchmarks")
    md.append("")
    md.append("<!-- Generated by bench/report.py from bench/results*.csv; do not edit. "
              "Hand-written analysis belongs in bench/notes.md, which is copied below. -->")
    md.append("")
    md.append("Our benchmark driver (`netipc-bench`) as client against our driver as server, "
              "on one machine. Regenerate with `bench/run.sh [duration] [reps]` (runs everything) "
              "or `python3 bench/report.py --write` (report only, from the stored results).")
    md.append("")
    md.append("## Machine")
    md.append("")
    md.append("| fact | value |")
    md.append("|---|---|")
    for key, label in (("date", "date"), ("nproc", "CPUs (nproc)"), ("cpu", "CPU model"),
                       ("virtualization", "virtualization (systemd-detect-virt)"), ("kernel", "kernel"),
                       ("rustc", "rustc"), ("commit", "commit")):
        md.append(f"| {label} | {machine.get(key, '?')} |")
    md.append("")
    md.append("## Method")
    md.append("")
    duration = machine.get("duration", "?")
    reps = machine.get("reps", "?")
    md.append(f"* Every row ran {reps} times for {duration} s each; each repetition used a fresh "
              "run directory and a freshly started server (READY, then 0.5 s settle, then the "
              "client; SIGTERM afterwards, and the server reports its CPU time).")
    md.append(f"* A row is accepted when all repetitions succeed and the spread — max / min of the "
              f"throughputs after dropping the lowest and the highest — is at most "
              f"{machine.get('max_spread', '1.35')}×; otherwise the whole row is rerun, up to "
              f"{machine.get('max_attempts', '3')} attempts.")
    md.append("* Published values are per-column medians of the accepted attempt. CPU % is CPU "
              "time over the client's wall-clock duration (100 % = one core); total = client + "
              "server. CPU µs/op = total CPU per request, per batch item or per lookup.")
    md.append(f"* Receive wait policy: `{machine.get('wait_policy', 'default')}` "
              "(`NETIPC_BENCH_WAIT`).")
    md.append("* Full description: [benchmarks-method.md](benchmarks-method.md).")
    md.append("")
    if unstable:
        md.append("**Rows not accepted** (failed repetitions, or spread above the limit after all "
                  "attempts): " + ", ".join(unstable) + ".")
        md.append("")
    md.append("## Targets")
    md.append("")
    md.extend(targets)
    md.append("")
    md.append("## Results per scenario")
    md.append("")
    md.append("`samples` lists the throughput of every repetition of the accepted attempt.")
    md.append("")
    md.extend(scenario_sections(results, status, raw))
    md.append("## Plots")
    md.append("")
    if plots is None:
        md.append("matplotlib was not available (or plots were not asked for) when this report "
                  "was generated; no plots.")
    elif not plots:
        md.append("Plotting failed; see the generator's output.")
    else:
        for caption, rel in plots:
            md.append(f"![{caption}]({rel})")
            md.append("")
    md.append("")
    notes = os.path.join(BENCH, "notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            md.append(f.read().rstrip())
        md.append("")

    text = "\n".join(md).rstrip() + "\n"
    if args.write:
        target = args.output or os.path.join(DOCS, "benchmarks.md")
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        with open(target, "w") as f:
            f.write(text)
        print(f"report.py: wrote {os.path.relpath(target, ROOT)}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if check and not all_met:
        print("report.py: some targets are not met", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
