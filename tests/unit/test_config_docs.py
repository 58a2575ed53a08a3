"""Settings: precedence, refusals, SIGHUP reload rules, and docs that cannot drift from the schema."""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
from pathlib import Path

import pytest
import yaml

from s3free import config

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {f.name: getattr(config.Settings(), f.name) for f in dataclasses.fields(config.Settings)}


def test_reference_yaml_lists_every_setting_at_its_default():
    data = yaml.safe_load((ROOT / "configs" / "reference.yaml").read_text())
    assert list(data) == list(FIELDS)
    assert data == FIELDS
    text = (ROOT / "configs" / "reference.yaml").read_text()
    for name in FIELDS:   # each key has a comment above it
        assert re.search(rf"#[^\n]*\n(#[^\n]*\n)*{name}:", text), name


def test_configuration_md_table_matches_settings():
    text = (ROOT / "docs" / "configuration.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \| `(S3FREE_\w+)` \| (yes)? ?\|", text, re.M)
    assert [r[0] for r in rows] == list(FIELDS)
    for name, default, env, reload in rows:
        assert json.loads(default) == FIELDS[name] and env == f"S3FREE_{name.upper()}"
        assert bool(reload) == (name in config.RELOADABLE), name


@pytest.mark.parametrize("name", ["laptop", "server", "reference"])
def test_sample_configs_load(name):
    s = config.load(str(ROOT / "configs" / f"{name}.yaml"), env={})
    assert {"laptop": (2, 1, 3), "server": (6, 3, 9), "reference": (6, 3, 9)}[name] == (s.k, s.m, len(s.disk_paths()))


def test_precedence_defaults_file_env_flags(tmp_path):
    from s3free.commands.server import settings_from
    cfg = tmp_path / "c.yaml"
    cfg.write_text("ec: 4+2\nscrub_rate_mb: 10\nheal_rate_mb: 20\nlog_level: warning\nregion: eu-west-1\n")
    s = config.load(str(cfg), env={"S3FREE_HEAL_RATE_MB": "30", "S3FREE_LOG_LEVEL": "error"})
    assert s.address == "127.0.0.1:9000"                 # default
    assert (s.ec, s.scrub_rate_mb, s.region) == ("4+2", 10.0, "eu-west-1")   # file
    assert (s.heal_rate_mb, s.log_level) == (30.0, "error")                    # env over file
    args = argparse.Namespace(config=str(cfg), disks=[], address=None, workers=1, ec="2+1", meta_dir=None,
                              tls_cert=None, tls_key=None, log_level="debug")
    import os
    old = dict(os.environ)
    try:
        os.environ["S3FREE_LOG_LEVEL"] = "error"
        flags = settings_from(args)                      # flags over env
    finally:
        os.environ.clear()
        os.environ.update(old)
    assert (flags.ec, flags.log_level, flags.scrub_rate_mb) == ("2+1", "debug", 10.0)


@pytest.mark.parametrize("text,key", [
    ("scrub_rate: 5\n", "scrub_rate"), ("ec: six\n", "ec"), ("workers: -1\n", "workers"),
    ("log_level: loud\n", "log_level"), ("scrub_rate_mb: -3\n", "scrub_rate_mb"), ("auto_replace: maybe\n", "auto_replace"),
    ("disks: {a: 1}\n", "disks"), ("address: nowhere\n", "address"), ("io_engine: fast\n", "io_engine"),
    ("users: {bob: short}\n", "users"), ("- a list\n", "mapping"),
])
def test_bad_files_refused_naming_the_key(tmp_path, text, key):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    with pytest.raises(config.ConfigError, match=key):
        config.load(str(cfg), env={})


@pytest.mark.parametrize("env,key", [({"S3FREE_SCRUB_RATE": "5"}, "scrub_rate"), ({"S3FREE_HEAL_RATE_MB": "x"}, "heal_rate_mb"),
                                     ({"S3FREE_LOG_LEVEL": "verbose"}, "log_level")])
def test_bad_env_refused_naming_the_key(env, key):
    with pytest.raises(config.ConfigError, match=key):
        config.load(None, env=env)


def test_reload_from_file_takes_only_runtime_safe_keys(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("log_level: info\nscrub_rate_mb: 10\n")
    s = config.load(str(cfg), env={})
    env = {**config.to_env(s), "S3FREE_CONFIG": str(cfg),
           **config.reload_env(s, config.file_keys(str(cfg)), pinned=set())}
    assert env["S3FREE_RELOAD"] == "log_level,scrub_rate_mb"
    cfg.write_text("log_level: DEBUG\nscrub_rate_mb: oops\nec: 2+1\nheal_rate_mb: 1\n")
    worker = config.load(None, env=env)                 # what a respawned worker loads
    problems = config.reload_from_file(worker, env)
    assert worker.log_level == "debug" and worker.scrub_rate_mb == 10.0   # bad value: kept
    assert worker.ec == "6+3" and worker.heal_rate_mb == 256.0           # not reloadable / not from the file
    assert len(problems) == 1 and "scrub_rate_mb" in problems[0]
    assert config.reload_env(s, {"log_level", "ec"}, pinned={"log_level"}) == {"S3FREE_RELOAD": ""}
    cfg.write_text("log_level: [unclosed\n")
    assert "not valid YAML" in config.reload_from_file(worker, env)[0]
