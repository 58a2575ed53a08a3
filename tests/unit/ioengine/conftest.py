import pytest

from s3free.ioengine import ThreadPoolEngine
from s3free.ioengine.uring import UringEngine


@pytest.fixture(params=["io_uring", "threadpool"])
def engine(request):
    """Every engine test runs twice: on io_uring and on the thread-pool fallback."""
    eng = UringEngine(entries=64) if request.param == "io_uring" else ThreadPoolEngine(workers=8)
    yield eng
    eng.close()
