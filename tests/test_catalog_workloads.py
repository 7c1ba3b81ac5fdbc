"""The workload catalog against the MLCommons reference figures it was built from."""

from __future__ import annotations

import csv
import re

import pytest

from tokenfleet import catalog
from tokenfleet.catalog import WorkloadSpec
from tokenfleet.cli.catalog import workload_provenance
from tokenfleet.errors import UnknownIdError
from tokenfleet.perf.validate import packaged_results_path

RESULTS_CSV = packaged_results_path()
REQUIRED = ["mlperf-llama2-70b", "mlperf-llama3.1-405b", "mlperf-llama3.1-8b", "mlperf-deepseek-r1",
            "mlperf-gpt-oss-120b", "mlperf-mixtral-8x7b", "sharegpt", "single-stream", "isl2000-decode-only"]
# MLCommons reference mean output lengths (tokens per sample): llama2-70b and llama3.1-405b READMEs,
# deepseek-r1 TOKENS_PER_SAMPLE in tools/submission/submission_checker.py, gpt-oss-120b TEST09 reference
MLPERF_OUTPUT_MEAN = {"mlperf-llama2-70b": 294.45, "mlperf-llama3.1-405b": 684.68,
                      "mlperf-deepseek-r1": 3886.2274, "mlperf-gpt-oss-120b": 1278.20,
                      "mlperf-mixtral-8x7b": 144.84}


def test_required_ids_present() -> None:
    assert set(REQUIRED) == {w.workload_id for w in catalog.all_workloads()}


def test_decode_only_workload_is_a_decode_node_at_2000_token_prompts() -> None:
    w = catalog.workload("isl2000-decode-only")
    assert w.decode_only and w.input_tokens_mean == 2000
    assert not any(x.decode_only for x in catalog.all_workloads() if x.workload_id != w.workload_id)
    assert not catalog.workload("isl2000-osl100").decode_only  # a parsed fixed-length shape prefills


def test_every_published_result_workload_resolves() -> None:
    with RESULTS_CSV.open(newline="", encoding="utf-8") as f:
        ids = {r["workload_id"] for r in csv.DictReader(f) if r["workload_id"]}
    assert ids
    for workload_id in ids:
        assert catalog.workload(workload_id).workload_id == workload_id


@pytest.mark.parametrize("w", catalog.all_workloads(), ids=lambda w: w.workload_id)
def test_shapes_are_consistent(w: WorkloadSpec) -> None:
    assert w.input_tokens_mean > 0 and w.output_tokens_mean > 0
    for mean, cap in ((w.input_tokens_mean, w.input_tokens_max), (w.output_tokens_mean, w.output_tokens_max)):
        assert cap == 0 or cap >= mean  # 0 = max not published
    assert w.source_url.startswith("https://")
    assert w.description and w.notes


def test_mlperf_output_means_match_the_mlcommons_references() -> None:
    for workload_id, mean in MLPERF_OUTPUT_MEAN.items():
        assert catalog.workload(workload_id).output_tokens_mean == pytest.approx(mean, abs=0.01)


def test_llama31_8b_output_mean_derived_from_reference_characters() -> None:
    # reference gen_len 8,167,644 characters over 13,368 summaries; Llama-3: ~4.59 characters per token
    w = catalog.workload("mlperf-llama3.1-8b")
    assert w.output_tokens_mean == pytest.approx(8_167_644 / 13_368 / 4.59, abs=1)
    assert workload_provenance(w)[1]["output_tokens_mean"] == "DERIVED"


def test_fixed_length_workloads_are_exact() -> None:
    for w in catalog.all_workloads():
        m = re.fullmatch(r"isl(\d+)-osl(\d+)", w.workload_id)
        if not m:
            continue
        isl, osl = int(m.group(1)), int(m.group(2))
        assert (w.input_tokens_mean, w.output_tokens_mean) == (isl, osl)
        assert (w.input_tokens_max, w.output_tokens_max) == (isl, osl)


def test_caps_published_by_mlcommons() -> None:
    assert catalog.workload("mlperf-llama2-70b").input_tokens_max == 1024  # processorca --seqlen_limit=1024
    assert catalog.workload("mlperf-llama2-70b").output_tokens_max == 1024
    assert catalog.workload("mlperf-gpt-oss-120b").output_tokens_max == 10240  # performance generation config
    ds = catalog.workload("mlperf-deepseek-r1")
    assert ds.output_tokens_max == 32768 and ds.output_tokens_max > ds.output_tokens_mean
    # NVIDIA's v5.0 submission builds its 405B engines for max_input_len 20000; every sample must run
    big = catalog.workload("mlperf-llama3.1-405b")
    assert big.input_tokens_max == 20000 and big.input_tokens_max > 2 * big.input_tokens_mean
    assert "UPPER BOUND" in big.notes


def test_estimates_are_flagged() -> None:
    # MLCommons publishes no input means for these datasets: each is an estimate and says so
    for workload_id in ("mlperf-llama2-70b", "mlperf-llama3.1-405b", "mlperf-llama3.1-8b",
                        "mlperf-deepseek-r1", "mlperf-gpt-oss-120b", "mlperf-mixtral-8x7b"):
        sources, flags = workload_provenance(catalog.workload(workload_id))
        assert flags["input_tokens_mean"] == "ESTIMATE", workload_id
        assert sources["input_tokens_mean"].startswith("https://")
    assert workload_provenance(catalog.workload("isl1024-osl1024"))[1] == {}


def test_single_stream_follows_artificial_analysis() -> None:
    w = catalog.workload("single-stream")
    assert (w.input_tokens_mean, w.output_tokens_mean) == (1000, 1000)
    assert "artificialanalysis.ai" in w.source_url


def test_unknown_id_names_the_closest() -> None:
    with pytest.raises(UnknownIdError) as err:
        catalog.workload("mlperf-llama2")
    assert "mlperf-llama2-70b" in err.value.closest


@pytest.mark.parametrize(("wid", "isl", "osl"), [("isl1000-osl1000", 1000, 1000), ("isl10000-osl1500", 10000, 1500),
                                                 ("isl128-osl2048", 128, 2048), ("isl7-osl3", 7, 3)])
def test_fixed_length_ids_are_parsed_for_any_lengths(wid: str, isl: int, osl: int) -> None:
    w = catalog.workload(wid)
    assert (w.workload_id, w.input_tokens_mean, w.output_tokens_mean) == (wid, isl, osl)
    assert (w.input_tokens_max, w.output_tokens_max) == (isl, osl)


@pytest.mark.parametrize("wid", ["isl0-osl10", "isl10-osl", "isl-1-osl5", "isl10osl10", "ISL10-OSL10"])
def test_malformed_fixed_length_ids_are_unknown(wid: str) -> None:
    with pytest.raises(UnknownIdError):
        catalog.workload(wid)


def test_sharegpt_cites_its_length_statistics() -> None:
    w = catalog.workload("sharegpt")
    assert (w.input_tokens_mean, w.output_tokens_mean) == (161.0, 338.0)
    assert "arxiv.org" in w.source_url and "DERIVED" in w.notes
