"""perf/servers.other_servers: what perf/run.py warns about before it measures — servers and
benchmarks already running beside it, one entry per process tree."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from serverkit import wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "perf"))
import servers  # noqa: E402


def _start(argv0: str, script: str) -> subprocess.Popen:
    """A bash whose argv[0] is `argv0`, running `script`."""
    return subprocess.Popen([argv0, "-c", script], executable="/bin/bash", start_new_session=True)


@pytest.fixture
def procs():
    started: list[subprocess.Popen] = []
    yield started
    for p in started:
        subprocess.run(["pkill", "-KILL", "-s", str(p.pid)], check=False)
        p.wait(timeout=5)


def test_a_granian_tree_is_reported_once_by_its_root(procs):
    # the root and a child that both look like Granian (as a master and its forked workers do)
    root = _start("granian", "exec -a granian sleep 30 & exec -a granian sleep 30 & wait")
    procs.append(root)
    found = wait_for(lambda: [pid for pid, _ in servers.other_servers() if pid == root.pid], 5, "the fake Granian")
    assert found == [root.pid]
    children = [int(p) for p in Path(f"/proc/{root.pid}/task/{root.pid}/children").read_text().split()]
    assert len(children) == 2
    reported = {pid for pid, _ in servers.other_servers()}
    assert not reported & set(children)


def test_an_s3free_command_is_reported_with_its_command_line(procs):
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "s3free"],
                         start_new_session=True)
    procs.append(p)
    # argv[2] is the script text, not "s3free": only the first three words count, so this
    # is not taken for an s3free command ...
    time.sleep(0.2)
    assert p.pid not in {pid for pid, _ in servers.other_servers()}
    # ... while a console script named s3free (argv[1], as `.venv/bin/s3free server` runs) is
    q = subprocess.Popen([sys.executable, "-", "s3free", "server"], stdin=subprocess.PIPE, start_new_session=True)
    procs.append(q)
    q.stdin.write(b"import time; time.sleep(30)\n")
    q.stdin.close()
    got = wait_for(lambda: [cmd for pid, cmd in servers.other_servers() if pid == q.pid], 5, "the fake s3free")
    assert got and "s3free server" in got[0]


def test_nothing_else_is_reported(procs):
    p = subprocess.Popen(["sleep", "30"], start_new_session=True)
    procs.append(p)
    time.sleep(0.2)
    assert p.pid not in {pid for pid, _ in servers.other_servers()}
