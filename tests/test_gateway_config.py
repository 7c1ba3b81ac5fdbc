"""GATEWAY.yaml validation and SLO-class resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokenfleet.errors import ScenarioError
from tokenfleet.gateway.classify import classify
from tokenfleet.gateway.config import load_config, parse_config
from tokenfleet.gateway.openai_models import ApiError

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
POOL = {"name": "p", "model": "m", "backends": [{"url": "http://127.0.0.1:1"}]}


@pytest.mark.parametrize("name", ["gateway.yaml", "gateway-hybrid.yaml"])
def test_examples_load(name: str) -> None:
    cfg = load_config(EXAMPLES / name)
    assert cfg.pools and all(p.backends for p in cfg.pools)


@pytest.mark.parametrize(("data", "where"), [
    ({"pools": []}, "pools"),
    ({"pools": [{**POOL, "backends": []}]}, "pools.0.backends"),
    ({"pools": [{**POOL, "usd_per_mtok_out": -1}]}, "pools.0.usd_per_mtok_out"),
    ({"pools": [POOL], "keys": [{"id": "a", "hash": "not-a-kdf-hash"}]}, "keys.0.hash"),
    ({"pools": [POOL], "keys": [{"id": "a", "sha256": "0" * 64}]}, "keys.0"),  # bare SHA-256: re-hash
    ({"pools": [{**POOL, "backends": [{"url": "ftp://h:21"}]}]}, "pools.0.backends.0.url"),
    ({"pools": [{**POOL, "backends": [{"url": "http://:80"}]}]}, "pools.0.backends.0.url"),
    ({"pools": [{**POOL, "backends": [{"url": "http://h:70000"}]}]}, "pools.0.backends.0.url"),
    ({"pools": [{**POOL, "backends": [{"url": "http://h:0"}]}]}, "pools.0.backends.0.url"),
    ({"pools": [{**POOL, "tiers": []}]}, "pools.0"),
    ({"pools": [{**POOL, "backends": [{"url": "http://h:1", "name": "x"}, {"url": "http://h:2", "name": "x"}]}]},
     "pools.0"),
    ({"pools": [POOL], "listen": {"port": 0}}, "listen.port"),
    ({"pools": [POOL], "listen": {"port": 65536}}, "listen.port"),
    ({"pools": [POOL], "ledger": {"url": "mysql://x/y"}}, "ledger.url"),
    ({"pools": [POOL], "classes": {"x": {"ttft_ms": float("inf")}}}, "classes.x.ttft_ms"),
    ({"pools": [POOL], "keys": [{"id": "a", "hash": "scrypt$1$1$1$" + "0" * 32 + "$" + "0" * 64,
                                 "budget_usd": -1}]}, "keys.0.budget_usd"),
    ({"pools": [{**POOL, "ttfb_timeout_s": float("nan")}]}, "pools.0.ttfb_timeout_s"),
    ({"pools": [POOL], "max_n": 0}, "max_n"),
    ({"pools": [POOL], "classes": {"x": {"tier": "platinum"}}}, "classes.x.tier"),
    ({"pools": [POOL], "bogus": 1}, "bogus"),
])
def test_bad_config_names_the_field(data: dict[str, object], where: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse_config(data, "gw.yaml")
    assert f"gw.yaml: {where}" in str(exc.value)


def test_duplicate_pools_and_unknown_policy_are_refused() -> None:
    with pytest.raises(ScenarioError, match="repeated"):
        parse_config({"pools": [POOL, POOL]})
    with pytest.raises(ScenarioError, match="routing policy"):
        parse_config({"pools": [POOL], "routing": {"policy": "teleport"}})


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("pools: [unclosed")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_config(bad)


def test_classify_by_suffix_header_and_default() -> None:
    cfg = parse_config({"pools": [POOL]})
    assert classify("m:fast", {}, cfg).name == "fast"
    assert classify("m:fast", {}, cfg).tier == "ultra-low-latency"
    assert classify("m:batch", {}, cfg).ttft_slo_ms is None
    assert classify("m", {}, cfg).name == "standard"
    assert classify("m", {"x-slo-tier": "ultra-low-latency"}, cfg).name == "fast"
    rc = classify("m", {"x-slo-ttft-ms": "150", "x-slo-tpot-ms": "12"}, cfg)
    assert (rc.model, rc.ttft_slo_ms, rc.tpot_slo_ms) == ("m", 150.0, 12.0)


@pytest.mark.parametrize(("model", "headers", "status"), [
    ("m:gold", {}, 404),
    ("m", {"x-slo-class": "gold"}, 400),
    ("m", {"x-slo-ttft-ms": "soon"}, 400),
    ("m", {"x-slo-ttft-ms": "-5"}, 400),
    ("m", {"x-slo-ttft-ms": "inf"}, 400),
    ("m", {"x-slo-ttft-ms": "nan"}, 400),
    ("m", {"x-slo-tpot-ms": "1e400"}, 400),
])
def test_classify_rejects_bad_classes(model: str, headers: dict[str, str], status: int) -> None:
    with pytest.raises(ApiError) as exc:
        classify(model, headers, parse_config({"pools": [POOL]}))
    assert exc.value.status == status


def test_ttfb_timeout_comes_from_the_pool_slo() -> None:
    cfg = parse_config({"pools": [{**POOL, "tiers": ["standard"]}, {**POOL, "name": "q", "tiers": ["batch"]},
                                  {**POOL, "name": "r", "ttfb_timeout_s": 0.5}]})
    std, batch, pinned = cfg.pools
    assert cfg.ttfb_timeout_s(std) == 6.0  # 3 x the standard class's 2,000 ms TTFT SLO
    assert cfg.ttfb_timeout_s(batch) == 5.0  # the batch class has no TTFT SLO
    assert cfg.ttfb_timeout_s(pinned) == 0.5


def test_keys_scoped_to_unknown_models_or_pools_are_refused() -> None:
    from tokenfleet.gateway.auth import hash_key

    with pytest.raises(ScenarioError, match="unknown models or pools"):
        parse_config({"pools": [POOL], "keys": [{"id": "a", "hash": hash_key("k"), "models": ["nope"]}]})
