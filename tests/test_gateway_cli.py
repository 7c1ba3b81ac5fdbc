"""``tokenfleet serve / emulate / usage / hash-key`` at start-up: exit 2 for bad input, 3 for the environment,
one clear line and no traceback; ``serve --check`` validates what ``serve`` would use."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from tokenfleet.cli import main
from tokenfleet.gateway.auth import verify_key


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(args)
        raise SystemExit(0)
    captured = capsys.readouterr()
    code = done.value.code if isinstance(done.value.code, int) else 0
    return code, captured.out + captured.err


def gateway_file(tmp_path: Path, **pool: Any) -> Path:
    data = {"ledger": {"url": f"sqlite:///{tmp_path / 'l.db'}"},
            "pools": [{"name": "p", "model": "llama-3.1-8b", "hardware": "h100",
                       "backends": [{"url": "http://127.0.0.1:9001"}], **pool}]}
    path = tmp_path / "gw.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_serve_check_accepts_a_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["serve", str(gateway_file(tmp_path)), "--check"], capsys)
    assert code == 0 and "ok: 1 pools, 1 backends" in out and "journal" in out


@pytest.mark.parametrize(("pool", "needle"), [
    ({"backends": [{"url": "ftp://127.0.0.1:21"}]}, "http(s)://"),
    ({"backends": [{"url": "http://127.0.0.1:99999"}]}, "port outside 1-65535"),
    ({"hardware": "h1000"}, "gw.yaml: pools.0.hardware: unknown hardware id 'h1000'"),
    ({"model": "llama-9"}, "gw.yaml: pools.0.model: unknown model id 'llama-9'"),
    ({"tiers": []}, "tiers must name at least one tier"),
])
def test_serve_check_refuses_bad_input_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    pool: dict[str, Any], needle: str) -> None:
    code, out = run(["serve", str(gateway_file(tmp_path, **pool)), "--check"], capsys)
    assert code == 2 and needle in out and "Traceback" not in out


def test_environment_problems_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = gateway_file(tmp_path)
    data = yaml.safe_load(cfg.read_text())
    data["ledger"]["url"] = "postgresql://nobody@127.0.0.1:1/none"  # nothing listens on port 1
    bad_db = tmp_path / "pg.yaml"
    bad_db.write_text(yaml.safe_dump(data))
    code, out = run(["serve", str(bad_db), "--check"], capsys)
    assert code == 3 and "cannot open ledger" in out and "Traceback" not in out
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        for args in (["serve", str(cfg), "--port", str(busy.getsockname()[1])],
                     ["emulate", "--hardware", "h100", "--model", "llama-3.1-8b", "--port",
                      str(busy.getsockname()[1])]):
            code, out = run(args, capsys)
            assert code == 3 and "cannot listen on" in out and "Traceback" not in out
    finally:
        busy.close()


@pytest.mark.parametrize("args", [["--error-status", "999"], ["--replicas", "1e8"], ["--replicas", "100000000"],
                                  ["--port", "0"], ["--stall-ms", "inf"]])
def test_emulate_refuses_nonsense(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["emulate", "--hardware", "h100", "--model", "llama-3.1-8b", *args], capsys)
    assert code == 2 and "Traceback" not in out


def test_usage_without_a_ledger_and_hash_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(["usage", "--ledger", f"sqlite:///{tmp_path / 'none.db'}"], capsys)
    assert code == 2 and "no such ledger file" in out
    code, out = run(["hash-key", "tf-secret"], capsys)
    lines = dict(line.split(":", 1) for line in out.strip().splitlines())
    assert code == 0 and verify_key("tf-secret", lines["hash"].strip())
