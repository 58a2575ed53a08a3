"""Engine selection: auto picks io_uring here, falls back with one warning, can be forced."""
import os
import subprocess
import sys
import textwrap

import pytest

from s3free.ioengine import open_engine, uring_unavailable_reason


def test_auto_picks_io_uring_when_available(caplog):
    caplog.set_level("INFO", logger="s3free.ioengine")
    engine = open_engine("auto")
    try:
        if uring_unavailable_reason() is None:
            assert engine.name == "io_uring"
            assert "io engine: io_uring" in caplog.text
        else:
            assert engine.name == "threadpool"
    finally:
        engine.close()


def test_forced_by_argument_and_environment(monkeypatch):
    engine = open_engine("threadpool")
    assert engine.name == "threadpool"
    engine.close()
    monkeypatch.setenv("S3FREE_IO_ENGINE", "threadpool")
    engine = open_engine()
    assert engine.name == "threadpool"
    engine.close()
    with pytest.raises(ValueError, match="unknown io engine"):
        open_engine("spdk")


SECCOMP_BLOCKS_IO_URING = textwrap.dedent("""
    import ctypes, struct, sys, logging
    # A seccomp filter like a container profile's: io_uring_setup fails with EPERM.
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    NR_IO_URING_SETUP, EPERM = 425, 1
    def ins(code, jt, jf, k):
        return struct.pack("HBBI", code, jt, jf, k)
    prog = b"".join([
        ins(0x20, 0, 0, 0),                                   # ld [nr]
        ins(0x15, 0, 1, NR_IO_URING_SETUP),                  # jeq io_uring_setup
        ins(0x06, 0, 0, 0x00050000 | EPERM),                  # ret ERRNO(EPERM)
        ins(0x06, 0, 0, 0x7fff0000),                          # ret ALLOW
    ])
    buf = ctypes.create_string_buffer(prog)
    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    fprog = SockFprog(len(prog) // 8, ctypes.addressof(buf))
    assert libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    assert libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) == 0, ctypes.get_errno()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    from s3free.ioengine import open_engine
    engine = open_engine(sys.argv[1])
    print("ENGINE", engine.name)
    import os
    from s3free.ioengine import ops
    fd = os.open(sys.argv[2], os.O_RDWR | os.O_CREAT)
    print("WROTE", engine.run_checked([ops.write(fd, b"fallback", 0), ops.fsync(fd)]))
""")


def test_falls_back_when_seccomp_blocks_io_uring(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SECCOMP_BLOCKS_IO_URING, "auto", str(tmp_path / "f")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "ENGINE threadpool" in proc.stdout
    assert "WROTE [8, 0]" in proc.stdout
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("WARNING")]
    assert len(warnings) == 1 and "io_uring unavailable" in warnings[0], proc.stderr
    # forcing io_uring where it cannot work is a clear error, not a silent fallback
    proc = subprocess.run([sys.executable, "-c", SECCOMP_BLOCKS_IO_URING, "io_uring", str(tmp_path / "g")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "io_uring was requested but cannot be used" in proc.stderr
