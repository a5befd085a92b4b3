"""The configuration `python -m devstack run` gives supervisord, read by supervisord's own
parser: every process restarts when it dies, the servers start first, commands survive."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
from supervisor.datatypes import RestartUnconditionally
from supervisor.options import ServerOptions

from devstack.servers import ServerError
from devstack.supervision import STARTRETRIES, Program, config


def parsed(rundir: Path, servers: list[Program], suite: list[Program]) -> dict[str, Any]:
    conf = rundir / "supervisord.conf"
    conf.write_text(config(rundir, "secret", servers, suite))
    options = ServerOptions()
    options.configfile = str(conf)
    options.process_config(do_usage=False)
    return {g.name: g for g in options.process_group_configs}


def test_every_process_is_restarted_and_the_servers_start_first(tmp_path: Path) -> None:
    workdir = tmp_path / "redis data"
    workdir.mkdir()
    redis = Program(
        "redis", ["redis-server", "--save", "", "--dir", str(workdir)], log=workdir / "log"
    )
    user = Program("user1", ["python", "-m", "user_service"], {"GRPC_PORT": "50051"})
    groups = parsed(tmp_path, [redis], [user])
    servers, suite = groups["servers"], groups["suite"]
    assert servers.priority < suite.priority
    (server,) = servers.process_configs
    (replica,) = suite.process_configs
    assert server.autostart
    assert not replica.autostart  # the suite waits for the servers and migrations
    for process in (server, replica):
        assert process.autorestart is RestartUnconditionally
        assert process.startretries == STARTRETRIES
        assert process.killasgroup
    assert shlex.split(server.command) == redis.command
    assert server.stdout_logfile == str(workdir / "log")
    assert replica.environment == {"GRPC_PORT": "50051"}
    assert replica.stdout_logfile == "/dev/stdout"


def test_a_percent_sign_is_refused_rather_than_expanded(tmp_path: Path) -> None:
    with pytest.raises(ServerError, match="%"):
        config(
            tmp_path,
            "secret",
            [Program("redis", ["redis-server", "--dir", str(tmp_path / "5%")])],
            [],
        )
