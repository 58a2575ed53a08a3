"""Prometheus metrics for every Granian worker, served at `/_s3free/metrics` (docs/metrics.md).

prometheus_client runs in multi-process mode: each worker writes its counters, histograms
and gauges to files in $PROMETHEUS_MULTIPROC_DIR (`s3free server` sets it to
<meta_dir>/metrics and empties it at start), and whichever worker answers a scrape sums
them all. prometheus_client picks its storage when first imported, so it is imported only
after that variable is set (in the worker's lifespan startup), never at module import.

What the node knows rather than the worker (disks, the index, heal and scrub state) is
read at scrape time by `NodeCollector`: a few short LMDB read transactions and a statfs
per disk.
"""
from __future__ import annotations

import asyncio
import bisect
import logging
import os
import re
import shutil

log = logging.getLogger("s3free.metrics")

ENV = "PROMETHEUS_MULTIPROC_DIR"
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
DISK_STATES = ("online", "refilling", "offline", "unformatted")
MB = 1 << 20
FLUSH_INTERVAL = 1.0     # seconds between pushes of request counts into the shared files
_BOUNDS = DURATION_BUCKETS + (float("inf"),)     # prometheus_client's upper bounds, +Inf last


def metrics_dir(meta_dir: str) -> str:
    return os.path.join(meta_dir, "metrics")


def prepare_dir(path: str, clean: bool) -> None:
    """Create the multi-process directory; `clean` empties it (only at server start)."""
    if clean:
        shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, exist_ok=True)


def use_dir(meta_dir: str) -> str:
    """In a worker: keep the directory `s3free server` chose, else use <meta>/metrics."""
    path = os.environ.get(ENV) or metrics_dir(meta_dir)
    os.environ[ENV] = path
    prepare_dir(path, clean=False)
    return path


_LIVE_FILE = re.compile(r"^gauge_live\w+_(\d+)\.db$")


def prune_dead(path: str) -> None:
    """Drop the live-gauge files of workers that are gone (killed rather than shut down)."""
    from prometheus_client import multiprocess
    try:
        names = os.listdir(path)
    except OSError:
        return
    for pid in {int(m.group(1)) for m in map(_LIVE_FILE.match, names) if m}:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, path)
        except PermissionError:
            pass


class Metrics:
    """This worker's instruments. Create after `use_dir` (see the module docstring)."""

    def __init__(self, path: str):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        from prometheus_client.multiprocess import MultiProcessCollector
        self.path = path
        self.requests = Counter("s3free_requests", "Requests answered, by S3 API and HTTP status.",
                                ["api", "status"], registry=None)
        self.duration = Histogram("s3free_request_duration_seconds",
                                  "Time from request start to the last byte sent, by S3 API.",
                                  ["api"], buckets=DURATION_BUCKETS, registry=None)
        self.received = Counter("s3free_bytes_received", "Request body bytes received.", registry=None)
        self.sent = Counter("s3free_bytes_sent", "Response body bytes sent.", registry=None)
        self.inflight = Gauge("s3free_inflight_requests", "Requests being served now.",
                              multiprocess_mode="livesum", registry=None)
        self.bitrot = Counter("s3free_bitrot_events", "Damaged or missing shards found by reads and "
                              "the scrubber, and queued for repair.", registry=None)
        self.scrub_rate = Gauge("s3free_scrub_rate_limit_bytes_per_second", "Scrub read rate limit in "
                                "this worker (0: unlimited).", multiprocess_mode="liveall", registry=None)
        self.heal_rate = Gauge("s3free_heal_rate_limit_bytes_per_second", "Heal write rate limit in "
                               "this worker (0: unlimited).", multiprocess_mode="liveall", registry=None)
        self.scrub_interval = Gauge("s3free_scrub_interval_seconds", "Seconds between scrub passes in "
                                    "this worker (0: off).", multiprocess_mode="liveall", registry=None)
        self.log_level = Gauge("s3free_log_level_info", "The log level of this worker.", ["level"],
                               multiprocess_mode="liveall", registry=None)
        self._damage_seen = 0
        self._inflight = self._pushed_inflight = 0
        self._requests: dict[tuple[str, int], int] = {}
        self._durations: dict[str, list] = {}      # api -> [per-bucket counts, sum of seconds]
        self._received = self._sent = 0
        self.registry = CollectorRegistry()
        MultiProcessCollector(self.registry, path)

    def set_worker(self, settings) -> None:
        self.scrub_rate.set(settings.scrub_rate_mb * MB)
        self.heal_rate.set(settings.heal_rate_mb * MB)
        self.scrub_interval.set(settings.scrub_interval)
        self.log_level.labels(settings.log_level.lower()).set(1)

    # Requests are counted in plain Python and pushed into the shared files once a
    # second (FLUSH_INTERVAL) and before every scrape this worker answers: each
    # prometheus_client update takes a lock and a pid check, ~5% of a small GET's CPU.
    def begin(self) -> None:
        self._inflight += 1

    def end(self) -> None:
        self._inflight -= 1
        if not self._inflight and self._pushed_inflight:    # idle again: say so now, not in a second
            self.inflight.set(0)
            self._pushed_inflight = 0

    def observe(self, api: str, status: int, seconds: float, received: int, sent: int) -> None:
        key = (api, status)
        self._requests[key] = self._requests.get(key, 0) + 1
        hist = self._durations.get(api)
        if hist is None:
            hist = self._durations[api] = [[0] * len(_BOUNDS), 0.0]
        hist[0][bisect.bisect_left(_BOUNDS, seconds)] += 1     # the first bucket whose bound >= seconds
        hist[1] += seconds
        self._received += received
        self._sent += sent

    def flush(self) -> None:
        """Push what was counted since the last flush into the multi-process files."""
        requests, durations = self._requests, self._durations
        self._requests, self._durations = {}, {}
        for (api, status), n in requests.items():
            self.requests.labels(api, str(status)).inc(n)
        for api, (counts, total) in durations.items():
            _add_counts(self.duration.labels(api), counts, total)
        if self._received:
            self.received.inc(self._received)
        if self._sent:
            self.sent.inc(self._sent)
        self._received = self._sent = 0
        self.inflight.set(self._inflight)
        self._pushed_inflight = self._inflight

    async def flush_every(self, seconds: float = FLUSH_INTERVAL) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                self.flush()
            except Exception:      # e.g. the metrics dir full: keep counting, try again
                log.exception("pushing request metrics failed")

    def sync_damage(self, layer) -> None:
        """Carry the layer's damage report count (an int it keeps) into the counter."""
        now = layer.damage_events
        if now > self._damage_seen:
            self.bitrot.inc(now - self._damage_seen)
        self._damage_seen = now

    def render(self, layer) -> bytes:
        from prometheus_client import generate_latest
        prune_dead(self.path)
        self.sync_damage(layer)
        self.flush()
        return generate_latest(self.registry) + generate_latest(_NodeRegistry(layer))

    def close(self) -> None:
        """At worker shutdown: drop this worker's live gauges (counters stay summed)."""
        from prometheus_client import multiprocess
        self.flush()
        multiprocess.mark_process_dead(os.getpid(), self.path)


def _add_counts(child, counts: list[int], total: float) -> None:
    """Add per-bucket observation counts to a histogram child in one update per bucket
    (prometheus_client keeps non-cumulative counts in `_buckets`, the total in `_sum`);
    by observing each bucket's bound instead if those internals ever change."""
    try:
        buckets, total_value = child._buckets, child._sum
    except AttributeError:
        for bound, n in zip(_BOUNDS, counts):
            for _ in range(n):
                child.observe(bound if bound != float("inf") else 2 * DURATION_BUCKETS[-1])
        return
    for bucket, n in zip(buckets, counts):
        if n:
            bucket.inc(n)
    total_value.inc(total)


class _NodeRegistry:
    """A one-collector registry for generate_latest (no global registration)."""

    def __init__(self, layer):
        self.layer = layer

    def collect(self):
        return NodeCollector(self.layer).collect()


class NodeCollector:
    """Scrape-time gauges about the node: identity, disks, index, heal and scrub state."""

    def __init__(self, layer):
        self.layer = layer

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
        from s3free import __version__
        layer = self.layer
        yield InfoMetricFamily("s3free_build", "The s3free version.", value={"version": __version__})
        yield InfoMetricFamily("s3free_io_engine", "The io engine in use.", value={"engine": layer.engine.name})
        yield GaugeMetricFamily("s3free_erasure_data_shards", "k of the RS(k,m) layout.", value=layer.k)
        yield GaugeMetricFamily("s3free_erasure_parity_shards", "m of the RS(k,m) layout.", value=layer.m)

        state = GaugeMetricFamily("s3free_disk_state", "1 for the state each disk slot is in, else 0.",
                                  labels=["slot", "path", "state"])
        usage = {name: GaugeMetricFamily(f"s3free_disk_{name}_bytes", f"{name.capitalize()} bytes of the "
                                         "filesystem holding each disk.", labels=["slot", "path"])
                 for name in ("total", "used", "free")}
        online = 0
        for disk in layer.disks.disks:
            labels = [str(disk.index + 1), str(disk.path)]
            online += disk.online
            for s in DISK_STATES:
                state.add_metric(labels + [s], 1.0 if disk.state == s else 0.0)
            if disk.online:
                try:
                    du = shutil.disk_usage(disk.path)
                except OSError:
                    continue
                for name in usage:
                    usage[name].add_metric(labels, getattr(du, name))
        yield state
        yield from usage.values()
        yield GaugeMetricFamily("s3free_disks_online", "Disks taking reads and writes.", value=online)
        yield from self._index_metrics(CounterMetricFamily, GaugeMetricFamily)

    def _index_metrics(self, Counter, Gauge):
        from s3free.heal.healer import REFILL_PREFIX, STATS_KEY
        from s3free.heal.scrubber import CURSOR_KEY, RESULT_KEY
        index = self.layer.index
        with index.read() as txn:
            heal = index.get(txn, "state", STATS_KEY) or {}
            last = index.get(txn, "state", RESULT_KEY) or {}
            cursor = index.get(txn, "state", CURSOR_KEY)
            refills = sum(1 for _ in index.items(txn, "state", REFILL_PREFIX))
            queued = unrecoverable = 0
            for _, entry in index.items(txn, "heal"):
                if entry.get("unrecoverable"):
                    unrecoverable += 1
                else:
                    queued += 1
            seg_total = seg_live = segments = 0
            for _, info in index.items(txn, "segments"):
                segments += 1
                seg_total += info.get("total", 0)
                seg_live += info.get("live", 0)
        info = index.env.info()
        psize = index.env.stat()["psize"]
        yield Gauge("s3free_heal_queue_depth", "Damaged parts and records waiting for repair.", value=queued)
        yield Gauge("s3free_unrecoverable_objects", "Heal queue entries that cannot be repaired "
                    "(more than m shards lost).", value=unrecoverable)
        yield Gauge("s3free_heal_refills_in_progress", "Replaced disks being refilled.", value=refills)
        yield Counter("s3free_heal_shards_repaired", "Shards rewritten by the healer.",
                      value=heal.get("shards_repaired", 0))
        yield Counter("s3free_heal_records_repaired", "Small-object records rewritten by the healer.",
                      value=heal.get("records_repaired", 0))
        yield Counter("s3free_heal_written_bytes", "Bytes written by the healer.", value=heal.get("bytes_written", 0))
        yield Gauge("s3free_scrub_running", "1 while a scrub pass is under way (a cursor is saved).",
                    value=1.0 if cursor else 0.0)
        if last:
            yield Gauge("s3free_scrub_last_pass_end_timestamp_seconds", "When the last scrub pass finished.",
                        value=last.get("finished", 0.0))
            yield Gauge("s3free_scrub_last_pass_duration_seconds", "How long the last scrub pass took.",
                        value=max(0.0, last.get("finished", 0.0) - last.get("started", 0.0)))
            for name, text in (("objects_checked", "Objects verified"), ("bytes_read", "Bytes read"),
                               ("shards_damaged", "Damaged shards found"), ("shards_repaired", "Shards repaired"),
                               ("unrecoverable", "Unrecoverable objects found")):
                yield Gauge(f"s3free_scrub_last_pass_{name}", f"{text} by the last scrub pass.",
                            value=last.get(name, 0))
        yield Gauge("s3free_lmdb_used_bytes", "Bytes of the LMDB map in use.", value=(info["last_pgno"] + 1) * psize)
        yield Gauge("s3free_lmdb_map_bytes", "Bytes reserved for the LMDB map.", value=info["map_size"])
        yield Gauge("s3free_segments", "Small-object segments.", value=segments)
        seg = Gauge("s3free_segment_bytes", "Bytes in small-object segments, total and still live.", labels=["kind"])
        seg.add_metric(["total"], seg_total)
        seg.add_metric(["live"], seg_live)
        yield seg
        yield Gauge("s3free_segment_live_ratio", "Live bytes / total bytes over all segments (1 when empty).",
                    value=seg_live / seg_total if seg_total else 1.0)
