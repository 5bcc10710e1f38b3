#!/usr/bin/env python3
"""Turns one bench run into its artefacts (standard library only).

  report.py merge   DRIVER_JSON MICRO_JSON [ENGINE_JSON] OUT_JSON
                                                    one file: driver cases + Google Benchmark micro-costs
                                                    + the engine benchmark (under "engine")
  report.py plot    RESULT_JSON OUT_SVG [OUT_PNG]     the chart, through gnuplot and bench/plot.gp
  report.py readme  RESULT_JSON README_MD             rewrites the README between the bench markers
  report.py summary RESULT_JSON                       the README's tables, on the terminal
"""
import json
import math
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Short names for the chart's axis.
SHORT = {
    "nowait SpscRing": "nowait",
    "nowait SpscRing chunks": "nowait chunks",
    "boost::lockfree::spsc_queue": "boost",
    "moodycamel::ReaderWriterQueue": "moodycamel",
    "atomic_queue AtomicQueueB2 SPSC": "aq B2",
    "atomic_queue AtomicQueue SPSC": "aq AtomicQueue",
    "std::mutex + std::deque": "mutex+deque",
    "std::mutex try_lock + std::deque": "mutex try_lock",
    "nowait Counter, a set per writer": "nowait Counter",
    "nowait ShardedCounter": "nowait Sharded",
    "shared relaxed atomics": "shared atomics",
    "std::mutex per update": "std::mutex",
    "std::shared_mutex write lock per update": "std::shared_mutex",
}


def load(path):
    with open(path) as f:
        return json.load(f)


def num(x, digits=3):
    """A figure with `digits` significant digits, or an en dash when missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if x == 0:
        return "0"
    mag = math.floor(math.log10(abs(x)))
    decimals = max(0, digits - 1 - mag)
    return f"{x:,.{decimals}f}"


def find_case(result, scenario, case_id):
    for c in result["cases"]:
        if c["scenario"] == scenario and c["id"] == case_id:
            return c
    return None


# ------------------------------------------------------------------ merge ---

def merge(driver_path, micro_path, out_path, engine_path=None):
    result = load(driver_path)
    if engine_path:
        result["engine"] = load(engine_path)
    micro = load(micro_path) if micro_path and os.path.exists(micro_path) else None
    rows = []
    if micro:
        for b in micro.get("benchmarks", []):
            # With repetitions, keep the median aggregate; without, the single run.
            if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
                continue
            rows.append({
                "name": b.get("run_name", b["name"]),
                "label": b.get("label", ""),
                "real_time": b["real_time"],
                "cpu_time": b["cpu_time"],
                "time_unit": b.get("time_unit", "ns"),
                "items_per_second": b.get("items_per_second"),
                "bytes_per_second": b.get("bytes_per_second"),
            })
        result["micro"] = {"context": micro.get("context", {}), "benchmarks": rows}
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


# ----------------------------------------------------------------- tables ---

def case_table(c, extras=()):
    """Markdown table of one case: every peer's median [min-max], its probe, and nowait's ratio."""
    norm = {"rate_x_probe": "per probe RT", "time_over_probe": "÷ probe"}.get(c["normalize"])
    groups = [p["group"] for p in c["peers"]]
    compared = len(set(groups)) < len(groups)  # floors have nothing to compare with
    head = ["peer", f"median [min–max] {c['unit']}", "probe ns"]
    if norm:
        head.append(norm)
    if compared:
        head.append("nowait ÷ peer")
    head += [e for e, _ in extras]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in c["peers"]:
        adv = p["nowait_advantage"]
        ratio = "–" if adv is None else f"{adv:.2f}× ({p['same_probe_rounds']})"
        if p["name"] == next(q["name"] for q in c["peers"] if q["group"] == p["group"]):
            ratio = "ref"
        row = [p["name"], f"{num(p['median'])} [{num(p['min'])}–{num(p['max'])}]", num(p["probe_median_ns"], 3)]
        if norm:
            row.append(num(p["normalized_median"]))
        if compared:
            row.append(ratio)
        for _, key in extras:
            row.append(num(p["extra_medians"].get(key)))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


EXTRAS = {
    ("spsc_round_trip", "rt"): [("p99 ns", "p99_ns"), ("p99.9 ns", "p99.9_ns")],
    ("bulk", "frames128"): [("GB/s", "GB/s"), ("× memcpy 16 KiB", "x_memcpy_16k")],
    ("bulk", "frames256"): [("GB/s", "GB/s"), ("× memcpy 16 KiB", "x_memcpy_16k")],
    ("broadcast", "flat"): [("reader Msamples/s", "reader_Msamples/s"), ("delivered %", "delivered_%")],
    ("broadcast", "paced"): [("p99 ns", "p99_ns"), ("max ns", "max_ns"), ("delivered %", "delivered_%")],
    ("mutex_vs_lockfree", "uncontended"): [("pop ns", "pop_ns")],
    ("mutex_vs_lockfree", "contended"): [("p99 of a batch, ns/attempt", "p99_batch_ns"), ("failed %", "failed_%")],
    ("telemetry", "counters"): [("with reader, ns/batch", "with_reader_ns"), ("reader slowdown", "reader_slowdown"),
                                ("snapshots", "snapshots")],
    ("snapshot", "seqlock"): [("reads M/s, all readers", "reads_M/s_all_readers")],
    ("snapshot", "shared"): [("reads M/s, all readers", "reads_M/s_all_readers")],
    ("histogram", "snapshot"): [("p99 ns", "p99_ns"), ("record ns alone", "record_ns_alone"),
                                ("record ns during", "record_ns_during"), ("recorder slowdown", "recorder_slowdown"),
                                ("snapshots", "snapshots")],
}


def micro_table(result):
    rows = result.get("micro", {}).get("benchmarks", [])
    if not rows:
        return ""
    lines = ["| benchmark | peer | ns per iteration | ns per item |", "|---|---|---|---|"]
    for r in rows:
        name, _, peer = re.sub(r"_median$", "", r["name"]).partition("/")
        scale = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}.get(r["time_unit"], 1)
        per_item = 1e9 / r["items_per_second"] if r.get("items_per_second") else None
        lines.append(f"| `{name}` | {peer or '–'} | {num(r['cpu_time'] * scale)} | {num(per_item)} |")
    return "\n".join(lines)


def targets_table(result):
    lines = ["| target | this run | goal | |", "|---|---|---|---|"]
    for t in result.get("targets", []):
        value = t["value"]
        status = "n/a" if value is None else ("met" if t["met"] else "**missed**")
        note = f" ({t['note']})" if t.get("note") else ""
        lines.append(f"| {t['description']}{note} | {num(value)} | {t['comparison'].replace('>=', '≥').replace('<=', '≤')}"
                     f" {t['goal']:g} | {status} |")
    return "\n".join(lines)


def machine_line(result):
    m = result["meta"]
    cores = f"{m['cpus_online']} CPU" + ("s" if m["cpus_online"] != 1 else "")
    return (f"**{m['cpu']}**, {cores} ({m['cpus_allowed']} usable; measuring on CPUs {m['cpu_a']} and {m['cpu_b']}), "
            f"{m['compiler']} `-O2`, commit `{m['commit']}`, {m['date']}, {m['runs']} runs per peer after one warm-up"
            f", {m['elapsed_s']:.0f} s for the driver"
            + (f", 1-minute load average {m['loadavg_start']:.1f} at the start and {m['loadavg_end']:.1f} at the end"
               if m.get("loadavg_start") is not None else ""))


def sections(result):
    """(heading, intro, table) for every case, in the driver's order."""
    m = result["meta"]
    out = []
    for c in result["cases"]:
        intro = c["params"]
        if c["scenario"] == "spsc_throughput" and m["spsc_items"] != m["spsc_items_spec"]:
            intro += (f". **Count cut from the issue's {m['spsc_items_spec']:.0e} to {m['spsc_items']:.0e} items per run** "
                      "so the whole suite fits its time budget on a 2-core VM (`NOWAIT_BENCH_ARGS='--spsc-items 100000000'`"
                      " restores it)")
        out.append((c["title"], intro, case_table(c, EXTRAS.get((c["scenario"], c["id"]), []))))
    return out


# ----------------------------------------------------------------- engine ---

def engine_run(runs, engine, inputs, feeder_priority=None):
    return next((r for r in runs if r["engine"] == engine and r["inputs"] == inputs
                 and feeder_priority in (None, r.get("feeder_priority"))), None)


def feeders(priority):
    return f"FIFO {priority}" if priority else "normal priority"


def pair(a, b, key, fmt=num):
    """'nowait / baseline' for one figure."""
    return f"{fmt(a[key]) if a else '–'} / {fmt(b[key]) if b else '–'}"


def triple(r):
    return "–" if r is None else f"{num(r['p50_us'])} / {num(r['p99_us'])} / {num(r['max_us'])}"


def count(x):
    return f"{x:,}"


def engine_clocked_table(eng):
    """nowait and the baseline side by side, one row per input count and load."""
    lines = ["| inputs | load, feeders | nowait p50 / p99 / max µs | baseline p50 / p99 / max µs "
             "| p99 % of period, nowait / baseline | deadline misses, nowait / baseline "
             "| underrun blocks, nowait / baseline |",
             "|---|---|---|---|---|---|---|"]
    for scenario, load in (("idle", "idle"), ("contention", "**spinner on the other core**")):
        runs = eng.get(scenario, [])
        points = sorted({(r["inputs"], r.get("feeder_priority", 0)) for r in runs}, key=lambda p: (p[0], -p[1]))
        for n, prio in points:
            a, b = engine_run(runs, "nowait", n, prio), engine_run(runs, "baseline", n, prio)
            lines.append(f"| {n} | {load}, {feeders(prio)} | {triple(a)} | {triple(b)} "
                         f"| {pair(a, b, 'p99_percent_of_period', lambda x: num(x) + '%')} "
                         f"| {pair(a, b, 'deadline_misses', count)} | {pair(a, b, 'underrun_blocks', count)} |")
    return "\n".join(lines)


def engine_pull_table(eng):
    runs = eng.get("pull", [])
    if not runs:
        return ""
    lines = ["| inputs | nowait CPU µs per block | per input | baseline CPU µs per block | per input |",
             "|---|---|---|---|---|"]
    for n in sorted({r["inputs"] for r in runs}):
        a, b = engine_run(runs, "nowait", n), engine_run(runs, "baseline", n)
        lines.append(f"| {n} | {num(a['cpu_us_per_block']) if a else '–'} | {num(a['cpu_us_per_input']) if a else '–'} "
                     f"| {num(b['cpu_us_per_block']) if b else '–'} | {num(b['cpu_us_per_input']) if b else '–'} |")
    return "\n".join(lines)


def engine_largest_line(eng):
    largest = eng.get("largest_realtime", {})
    swept = ", ".join(str(n) for n in largest.get("swept", []))
    def show(engine):
        n = largest.get(engine)
        return "none" if n is None else f"**{n}**"
    line = (f"Largest input count in real time (of {swept}; p99 < block period, no deadline miss, no underrun): "
            f"nowait {show('nowait')}, baseline {show('baseline')}.")
    pull = eng.get("pull", [])
    if pull:
        top = max(r["inputs"] for r in pull)
        a = engine_run(pull, "nowait", top)
        if a and a["cpu_us_per_input"]:
            period = eng["meta"]["block_period_us"]
            line += (f" Past the sweep, extrapolate from the CPU per input: nowait's {num(a['cpu_us_per_input'])} µs "
                     f"per input per block (pull mode, cache-warm, {top} inputs) would fill a {num(period, 4)} µs period at about "
                     f"{num(period / a['cpu_us_per_input'])} inputs on one core, before scheduling noise and the "
                     "engine's limit of 64 inputs.")
    return line


def engine_targets_table(eng):
    lines = ["| target | this run | goal | |", "|---|---|---|---|"]
    for t in eng.get("targets", []):
        value = t["value"]
        status = "n/a" if value is None else ("met" if t["met"] else "**missed**")
        shown = count(int(value)) if isinstance(value, (int, float)) and float(value).is_integer() else num(value)
        lines.append(f"| {t['description']} | {shown} | {t['comparison'].replace('<=', '≤').replace('>=', '≥')} "
                     f"{t['goal']:g} | {status} |")
    return "\n".join(lines)


def engine_intro(eng):
    m = eng["meta"]
    return (f"`nowait-bench-engine`: the real engine on its virtual clock against a baseline whose inputs are the "
            f"seed design (a `std::mutex`-guarded `std::deque<float>` per input; the same sources, mixer, meters "
            f"and master ring), each with N stereo tone inputs at {m['sample_rate'] // 1000} kHz and "
            f"{m['block_frames']}-frame blocks (period {num(m['block_period_us'], 4)} µs), "
            f"{m['seconds_per_point']:g} s per point, {m['compiler']} `-O2`, commit `{m['commit']}`. "
            f"Durations are of `process()`; the clock thread runs SCHED_FIFO on CPU {m['cpu_rt']}"
            + ("" if all(r.get("realtime_priority") for r in eng.get("idle", [])) else " (**where permitted: "
               "some runs had no SCHED_FIFO**)")
            + f"; both engines' feeders run at {feeders(m.get('feeder_priority', 0))} (the engine's default), and under "
            f"contention, where a second process spins on CPU {m['cpu_load']} at normal priority, also at normal "
            "priority. "
            "A deadline miss is a block finished after the next one was due; "
            "see [`bench/README.md`](bench/README.md#engine-benchmark)")


def engine_sections(result):
    """(heading, intro, body) of the engine benchmark, when the run has one."""
    eng = result.get("engine")
    if not eng:
        return []
    body = [engine_clocked_table(eng), "", engine_largest_line(eng)]
    pull = engine_pull_table(eng)
    if pull:
        body += ["", "CPU per block with no clock (pull the inputs, then `process()`, back to back; thread CPU time "
                 "of `process()` only):", "", pull]
    body += ["", engine_targets_table(eng)]
    return [("Engine (issue 5): nowait vs the mutex + deque baseline", engine_intro(eng), "\n".join(body))]


def readme_section(result, json_rel, svg_rel):
    m = result["meta"]
    parts = [
        "## Performance",
        "",
        "<!-- bench:begin -->",
        "<!-- Generated by bench/run.sh from the newest bench/results/*.json; edits here are overwritten. -->",
        f"Measured by `make bench` on {machine_line(result)}. Raw results: [`{json_rel}`]({json_rel}); "
        "method and how to read the ratios: [`bench/README.md`](bench/README.md).",
        "",
    ]
    if m["one_core"]:
        parts += ["**This machine had one usable core: the cross-thread figures measure the scheduler.**", ""]
    parts += [
        "Cross-thread figures move with the placement of the VM's two vCPUs (a cache-line round trip of about "
        "150 ns or about 600 ns), so read them as ratios: *probe ns* is the cache-line round trip timed right "
        "before each run (median over the runs), and *nowait ÷ peer* is nowait's advantage over that peer "
        "(above 1: nowait is better), the median over the rounds in which both runs saw probes within 25% of "
        "each other (how many rounds in brackets). Do not compare absolute figures across runs.",
        "",
        f"![benchmark chart]({svg_rel})",
        "",
        "### Targets (issue 4)",
        "",
        targets_table(result),
        "",
    ]
    for title, intro, table in engine_sections(result) + sections(result):
        parts += [f"### {title}", "", intro + ".", "", table, ""]
    micro = micro_table(result)
    if micro:
        parts += ["### Single-thread micro-costs (Google Benchmark)", "", micro, ""]
    parts.append("<!-- bench:end -->")
    return "\n".join(parts)


def readme(result_path, readme_path):
    result = load(result_path)
    rel = os.path.relpath(result_path, os.path.dirname(os.path.abspath(readme_path)))
    svg_rel = re.sub(r"\.json$", ".svg", rel)
    block = readme_section(result, rel, svg_rel)
    text = open(readme_path).read()
    pattern = re.compile(r"(## Performance\n\n)?<!-- bench:begin -->.*?<!-- bench:end -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    elif "\n## Contracts" in text:
        text = text.replace("\n## Contracts", "\n" + block + "\n\n## Contracts", 1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(readme_path, "w") as f:
        f.write(text)


def summary(result_path):
    result = load(result_path)
    print(f"\n==== Summary: {machine_line(result)}")
    print("\n" + targets_table(result))
    for title, intro, table in engine_sections(result) + sections(result):
        print(f"\n### {title}\n{intro}.\n\n{table}")
    micro = micro_table(result)
    if micro:
        print("\n### Single-thread micro-costs\n\n" + micro)


# ------------------------------------------------------------------ chart ---

def write_dat(path, rows):
    with open(path, "w") as f:
        for row in rows:
            f.write(" ".join(f'"{x}"' if isinstance(x, str) else ("NaN" if x is None else repr(float(x)))
                             for x in row) + "\n")


def clustered(result, scenario, ids):
    """Rows: short peer name, then median/min/max for each case id (peers in the first case's order)."""
    cases = [find_case(result, scenario, i) for i in ids]
    if not all(cases):
        return []
    rows = []
    for p in cases[0]["peers"]:
        row = [SHORT.get(p["name"], p["name"])]
        for c in cases:
            q = next((x for x in c["peers"] if x["name"] == p["name"]), None)
            row += [q["median"], q["min"], q["max"]] if q else [None, None, None]
        rows.append(row)
    return rows


def plot(result_path, svg_path, png_path=None):
    result = load(result_path)
    m = result["meta"]
    with tempfile.TemporaryDirectory() as d:
        write_dat(f"{d}/throughput.dat", clustered(result, "spsc_throughput", ["cap4096", "cap65536"]))
        write_dat(f"{d}/roundtrip.dat", clustered(result, "spsc_round_trip", ["rt"]))
        write_dat(f"{d}/bulk.dat", clustered(result, "bulk", ["frames128", "frames256"]))
        write_dat(f"{d}/push.dat", clustered(result, "mutex_vs_lockfree", ["uncontended", "contended"]))
        rows = []
        for readers in (0, 1, 2, 4):
            row = [readers]
            for mode in ("flat", "paced"):
                c = find_case(result, "broadcast", mode)
                for design in ("nowait BroadcastRing", "std::mutex + per-reader queues"):
                    suffix = f", {readers} reader" + ("" if readers == 1 else "s")
                    p = next((x for x in (c["peers"] if c else []) if x["name"] == design + suffix), None)
                    row += [p["median"], p["min"], p["max"]] if p else [None, None, None]
            rows.append(row)
        write_dat(f"{d}/broadcast.dat", rows)
        rows = []
        tele = find_case(result, "telemetry", "counters")
        if tele:
            for p in tele["peers"]:
                if p["group"] != "1 writer":
                    continue
                design = p["name"].rsplit(", ", 1)[0]
                two = next((x for x in tele["peers"] if x["name"] == design + ", 2 writers"), None)
                rows.append([SHORT.get(design, design), p["median"], p["min"], p["max"]] +
                            ([two["median"], two["min"], two["max"]] if two else [None] * 3))
        write_dat(f"{d}/telemetry.dat", rows)
        rows = []
        for readers in (0, 1, 2, 8):
            row = [readers]
            for case_id, design in (("seqlock", "nowait SeqlockCell (64 B)"), ("seqlock", "std::mutex + struct (64 B)"),
                                    ("shared", "nowait SharedSnapshot (1 KiB)"),
                                    ("shared", "std::mutex + struct (1 KiB)")):
                c = find_case(result, "snapshot", case_id)
                suffix = f", {readers} reader" + ("" if readers == 1 else "s")
                p = next((x for x in (c["peers"] if c else []) if x["name"] == design + suffix), None)
                row += [p["median"], p["min"], p["max"]] if p else [None, None, None]
            rows.append(row)
        write_dat(f"{d}/snapshot.dat", rows)
        probes = []
        for i, (c, r) in enumerate((c, r) for c in result["cases"] for r in c["runs"]):
            probes.append([i, r["probe_ns"]])
        write_dat(f"{d}/probes.dat", probes)
        engine_rows = []
        idle = result.get("engine", {}).get("idle", [])
        for n in sorted({r["inputs"] for r in idle}):
            a, b = engine_run(idle, "nowait", n), engine_run(idle, "baseline", n)
            engine_rows.append([n, a and a["p99_us"], b and b["p99_us"], a and a["max_us"], b and b["max_us"]])
        write_dat(f"{d}/engine.dat", engine_rows)
        period = result["engine"]["meta"]["block_period_us"] if engine_rows else "NaN"
        rt = find_case(result, "spsc_round_trip", "rt")
        rt_probe = rt["peers"][0]["probe_median_ns"] if rt else None
        title = (f"nowait bench: {m['cpu']}, {m['cpus_online']} CPUs, {m['compiler']}, {m['commit']}, {m['date'][:10]}"
                 + (" (SMOKE: meaningless)" if m["smoke"] else ""))
        outputs = [("svg", svg_path)] + ([("png", png_path)] if png_path else [])
        for kind, out in outputs:
            cmd = ["gnuplot", "-e",
                   f"datadir='{d}'; out='{out}'; kind='{kind}'; title='{title}'; "
                   f"rtprobe={rt_probe if rt_probe else 'NaN'}; spscitems='{m['spsc_items']:.0e}'; "
                   f"engine={1 if engine_rows else 0}; period={period}",
                   os.path.join(HERE, "plot.gp")]
            subprocess.run(cmd, check=True)


def main(argv):
    if len(argv) >= 2 and argv[1] == "merge" and len(argv) == 5:
        merge(argv[2], argv[3], argv[4])
    elif len(argv) >= 2 and argv[1] == "merge" and len(argv) == 6:
        merge(argv[2], argv[3], argv[5], engine_path=argv[4])
    elif len(argv) >= 2 and argv[1] == "plot" and len(argv) in (4, 5):
        plot(argv[2], argv[3], argv[4] if len(argv) == 5 else None)
    elif len(argv) == 4 and argv[1] == "readme":
        readme(argv[2], argv[3])
    elif len(argv) == 3 and argv[1] == "summary":
        summary(argv[2])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
