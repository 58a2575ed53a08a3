"""`s3free admin info`: what a running server says about itself, over HTTP.

It reads the readiness endpoint (status, degraded, index) and the metrics endpoint
(version, io engine, EC layout, per-disk state and usage, heal and scrub figures), so it
works from any machine that can reach the server, and needs no access to its disks.
"""
from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import urllib.error
import urllib.request

from s3free import __version__, config

LIVE, READY, METRICS = "/_s3free/health/live", "/_s3free/health/ready", "/_s3free/metrics"


def register(admin_sub) -> None:
    p = admin_sub.add_parser("info", help="version, endpoints, io engine, EC layout and disks of a running server",
                             description="Ask a running server (over HTTP: its readiness and metrics endpoints) "
                                         "for its version, endpoints, io engine, EC layout and per-disk state and "
                                         "usage. Works from any machine that reaches the server.")
    p.add_argument("--endpoint", help="the server's URL (default: from the address and tls_cert settings)")
    p.add_argument("--config", help="YAML config file to take the address and metrics token from")
    p.add_argument("--metrics-token", help="bearer token for the metrics endpoint (default: metrics_token)")
    p.add_argument("--ca-bundle", help="CA certificate to verify an https endpoint with")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _get(url: str, token: str = "", ca: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    ctx = ssl.create_default_context(cafile=ca) if url.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=10, context=ctx) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _samples(text: str) -> dict[str, list]:
    from prometheus_client.parser import text_string_to_metric_families
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def gather(endpoint: str, token: str = "", ca: str | None = None) -> dict:
    endpoint = endpoint.rstrip("/")
    status, body = _get(endpoint + READY, ca=ca)
    ready = json.loads(body)
    live_status, _ = _get(endpoint + LIVE, ca=ca)
    status_m, text = _get(endpoint + METRICS, token, ca)
    if status_m == 401:
        raise RuntimeError("the metrics endpoint needs a bearer token: pass --metrics-token (or set metrics_token)")
    if status_m != 200:
        raise RuntimeError(f"{endpoint + METRICS} answered {status_m}")
    m = _samples(text.decode())

    def one(name, label=None, default=None):
        got = m.get(name)
        if not got:
            return default
        return got[0].labels[label] if label else got[0].value

    disks: dict[str, dict] = {}
    for s in m.get("s3free_disk_state", []):
        row = disks.setdefault(s.labels["slot"], {"slot": int(s.labels["slot"]), "path": s.labels["path"]})
        if s.value == 1:
            row["state"] = s.labels["state"]
    for kind in ("total", "used", "free"):
        for s in m.get(f"s3free_disk_{kind}_bytes", []):
            disks[s.labels["slot"]][f"{kind}_bytes"] = int(s.value)
    k, mm = int(one("s3free_erasure_data_shards", default=0)), int(one("s3free_erasure_parity_shards", default=0))
    return {
        "version": one("s3free_build_info", "version"),
        "endpoint": endpoint,
        "metrics_url": endpoint + METRICS,
        "live_url": endpoint + LIVE,
        "ready_url": endpoint + READY,
        "live": live_status == 200,
        "ready": status == 200,
        "degraded": ready.get("degraded"),
        "index": ready.get("index"),
        "io_engine": one("s3free_io_engine_info", "engine"),
        "ec": f"{k}+{mm}",
        "k": k,
        "m": mm,
        "disks_online": int(one("s3free_disks_online", default=0)),
        "disks": sorted(disks.values(), key=lambda d: d["slot"]),
        "heal_queue_depth": int(one("s3free_heal_queue_depth", default=0)),
        "unrecoverable_objects": int(one("s3free_unrecoverable_objects", default=0)),
        "scrub_running": bool(one("s3free_scrub_running", default=0)),
        "scrub_last_pass_end": one("s3free_scrub_last_pass_end_timestamp_seconds"),
        "lmdb_used_bytes": int(one("s3free_lmdb_used_bytes", default=0)),
        "segment_live_ratio": one("s3free_segment_live_ratio"),
        "cli_version": __version__,
    }


def default_endpoint(settings: config.Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if settings.tls_cert else 'http'}://{host}:{settings.port}"


def _gib(n) -> str:
    return f"{n / 2**30:.1f}" if isinstance(n, int) else "-"


def run(args: argparse.Namespace) -> int:
    try:
        settings = config.load(args.config)
    except config.ConfigError as exc:
        print(f"s3free admin info: bad configuration: {exc}", file=sys.stderr)
        return 1
    endpoint = args.endpoint or default_endpoint(settings)
    token = args.metrics_token if args.metrics_token is not None else settings.metrics_token
    try:
        info = gather(endpoint, token, args.ca_bundle or os.environ.get("AWS_CA_BUNDLE"))
    except (OSError, ValueError, RuntimeError) as exc:
        reason = getattr(exc, "reason", None) or exc
        print(f"s3free admin info: cannot ask {endpoint}: {reason}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(info))
        return 0
    status = "ready" if info["ready"] else "NOT READY"
    if info["degraded"]:
        status += " (degraded)"
    print(f"s3free {info['version']} at {info['endpoint']}: {status}")
    for key in ("metrics_url", "live_url", "ready_url", "io_engine", "ec"):
        print(f"  {key + ':':<13}{info[key]}")
    print(f"  {'disks:':<13}{info['disks_online']}/{len(info['disks'])} online")
    for d in info["disks"]:
        print(f"  {d['slot']:>3}  {d.get('state', '?'):<11} {d['path']}  "
              f"used {_gib(d.get('used_bytes'))}/{_gib(d.get('total_bytes'))} GiB")
    print(f"  heal queue {info['heal_queue_depth']}, unrecoverable {info['unrecoverable_objects']}, "
          f"scrub {'running' if info['scrub_running'] else 'idle'}")
    return 0
