"""ext/sigv4c.h parses request bytes straight off the network: fuzz it under ASan/UBSan.

The C harness (sigv4c_fuzz.c) is built against the same libcrypto the native core loads;
any out-of-bounds access or undefined behaviour aborts it. Correctness (agreeing with the
Python verifier) is test_sigv4_fast.py's job.
"""
import os
import subprocess
from pathlib import Path

import pytest

from s3free import _native

HERE = Path(__file__).parent
EXT = HERE.parents[2] / "ext"


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Path:
    exe = tmp_path_factory.mktemp("fuzz") / "sigv4c_fuzz"
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
                    f"-I{EXT}", str(HERE / "sigv4c_fuzz.c"), "-o", str(exe), _native.sha256_library()],
                   check=True, capture_output=True, text=True)
    return exe


@pytest.mark.parametrize("seed", [7, 1234567])
def test_random_requests_never_touch_memory_outside_their_bytes(harness, seed):
    run = subprocess.run([str(harness), "150000", str(seed)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:] or run.stdout
    counts = dict(zip(*[iter(run.stdout.split())] * 2))
    assert int(counts["parsed"]) > 1000          # deep enough: canonical request and HMAC reached
    assert counts["verified"] == "0"             # random keys never verify
