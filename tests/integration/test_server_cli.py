"""`s3free server` fails fast with one line; settings load from YAML and S3FREE_* (config module)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from s3free import config

BIN = Path(sys.executable).parent


def run(args, tmp_path, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3FREE_")}
    env.update({"S3FREE_ROOT_USER": "root", "S3FREE_ROOT_PASSWORD": "rootsecret1", **(env_extra or {})})
    r = subprocess.run([str(BIN / "s3free"), "server", *args], env=env, cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)
    return r.returncode, r.stderr.strip()


def test_fail_fast(tmp_path):
    code, err = run([str(tmp_path / "d{1...3}"), "--ec", "6+3"], tmp_path)
    assert code == 1 and "needs at least 9 disks" in err and len(err.splitlines()) == 1
    (tmp_path / "cfg.yaml").write_text("disks: [a]\nbogus_key: 1\n")
    code, err = run(["--config", str(tmp_path / "cfg.yaml")], tmp_path)
    assert code == 1 and "bogus_key" in err and len(err.splitlines()) == 1
    ro = tmp_path / "ro"
    ro.mkdir()
    for i in range(1, 4):
        (ro / f"d{i}").mkdir()
    os.chmod(ro / "d2", 0o500)
    if os.geteuid() != 0:  # root writes anywhere
        code, err = run([str(ro / "d{1...3}"), "--ec", "2+1", "--meta-dir", str(ro / "m")], tmp_path)
        assert code == 1 and "not writable" in err
    os.chmod(ro / "d2", 0o700)
    # two deployments, disks mixed
    for name in ("x", "y"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.listen(1)  # the port is in use: the disks get formatted, then the start fails on the port
            code, err = run([str(tmp_path / name / "d{1...3}"), "--ec", "2+1", "--meta-dir",
                             str(tmp_path / name / "m"), "--address", f"127.0.0.1:{port}"], tmp_path)
            assert code == 1 and "already in use" in err
    mixed = [str(tmp_path / "x" / "d1"), str(tmp_path / "y" / "d2"), str(tmp_path / "x" / "d3")]
    code, err = run([*mixed, "--ec", "2+1", "--meta-dir", str(tmp_path / "x" / "m")], tmp_path)
    assert code == 1 and "another deployment" in err


def test_config_loading(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("disks: ['/a/d{1...3}']\nec: 2+1\nworkers: 3\nusers: {alice: alicesecret}\n")
    s = config.load(str(cfg), env={"S3FREE_ADDRESS": "0.0.0.0:9100", "S3FREE_USERS": "bob:bobsecret1"})
    assert s.disk_paths() == ["/a/d1", "/a/d2", "/a/d3"] and (s.k, s.m) == (2, 1) and s.workers == 3
    assert s.port == 9100 and s.users == {"bob": "bobsecret1"}
    again = config.load(None, env=config.to_env(s))
    assert again == s
    assert config.Settings().disk_paths()[0] == "s3free-data/disk1"
    for env, key in [({"S3FREE_WORKERS": "many"}, "workers"), ({"S3FREE_EC": "6"}, "ec"),
                     ({"S3FREE_NOPE": "1"}, "nope"), ({"S3FREE_ADDRESS": "x"}, "address")]:
        with pytest.raises(config.ConfigError, match=key):
            config.load(None, env=env)


def test_generated_credentials(tmp_path):
    from s3free import credentials
    pair = credentials.generate(str(tmp_path / "meta"))
    assert credentials.load(str(tmp_path / "meta")) == pair
    assert os.stat(credentials.path_for(str(tmp_path / "meta"))).st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        credentials.generate(str(tmp_path / "meta"))
