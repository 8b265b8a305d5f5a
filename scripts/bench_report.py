"""Turn the benchmark's raw figures into latest.json's headline and the markdown tables."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SKEW_FIGURES = ("wall_s", "max_task_s", "max_median_records")


def headline(details: dict[str, Any]) -> dict[str, Any]:
    """Exactly the keys the issue lists (null for a benchmark that was not run)."""
    skew = details.get("skew", {}).get("variants")
    return {
        "enrich_vs_duckdb_ratio": {k: v["ratio"] for k, v in details["enrich"].items()}
        if "enrich" in details else None,
        "skew": {name: {f: skew[name][f] for f in SKEW_FIGURES} for name in ("plain", "aqe", "salted")}
        if skew else None,
        "compaction_read_speedup": details["compaction"]["speedup"] if "compaction" in details else None,
        "scaling_s_per_million": {k: v["s_per_million"] for k, v in details["scaling"].items()}
        if "scaling" in details else None,
        "machine": details["machine"],
        "spark": details["spark"],
    }


def _seconds(values: Iterable[float]) -> str:
    return ", ".join(f"{x:.1f}" for x in values)


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _cpu_line(cpu: dict[str, dict[str, float]], wall_s: float) -> str:
    """Where the Spark JVM's CPU went during a timed transform, by thread role."""
    def both(role: str) -> float:
        return cpu[role]["user"] + cpu[role]["sys"]

    return (f"CPU of the Spark JVM during that run ({wall_s:.1f} s on 2 cores): task threads "
            f"{both('tasks'):.1f} s, JIT compilers {both('jit'):.1f} s, garbage collection "
            f"{both('gc'):.1f} s ({cpu['gc']['sys']:.1f} s of it kernel time), "
            f"other {both('other'):.1f} s")


def markdown(details: dict[str, Any], targets: dict[str, float]) -> str:
    """The four tables, each followed by its target and whether it is met."""
    measured_at = details.get("measured_at") or {}
    when = details["date"]
    if len(set(measured_at.values())) > 1:  # an --only run kept the other benchmarks' figures
        when = ", ".join(f"{name} {at}" for name, at in measured_at.items())
    out = [f"Machine: {details['machine']}  ", f"Spark {details['spark']}, measured "
           f"{when}{' (quick smoke run, small sizes)' if details.get('quick') else ''}", ""]
    if "enrich" in details:
        out += ["### 1. sales_enrich: Spark vs DuckDB (same files, same logic)", "",
                "| lines | Spark (s) | DuckDB (s) | Spark / DuckDB | target ≤ "
                f"{targets['enrich_ratio']:g}x | Spark session start (s) |",
                "|---|---:|---:|---:|---|---:|"]
        for label, e in details["enrich"].items():
            ok = e["ratio"] <= targets["enrich_ratio"]
            out.append(f"| {label} | {e['spark_s']:.1f} | {e['duckdb_s']:.1f} | {e['ratio']:.2f} | "
                       f"{_verdict(ok)} | {e['spark_session_start_s']:.1f} |")
        out.append("")
        for label, e in details["enrich"].items():
            if len(e.get("spark_samples_s", [])) > 1:
                out.append(f"- at {label}: the median of {len(e['spark_samples_s'])} runs of each "
                           f"engine, each in a fresh process, the engines in turn (Spark "
                           f"{_seconds(e['spark_samples_s'])} s; "
                           f"DuckDB {_seconds(e['duckdb_samples_s'])} s)")
            if e.get("spark_cpu_s"):
                out.append(f"- at {label}: {_cpu_line(e['spark_cpu_s'], e['spark_s'])}")
            if e.get("spark_whole_job_s"):
                out.append(f"- the whole job at {label} (Delta MERGEs, quality gates and metrics, "
                           f"RUN_LOG, unknown-member repair): {e['spark_whole_job_s']:.1f}s")
            if e.get("spark_warm_s"):
                out.append(f"- the transform at {label} run again in the same JVM, its code already "
                           f"JIT-compiled: {e['spark_warm_s']:.1f}s, "
                           f"{e['spark_warm_s'] / e['duckdb_s']:.2f}x DuckDB (not the target figure)")
        out.append("")
    if "skew" in details:
        skew = details["skew"]
        v = skew["variants"]
        rounds = skew.get("rounds", 1)
        out += [f"### 2. Left join, one key = half of {skew['rows']:,} rows "
                f"({skew['partitions']} shuffle partitions"
                f"{f'; medians of {rounds} rounds' if rounds > 1 else ''})", "",
                "| variant | wall (s) | join stage: longest task (s) | max / median task records | tasks |",
                "|---|---:|---:|---:|---:|"]
        for name in ("plain", "aqe", "salted"):
            r = v[name]
            out.append(f"| {name} | {r['wall_s']:.1f} | {r['max_task_s']:.2f} | "
                       f"{r['max_median_records']:.2f} | {r['tasks']} |")
        gain = v["plain"]["max_task_s"] / v["salted"]["max_task_s"]
        wall = v["salted"]["wall_s"] / v["plain"]["wall_s"]
        out += ["",
                f"- salted max/median records {v['salted']['max_median_records']:.2f} "
                f"(target ≤ {targets['skew_max_median']:g}): "
                f"{_verdict(v['salted']['max_median_records'] <= targets['skew_max_median'])}",
                f"- longest task {gain:.1f}x shorter than plain (target ≥ "
                f"{targets['skew_task_gain']:g}x): {_verdict(gain >= targets['skew_task_gain'])}",
                f"- wall time {wall:.2f}x plain (target ≤ {targets['skew_wall_ratio']:g}x): "
                f"{_verdict(wall <= targets['skew_wall_ratio'])}"]
        if rounds > 1:
            out.append("- wall time per round (s): " + "; ".join(
                f"{name} {_seconds(r['wall_s'] for r in v[name]['rounds'])}"
                for name in ("plain", "aqe", "salted")))
        out.append("")
    if "compaction" in details:
        c = details["compaction"]
        out += ["### 3. A day of clickstream: small files vs compacted", "",
                "| layout | files | read + aggregate (s) |", "|---|---:|---:|",
                f"| as landed | {c['files_before']:,} | {c['read_small_files_s']:.2f} |",
                f"| compacted | {c['files_after']:,} | {c['read_compacted_s']:.2f} |", "",
                f"- read speed-up {c['speedup']:.1f}x (target ≥ {targets['compaction_speedup']:g}x): "
                f"{_verdict(c['speedup'] >= targets['compaction_speedup'])}; compaction itself took "
                f"{c['compact_s']:.1f}s for {c['events']:,} events", ""]
    if "scaling" in details:
        s = details["scaling"]
        out += ["### 4. Scaling of sales_enrich on Spark", "",
                "| lines (M) | Spark (s) | s per million | JVM peak RSS (MB) | JVM heap peak (MB) "
                "| Python peak RSS (MB) |", "|---:|---:|---:|---:|---:|---:|"]
        for label, r in s.items():
            out.append(f"| {label} | {r['spark_s']:.1f} | {r['s_per_million']:.2f} | "
                       f"{r['jvm_peak_rss_mb']:,} | {r['jvm_heap_peak_mb']:,} | {r['python_peak_rss_mb']:,} |")
        sizes = list(s.values())
        if len(sizes) >= 2:
            ratio = sizes[-1]["s_per_million"] / sizes[-2]["s_per_million"]
            out += ["", f"- s per million at {sizes[-1]['lines'] / 1e6:g}M vs {sizes[-2]['lines'] / 1e6:g}M: "
                        f"{ratio:.2f}x (target ≤ {targets['scaling_ratio']:g}x): "
                        f"{_verdict(ratio <= targets['scaling_ratio'])}"]
        out.append("")
    return "\n".join(out)
