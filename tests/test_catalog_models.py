"""Model architectures: derived parameter counts against the published totals, KV sizes by hand."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest

from tokenfleet import catalog
from tokenfleet.errors import UnknownIdError

REQUIRED = ["llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "llama-3.3-70b", "llama-4-scout",
            "llama-4-maverick", "qwen3-32b", "qwen3-235b-a22b", "deepseek-r1", "gpt-oss-120b", "gpt-oss-20b",
            "mixtral-8x7b", "qwen3-coder-480b-a35b", "qwen3.5-397b-a17b"]


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


def test_linear_attention_layers_hold_a_fixed_state_not_a_growing_kv() -> None:
    q35 = catalog.model("qwen3.5-397b-a17b")  # 15 gated softmax layers of 2 KV heads x 256, 45 Gated DeltaNet
    assert q35.softmax_attn_layers == 15 and q35.linear_attn_layers == 45
    assert q35.kv_elements_per_token() == 15 * 2 * 2 * 256
    assert q35.linear_state_elements() == 45 * 64 * 128 * 128  # value heads x key dim x value dim per layer
    assert q35.attn_flops_per_context_token() == 4.0 * 15 * 32 * 256
    # the output gate doubles the query projection of a softmax layer
    plain = dataclasses.replace(q35, attn_output_gate=False)
    assert q35.attn_params_per_layer - plain.attn_params_per_layer == 4096 * 32 * 256
    coder = catalog.model("qwen3-coder-480b-a35b")
    assert coder.linear_state_elements() == 0 and coder.softmax_attn_layers == coder.n_layers


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
