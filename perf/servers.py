"""Start and stop what perf/ measures: s3free (as users start it) and the raw ceiling app
(under the same Granian command line). Each runs in its own session and is stopped by its
own process group."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
PERF = Path(__file__).resolve().parent
ROOT_USER, ROOT_PASSWORD = "benchadmin", "benchsecret-123456"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    name: str
    endpoint: str
    process: subprocess.Popen
    log: Path


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith(("S3FREE_", "AWS_", "GRANIAN_"))}


def _wait(served: Served, url: str, workers: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if served.process.poll() is not None:
            raise RuntimeError(f"{served.name} exited ({served.process.returncode}): "
                               f"{served.log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500 and len(children(served.process.pid)) >= workers:
                    break
        except urllib.error.HTTPError as exc:   # any HTTP answer means the listener is up
            if exc.code < 500 and len(children(served.process.pid)) >= workers:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(served)
            raise RuntimeError(f"{served.name} did not become ready: {served.log.read_text()[-2000:]}")
        time.sleep(0.2)
    time.sleep(0.5)   # every worker has run its lifespan


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def other_servers() -> list[tuple[int, str]]:
    """Servers and load generators already running that a measurement would share the cores
    with: Granian processes and `s3free` commands, one entry per process tree (pid, command
    line). Idle servers left over from earlier experiments once ran beside a whole night's
    measurements unnoticed (docs/performance.md), so perf/run.py looks before and after."""
    found: dict[int, tuple[int, str]] = {}      # pid -> (parent pid, command line)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = [a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue        # gone meanwhile, or a kernel thread
        names = [os.path.basename(a) for a in argv[:3]]
        if "granian" in names or "s3free" in names:
            found[int(entry.name)] = (ppid, " ".join(argv)[:200])
    return sorted((pid, cmd) for pid, (ppid, cmd) in found.items() if ppid not in found)


def connections_per_worker(served: Served) -> list[int]:
    """Established client connections held by each worker, largest first. The kernel picks
    the worker that accepts a keep-alive connection, and it stays there: four uploads may
    land 2+2, 3+1 or 4+0."""
    port = int(served.endpoint.rsplit(":", 1)[1])
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] == "01":     # local port, ESTABLISHED
            inodes.add(f"socket:[{f[9]}]")
    counts = []
    for pid in children(served.process.pid):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        n = 0
        for fd in fds:
            try:
                n += os.readlink(f"/proc/{pid}/fd/{fd}") in inodes
            except OSError:
                pass
        counts.append(n)
    return sorted(counts, reverse=True)


def start_s3free(base: Path, workers: int, ec: str = "6+3", disks: int = 9) -> Served:
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = _clean_env()
    env.update(S3FREE_ROOT_USER=ROOT_USER, S3FREE_ROOT_PASSWORD=ROOT_PASSWORD)
    args = [str(BIN / "s3free"), "server", str(base / f"disk{{1...{disks}}}"), "--address", f"127.0.0.1:{port}",
            "--workers", str(workers), "--ec", ec, "--meta-dir", str(base / "meta")]
    log = base / "s3free.log"
    proc = subprocess.Popen(args, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    served = Served("s3free", f"http://127.0.0.1:{port}", proc, log)
    _wait(served, f"{served.endpoint}/_s3free/health/ready", workers)
    return served


def ceiling_command(port: int, workers: int) -> list[str]:
    """`s3free server`'s own Granian command line, serving perf/ceiling_app.py instead."""
    from s3free import config
    from s3free.commands.server import granian_command

    settings = config.Settings(address=f"127.0.0.1:{port}", workers=workers)
    cmd = granian_command(settings)
    if cmd[-1] != "s3free.app:app":
        raise RuntimeError(f"unexpected Granian command line from s3free: {cmd}")
    return cmd[:-1] + ["ceiling_app:app"]      # importable through PYTHONPATH=perf/


def start_ceiling(base: Path, workers: int, size: int) -> Served:
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = _clean_env()
    env["S3FREE_CEILING_SIZE"] = str(size)
    env["PYTHONPATH"] = os.pathsep.join([str(PERF)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    log = base / f"ceiling-{size}.log"
    proc = subprocess.Popen(ceiling_command(port, workers), env=env, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    served = Served("ceiling", f"http://127.0.0.1:{port}", proc, log)
    _wait(served, f"{served.endpoint}/ready/x?size=1", workers)
    return served


def stop(served: Served) -> None:
    proc = served.process
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)   # the session we started: the server and its workers
            proc.wait(timeout=5)
