"""Show a result: a table for people, one JSON document for machines."""
from __future__ import annotations

import json

from s3free.bench.stats import human_size


def to_json(result: dict) -> str:
    return json.dumps(result, separators=(",", ":"), sort_keys=False)


def table(result: dict) -> str:
    size = (human_size(result["size_min"]) if result["size_min"] == result["size_max"]
            else f"{human_size(result['size_min'])}-{human_size(result['size_max'])} (random)")
    limit = (f"count {result['count_limit']}" if result["count_limit"]
             else f"duration {result['duration_limit_s']:g}s")
    lines = [
        f"s3free bench {result['workload']}  endpoint {result['endpoint']}  bucket {result['bucket']}"
        f"  prefix {result['prefix']}",
        f"  objects {size}  concurrency {result['concurrency']}  {limit}"
        + ("  autoterm" + (f" (stopped: {', '.join(result['autoterm_stopped'])})"
                           if result["autoterm_stopped"] else "") if result["autoterm"] else "")
        + (f"  prepared {result['objects_prepared']} objects in {result['prepare_s']:.1f}s"
           if result["objects_prepared"] else ""),
        f"  signing: {result['signing']}",
    ]
    if result.get("mix"):
        lines.append("  mix: " + ", ".join(f"{k}={v}" for k, v in result["mix"].items()))
    head = (f"  {'op':<10}{'ops':>9}{'errors':>8}{'ops/s':>11}{'MiB/s':>10}"
            f"{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'ttfb50':>9}{'ttfb99':>9}")
    lines += ["", head, "  " + "-" * (len(head) - 2)]
    for name, st in result["ops"].items():
        lat, ttfb = st["latency_ms"], st["ttfb_ms"]
        lines.append(f"  {name:<10}{st['ops']:>9}{st['errors']:>8}{st['ops_per_s']:>11.1f}{st['mbps']:>10.1f}"
                     f"{lat['p50']:>9.2f}{lat['p90']:>9.2f}{lat['p99']:>9.2f}{ttfb['p50']:>9.2f}{ttfb['p99']:>9.2f}")
    tot = result["total"]
    lines.append(f"  {'total':<10}{tot['ops']:>9}{tot['errors']:>8}{tot['ops_per_s']:>11.1f}{tot['mbps']:>10.1f}")
    client = result["client"]
    lines += ["", f"  client: {client['cpu_pct']:.0f}% of one core over {client['wall_s']:.1f}s "
                  f"({client['connections']} connections, {client['reconnects']} reconnects)"
              + ("  <- the client may be the bound" if client["cpu_pct"] >= 85 else "")]
    for name, st in result["ops"].items():
        for sample in st["error_samples"][:3]:
            lines.append(f"  error ({name}): {sample}")
    c = result.get("cleanup") or {}
    if c.get("enabled"):
        lines.append(f"  cleanup: deleted {c['deleted']} objects in {c['seconds']:.1f}s, "
                     f"{c['remaining']} remaining" + (", bucket removed" if c.get("bucket_removed") else "")
                     + (f", error: {c['error']}" if c.get("error") else ""))
    else:
        lines.append(f"  cleanup: skipped (--no-cleanup): objects left under {result['prefix']}")
    return "\n".join(lines)
