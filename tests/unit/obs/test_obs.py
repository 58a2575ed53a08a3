"""JSON log lines and the progress line (terminal vs plain)."""
from __future__ import annotations

import io
import json
import logging

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
