"""JSON log lines and the progress line (terminal vs plain)."""
from __future__ import annotations

import io
import json
import logging
import os

import pytest

from s3free.commands.progress import Progress
from s3free.obs.logging import JsonFormatter, event


def test_json_lines_carry_fields():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("s3free.test-obs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    event(logger, logging.WARNING, "disk slot 2 is offline", event="disk_state", slot=2)
    logger.info("plain %s", "message")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "warning" and first["event"] == "disk_state" and first["slot"] == 2
    assert first["logger"] == "s3free.test-obs" and first["time"].endswith("Z") and first["pid"] > 0
    assert second["msg"] == "plain message" and "event" not in second


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_plain_lines_and_terminal_bar():
    plain = io.StringIO()
    p = Progress("scanning", "segments", stream=plain, every=3600)
    for i in range(10):
        p.update(i, 10)
    p.finish(10, 10)
    lines = plain.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("scanning: 100.0% 10/10 segments") and "ETA 0:00:00" in lines[-1]
    tty = _Tty()
    p = Progress("scanning", "segments", stream=tty)
    p.update(5, 10, final=True)
    assert "\r" in tty.getvalue() and "[############------------]  50.0%" in tty.getvalue() and "/s" in tty.getvalue()
    assert "elapsed" in Progress("x", stream=io.StringIO()).line(3, None)


@pytest.mark.parametrize("fields", [
    ("0123ABCD", "127.0.0.1", "GetObject", "GET", "bucket", "dir/ключ \"q\"\\\n\t\x01", 200, 0, 4096, "user", 1.25, ""),
    ("0123ABCD", None, None, "GET", None, None, 403, 17, 0, None, 0.0, "AccessDenied"),
    ("0123ABCD", "::1", "PutObject", "PUT", "b", "\udcff-surrogate", 499, 10 ** 12, 0, "u", 12345.67, "x"),
])
def test_the_access_line_is_what_the_json_formatter_writes(monkeypatch, fields):
    from s3free.obs import logging as obs_logging

    written = []
    monkeypatch.setattr(obs_logging.os, "write", lambda fd, data: written.append((fd, data)))
    monkeypatch.setattr(obs_logging.time, "time", lambda: 1764000000.5)
    names = ("request_id", "remote", "api", "method", "bucket", "key", "status", "bytes_in", "bytes_out", "user",
             "duration_ms", "error")
    obs_logging.write_access(*fields)
    record = logging.LogRecord("s3free.access", logging.INFO, __file__, 0, "request", None, None)
    record.created, record.process, record.fields = 1764000000.5, os.getpid(), dict(zip(names, fields))
    expected = (JsonFormatter().format(record) + "\n").encode("utf-8", "replace")
    assert written == [(2, expected)]
    assert json.loads(written[0][1])["key"] == fields[5] or "\udcff" in fields[5]
