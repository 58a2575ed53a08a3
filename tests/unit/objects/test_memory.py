"""Memory is bounded: a 2 GiB streamed PUT and GET grow the process by < 64 MiB."""
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent / "scripts" / "memory_probe.py"


def test_two_gib_put_and_get_stay_bounded(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), str(2 << 30)], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    fields = dict(item.split("=") for item in proc.stdout.split())
    growth_mib = (int(fields["peak_kib"]) - int(fields["base_kib"])) / 1024
    print(f"RSS growth over a 2 GiB PUT + GET: {growth_mib:.1f} MiB")
    assert growth_mib < 64, proc.stdout
