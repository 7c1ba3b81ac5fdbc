"""Model architectures: derived parameter counts against the published totals, KV sizes by hand."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tokenfleet import catalog
from tokenfleet.errors import UnknownIdError

REQUIRED = ["llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "llama-3.3-70b", "llama-4-scout",
            "llama-4-maverick", "qwen3-32b", "qwen3-235b-a22b", "deepseek-r1", "gpt-oss-120b", "gpt-oss-20b",
            "mixtral-8x7b"]


@pytest.mark.parametrize("model_id", REQUIRED)
def test_derived_total_params_match_published(model_id: str) -> None:
    m = catalog.model(model_id)
    assert m.total_params == pytest.approx(m.published_total_params, rel=0.02)
    assert m.source_url.startswith("https://huggingface.co/")


@pytest.mark.parametrize("model_id", REQUIRED)
def test_derived_active_params_match_published(model_id: str) -> None:
    m = catalog.model(model_id)
    active = m.active_params
    if model_id.startswith("gpt-oss"):  # the model card counts active parameters without the unembedding
        active -= m.vocab * m.hidden
    assert active == pytest.approx(m.published_active_params, rel=0.03)


def test_kv_bytes_per_token_by_hand() -> None:
    llama = catalog.model("llama-3.1-70b")
    assert llama.kv_elements_per_token() == 80 * 2 * 8 * 128
    r1 = catalog.model("deepseek-r1")  # MLA caches the 512-d latent + 64-d rope key per layer
    assert r1.kv_elements_per_token() == 61 * (512 + 64)
    oss = catalog.model("gpt-oss-120b")  # only the 18 full-attention layers grow with context
    assert oss.kv_elements_per_token() == 18 * 2 * 8 * 64
    assert oss.sliding_kv_elements() == 18 * 2 * 8 * 64 * 128


def test_moe_structure() -> None:
    mav = catalog.model("llama-4-maverick")
    assert mav.n_moe_layers == 24 and mav.is_moe and not mav.is_mla
    assert catalog.model("deepseek-r1").is_mla
    assert not catalog.model("qwen3-32b").is_moe


def test_every_model_in_published_results_resolves() -> None:
    path = Path(__file__).resolve().parents[1] / "src" / "tokenfleet" / "perf" / "data" / "published_results.csv"
    ids = {r["model_id"] for r in csv.DictReader(path.open()) if r["model_id"]}
    for model_id in ids:
        catalog.model(model_id)


def test_unknown_model_names_the_closest() -> None:
    with pytest.raises(UnknownIdError) as err:
        catalog.model("llama-3.1-7b")
    assert "llama-3.1-8b" in str(err.value) and "did you mean" in str(err.value)


def test_every_model_states_its_native_precision_with_a_source() -> None:
    from tokenfleet.catalog import BYTES_PER_PARAM
    for m in catalog.all_models():
        assert m.native_precision in BYTES_PER_PARAM, m.model_id
        assert m.native_precision_source.startswith("https://huggingface.co/"), m.model_id
    # as released: gpt-oss ships MXFP4 experts, DeepSeek-R1 FP8 blocks, Llama 16-bit
    assert catalog.model("gpt-oss-120b").native_precision == "fp4"
    assert catalog.model("deepseek-r1").native_precision == "fp8"
    assert catalog.model("llama-3.3-70b").native_precision == "bf16"
