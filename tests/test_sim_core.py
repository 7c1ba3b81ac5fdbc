"""Choosing the simulator core, and the compiled core's step-time mirror of the performance model."""

from __future__ import annotations

import numpy as np
import pytest

from tokenfleet import perf
from tokenfleet.errors import InputError
from tokenfleet.sim import core, steptime

# the step model of each core there is: pure Python always, the compiled twin where it is built
STEP_MODELS = [steptime.StepModel] + ([mods["sim.steptime"].StepModel] if (mods := core.compiled_status()[0]) else [])


def test_python_core_on_request_and_unknown_names_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    c = core.load_core("python")
    assert c.name == "python" and c.replica.__module__ == "tokenfleet.sim.replica"
    monkeypatch.setenv("TOKENFLEET_CORE", "python")
    assert core.load_core().name == "python"
    with pytest.raises(InputError, match="unknown simulator core 'fast'"):
        core.load_core("fast")


def test_a_twin_built_from_other_sources_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    core.compiled_status.cache_clear()
    monkeypatch.setattr(core, "source_digest", lambda module: "edited since the build")
    try:
        mods, why = core.compiled_status()
        assert mods is None
        assert "out of date" in why or "not built" in why
        c = core.load_core("auto")
        assert c.name == "python" and c.note == why
        with pytest.raises(InputError, match="compiled core"):
            core.load_core("compiled")
    finally:
        monkeypatch.undo()
        core.compiled_status.cache_clear()


def test_digest_covers_the_source_and_its_types() -> None:
    for m in core.CORE_MODULES:
        d = core.source_digest(m)
        assert len(d) == 64
    assert core.source_digest("sim.loop") != core.source_digest("sim.replica")


@pytest.mark.parametrize("step_model", STEP_MODELS, ids=lambda c: c.__module__)
@pytest.mark.parametrize(
    ("model", "hw"),
    [
        ("llama-3.1-8b", "h100"),  # dense, one chip
        ("llama-3.3-70b", "gb200-nvl72"),
        ("deepseek-r1", "b200"),  # MoE: experts touched, per-pair overhead
        ("llama-3.3-70b", "cs3"),  # wafer-scale pipeline
        ("llama-3.1-8b", "groq-lpu"),
        ("llama-3.1-8b", "mi300x"),
        ("llama-3.1-8b", "sn40l"),  # three-tier memory
        ("qwen3.5-397b-a17b", "gb300-nvl72"),  # linear-attention layers
    ],
)
def test_step_model_gives_the_deployments_own_seconds(step_model: type, model: str, hw: str) -> None:
    dep = perf.deploy(model, hw)
    sm = step_model(dep)
    rng = np.random.default_rng(1)
    for _ in range(2000):
        p = int(rng.choice([0, int(rng.integers(1, 70)), int(rng.integers(1, 20000))]))
        d = int(rng.integers(0, 300))
        c = int(rng.integers(0, 2_000_000)) if d else 0
        pairs = -1.0 if rng.random() < 0.5 else float(rng.uniform(0, 1e8))
        assert sm.step_time(p, d, c, pairs) == dep.step_time(p, d, c, pairs), (p, d, c, pairs, sm.native)


@pytest.mark.parametrize("step_model", STEP_MODELS, ids=lambda c: c.__module__)
def test_step_model_asks_the_deployment_when_it_has_a_formula_of_its_own(step_model: type) -> None:
    target, draft = perf.deploy("llama-3.3-70b", "cs3"), perf.deploy("llama-3.2-1b", "cs3")
    spec = perf.SpeculativeDeployment(target, perf.SpecDecode(draft, 4, 0.8))
    sm = step_model(spec)
    assert not sm.native
    assert sm.step_time(0, 8, 8000) == spec.step_time(0, 8, 8000)
    plain = step_model(perf.deploy("llama-3.1-8b", "h100"))
    assert plain.native, "perf.Deployment.step_time or its coefficients changed: update sim/steptime.py's mirror"
