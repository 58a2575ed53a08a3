"""Fixtures of the integration suite: a real s3free server over HTTP and over HTTPS per
session (started exactly as users start it; see serverkit.py), and fresh buckets."""
from __future__ import annotations

import uuid

import pytest

from serverkit import *  # noqa: F401,F403  (tests import names from here too)
from serverkit import Helpers, empty_and_delete, start_server, stop_server


@pytest.fixture(scope="session")
def http_server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("http"))
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def https_server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("https"), tls=True)
    yield server
    stop_server(server)


@pytest.fixture(scope="session", params=["http", "https"])
def server(request):
    return request.getfixturevalue(f"{request.param}_server")


@pytest.fixture
def bucket(server):
    """A fresh bucket (emptied and removed afterwards)."""
    s3 = server.client()
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    empty_and_delete(s3, name)


@pytest.fixture
def http_bucket(http_server):
    s3 = http_server.client()
    name = f"h-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    yield name
    empty_and_delete(s3, name)


@pytest.fixture(scope="session")
def h():
    return Helpers
