"""One command for issue 7's numbers: s3free against the raw Granian ceiling, side by side.

    .venv/bin/python perf/run.py            (after `./dev test` or `./dev env`; ~9 minutes on 2 cores)

1. the machine's ceilings: MD5 on one core; O_DIRECT 1 MiB sequential write/read on the
   filesystem holding the data;
2. the ceiling app (perf/ceiling_app.py) under s3free's own Granian command line, and
   s3free (9 disk folders in a temp dir on that filesystem, RS(6,3)), same worker count,
   both up at once, each test driven by `s3free bench` with the same settings on one and
   then at once on the other (which goes first alternates): 64 MiB PUT/GET at concurrency
   4, 4 KiB PUT/GET at concurrency 16;
3. step 2 three times by default (`--rounds`): this box's speed drifts by 10-20 % over
   minutes, so a test's two sides are measured seconds apart, each round's ratio is taken
   side by side, and the median of the rounds' ratios is reported;
4. a table, then one JSON line with the ratios, the measured figures (medians), the
   ceilings, which bound applies to each 64 MiB target, whether each target is met, and
   how many other servers or benchmarks were running (figures taken beside them are not clean).

Targets (issue 7): get_64m >= 0.8 x ceiling, or within 15% of disk_read_mbps when the data is
not in the page cache, whichever is lower; put_64m >= 0.7 x ceiling, or within 10% of
md5_mbps, whichever is lower; get_4k_ratio >= 0.6; put_4k_ratio >= 0.5; get_4k_p99_ms < 10.
"""
from __future__ import annotations

import os
import sys

try:
    import s3free  # noqa: F401
except ImportError:  # run with the system python: use the checkout's .venv
    venv = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".venv"))
    if os.path.exists(os.path.join(venv, "bin", "python")) and os.path.normpath(sys.prefix) != venv:
        os.execv(os.path.join(venv, "bin", "python"), [os.path.join(venv, "bin", "python")] + sys.argv)
    raise

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ceilings  # noqa: E402
import servers  # noqa: E402

MIB = 1 << 20

# (name, workload, size, concurrency, extra bench args)
TESTS = (
    ("put_64m", "put", "64MiB", 4, []),
    ("get_64m", "get", "64MiB", 4, ["--objects", "8"]),
    ("put_4k", "put", "4KiB", 16, []),
    ("get_4k", "get", "4KiB", 16, ["--objects", "1000"]),
)


def bench(endpoint: str, workload: str, size: str, concurrency: int, duration: float, extra: list[str],
          probe=None) -> dict:
    """One `s3free bench` run's JSON; `probe()`, if given, is called a few seconds into the
    measurement and its answer kept as result["probe"]."""
    cmd = [str(servers.BIN / "s3free"), "bench", workload, "--endpoint", endpoint,
           "--access-key", servers.ROOT_USER, "--secret-key", servers.ROOT_PASSWORD, "--size", size,
           "--concurrency", str(concurrency), "--duration", str(duration), "--autoterm", "--json", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    probed = None
    try:
        if probe is not None:
            try:
                proc.wait(timeout=min(8.0, duration / 2))
            except subprocess.TimeoutExpired:
                probed = probe()
        out, err = proc.communicate(timeout=duration * 4 + 600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"s3free bench {workload} {size} failed ({proc.returncode}): {err[-2000:]}")
    result = json.loads(lines[-1])
    result["probe"] = probed
    if result["total"]["errors"]:
        samples = [s for op in result["ops"].values() for s in op["error_samples"]]
        raise RuntimeError(f"s3free bench {workload} {size}: {result['total']['errors']} errors: {samples[:3]}")
    return result


def figures(result: dict, workload: str) -> dict:
    op = result["ops"][workload]
    return {"mbps": op["mbps"], "ops": op["ops_per_s"], "p50_ms": op["latency_ms"]["p50"],
            "p99_ms": op["latency_ms"]["p99"], "n": op["ops"], "client_cpu_pct": result["client"]["cpu_pct"],
            "seconds": op["seconds"]}


def run_round(base: Path, args, r: int) -> tuple[dict[str, dict[str, dict]], float | None]:
    """One round: both servers up at once (an idle one costs ~0.2 % of a core), and each test
    run on both back to back, alternating which goes first (by round and by test), so a
    test's ratio is two measurements seconds apart instead of minutes."""
    results: dict[str, dict[str, dict]] = {"ceiling": {}, "s3free": {}}
    cached, started = None, []
    try:
        ceiling = {size: servers.start_ceiling(base / "ceiling", args.workers, size) for size in (64 * MIB, 4096)}
        started += list(ceiling.values())
        s3 = servers.start_s3free(base / "s3free", args.workers)
        started.append(s3)
        for i, (name, workload, sz, conc, extra) in enumerate(TESTS):
            sides = ("ceiling", "s3free") if (r + i) % 2 == 0 else ("s3free", "ceiling")
            for side in sides:
                log(f"perf: round {r + 1}: {side} {name} ...")
                if side == "ceiling":
                    endpoint = ceiling[64 * MIB if name.endswith("64m") else 4096].endpoint
                    results[side][name] = bench(endpoint, workload, sz, conc, args.duration, extra)
                    continue
                more = ["--no-cleanup"] if name == "get_64m" else []   # keep its objects to ask mincore
                probe = (lambda: servers.connections_per_worker(s3)) if name == "put_64m" else None
                results[side][name] = bench(s3.endpoint, workload, sz, conc, args.duration, list(extra) + more, probe)
                if name == "get_64m":    # how much of them the page cache holds
                    cached = ceilings.cached_fraction([str(d) for d in sorted((base / "s3free").glob("disk*"))])
    finally:
        for served in started:
            servers.stop(served)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)     # the next round starts empty
    return results, cached


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per measurement (autoterm may stop earlier)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="Granian workers for both servers")
    ap.add_argument("--data-dir", default=tempfile.gettempdir(), help="where the temp dir with the 9 disks goes")
    ap.add_argument("--disk-mib", type=int, default=512, help="MiB written and read by the O_DIRECT probe")
    ap.add_argument("--out", help="also write every measurement (all bench JSON) to this file")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (each test on both sides, alternating which first); "
                                                          "medians are reported")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (server logs, data)")
    args = ap.parse_args(argv)

    t_start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="s3free-perf-", dir=args.data_dir))
    raw: dict = {"machine": ceilings.machine(str(work)), "workers": args.workers, "duration": args.duration}
    others = dict(servers.other_servers())
    if others:
        log(f"perf: WARNING: {len(others)} other server(s) or benchmark(s) running, the figures will share the "
            f"cores with them: " + "; ".join(f"{pid} {cmd}" for pid, cmd in others.items()))
    try:
        log("perf: measuring MD5 and O_DIRECT disk ceilings...")
        md5 = ceilings.md5_mbps()
        disk_w, disk_r, disk_note = ceilings.disk_mbps(str(work), args.disk_mib * MIB)
        raw["ceilings"] = {"md5_mbps": md5, "disk_write_mbps": disk_w, "disk_read_mbps": disk_r, "disk": disk_note}

        rounds: list[dict[str, dict[str, dict]]] = []
        cached = None
        for r in range(args.rounds):
            results, got = run_round(work / f"round-{r}", args, r)
            cached = got if got is not None else cached
            rounds.append(results)
        raw["results"] = rounds
        raw["get_64m_cached_fraction"] = cached
        others.update(servers.other_servers())      # and any that started during the run
        raw["other_servers"] = [f"{pid} {cmd}" for pid, cmd in sorted(others.items())]

        final, rows = summarize(rounds, md5, disk_r, disk_w, cached)
        final["other_servers"] = len(others)
        print(table(rows, raw, final))
        if args.out:
            Path(args.out).write_text(json.dumps({**raw, "summary": final}, indent=1))
        log(f"perf: done in {time.monotonic() - t_start:.0f}s")
        print(json.dumps(final), flush=True)
        return 0
    finally:
        if args.keep:
            log(f"perf: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def median_figures(rounds: list[dict], side: str) -> dict[str, dict]:
    """Per test, the median over rounds of every figure."""
    out = {}
    for name in rounds[0][side]:
        per = [figures(rd[side][name], rd[side][name]["workload"]) for rd in rounds]
        out[name] = {k: round(statistics.median(f[k] for f in per), 3) for k in per[0]}
    return out


def summarize(rounds: list[dict], md5: float, disk_r: float | None, disk_w: float | None,
              cached: float | None) -> tuple[dict, list[dict]]:
    c = median_figures(rounds, "ceiling")
    s = median_figures(rounds, "s3free")
    unit = {"put_64m": "mbps", "get_64m": "mbps", "put_4k": "ops", "get_4k": "ops"}

    def measured(rd: dict, side: str, name: str) -> float:
        return figures(rd[side][name], rd[side][name]["workload"])[unit[name]]
    round_ratios = {n: [measured(rd, "s3free", n) / measured(rd, "ceiling", n) for rd in rounds] for n in unit}

    def ratio(name: str) -> float:
        """The median of the rounds' own ratios (each measured side by side)."""
        return round(statistics.median(round_ratios[name]), 3)

    put_ceiling_need, put_md5_need = 0.7 * c["put_64m"]["mbps"], 0.9 * md5
    put_bound = "md5" if put_md5_need < put_ceiling_need else "ceiling"
    get_ceiling_need = 0.8 * c["get_64m"]["mbps"]
    uncached = cached is not None and cached < 0.5
    get_disk_need = 0.85 * disk_r if (disk_r and uncached) else None
    get_bound = "disk_read" if get_disk_need is not None and get_disk_need < get_ceiling_need else "ceiling"
    final = {
        "put_64m_ratio": ratio("put_64m"),
        "get_64m_ratio": ratio("get_64m"),
        "put_4k_ratio": ratio("put_4k"),
        "get_4k_ratio": ratio("get_4k"),
        "get_4k_p99_ms": s["get_4k"]["p99_ms"],
        "put_64m_mbps": s["put_64m"]["mbps"],
        "get_64m_mbps": s["get_64m"]["mbps"],
        "put_4k_ops": s["put_4k"]["ops"],
        "get_4k_ops": s["get_4k"]["ops"],
        "md5_mbps": round(md5, 1),
        "disk_read_mbps": round(disk_r, 1) if disk_r else None,
        "disk_write_mbps": round(disk_w, 1) if disk_w else None,
        "put_64m_bound": put_bound,
        "get_64m_bound": get_bound,
        "put_64m_met": ratio("put_64m") >= 0.7 or s["put_64m"]["mbps"] >= put_md5_need,
        "get_64m_met": ratio("get_64m") >= 0.8 or (get_disk_need is not None and s["get_64m"]["mbps"] >= get_disk_need),
        "put_4k_met": ratio("put_4k") >= 0.5,
        "get_4k_met": ratio("get_4k") >= 0.6,
        "get_4k_p99_met": s["get_4k"]["p99_ms"] < 10,
    }
    rows = []
    for name, unit, need in (("put_64m", "mbps", f">= {min(put_ceiling_need, put_md5_need):.0f} MiB/s ({put_bound})"),
                             ("get_64m", "mbps", f">= {min(get_ceiling_need, get_disk_need or get_ceiling_need):.0f}"
                                                 f" MiB/s ({get_bound})"),
                             ("put_4k", "ops", "ratio >= 0.5"), ("get_4k", "ops", "ratio >= 0.6, p99 < 10 ms")):
        rows.append({"name": name, "unit": "MiB/s" if unit == "mbps" else "ops/s", "ceiling": c[name][unit],
                     "s3free": s[name][unit], "ratio": ratio(name),
                     "ratios": [round(x, 2) for x in round_ratios[name]],
                     "ceil_p99": c[name]["p99_ms"], "p99": s[name]["p99_ms"], "need": need,
                     "met": final[f"{name}_met"] and (name != "get_4k" or final["get_4k_p99_met"]),
                     "ceil_cpu": c[name]["client_cpu_pct"], "cpu": s[name]["client_cpu_pct"]})
    return final, rows


def table(rows: list[dict], raw: dict, final: dict) -> str:
    m = raw["machine"]
    ce = raw["ceilings"]
    lines = [
        f"machine: {m['nproc']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM, {m['filesystem']}, "
        f"Linux {m['kernel']}, Python {m['python']}",
        f"servers: Granian, {raw['workers']} workers; s3free RS(6,3) on 9 folders; "
        f"client: s3free bench (one process, SigV4 UNSIGNED-PAYLOAD), {raw['duration']:g}s per test with autoterm, "
        f"{len(raw['results'])} round(s), each test on both servers back to back (alternating which first): "
        "figures are medians, a ratio is the median of the rounds' ratios",
        f"ceilings: md5 {ce['md5_mbps']:.0f} MiB/s (one core); disk write {_f(ce['disk_write_mbps'])} / "
        f"read {_f(ce['disk_read_mbps'])} MiB/s ({ce['disk']})",
        "other servers or benchmarks on the machine (checked before and after): "
        + ("none" if not raw["other_servers"] else
           f"{len(raw['other_servers'])}, the figures are NOT clean: " + "; ".join(raw["other_servers"])),
        "64 MiB GET data in page cache after the run: "
        + ("n/a" if raw.get("get_64m_cached_fraction") is None else f"{raw['get_64m_cached_fraction']:.0%}"),
        "64 MiB PUT connections per s3free worker, by round (the MD5 mixer pairs uploads within a worker): "
        + ", ".join(f"{'+'.join(map(str, rd['s3free']['put_64m'].get('probe') or [])) or '?'} "
                    f"({rd['s3free']['put_64m']['ops']['put']['mbps']:.0f} MiB/s)" for rd in raw["results"]),
        "",
        f"{'test':<9}{'unit':>7}{'ceiling':>10}{'s3free':>10}{'ratio':>7}  {'rounds':<16}{'ceil p99':>8}{'p99 ms':>9}"
        f"{'cli cpu% c/s':>14}  {'target':<30}{'met':>4}",
    ]
    lines.append("-" * len(lines[-1]))
    for r in rows:
        lines.append(f"{r['name']:<9}{r['unit']:>7}{r['ceiling']:>10.1f}{r['s3free']:>10.1f}{r['ratio']:>7.2f}"
                     f"  {'/'.join(f'{x:.2f}' for x in r['ratios']):<16}{r['ceil_p99']:>8.2f}{r['p99']:>9.2f}{r['ceil_cpu']:>8.0f}/{r['cpu']:<5.0f}  "
                     f"{r['need']:<30}{'yes' if r['met'] else 'NO':>4}")
    return "\n".join(lines)


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.0f}"


if __name__ == "__main__":
    sys.exit(main())
