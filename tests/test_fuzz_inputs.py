"""Property-based fuzzing of every command's inputs: mutants of every shipped example (scenarios, plans,
deals, gateway configs, results CSV), of the trace formats and of abused flags (see ``tests/_fuzz.py``).

For each mutant the command, run in-process, must exit 0 with a sensible result (no NaN / inf printed) or
exit 2 with one message naming the file or flag; never a traceback, never past the time limit, never a
peak-RSS jump of more than 1.5 GB. Hypothesis is derandomized (the same mutants on every run) and keeps
no example database, so CI is reproducible; ``benchmarks/fuzz.py --minutes N`` runs the generators longer.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from _fuzz import FAILURES, Target, make_case, run, targets

_TMP = Path(tempfile.mkdtemp(prefix="tokenfleet-fuzz-"))
TARGETS = {t.name: t for t in targets(_TMP)}
TIME_LIMIT_S = 30.0

# examples per target: cheap targets get more; together they stay within ~90 s on 2 cores
EXAMPLES = {"simulate": 12, "trace": 16, "plan": 8, "deal": 6, "serve-check": 12, "validate": 16, "flags": 12,
            "deal:amd-openai": 3}


def _check(t: Target, rnd: random.Random) -> None:
    with tempfile.TemporaryDirectory(dir=_TMP) as d:
        case = make_case(t, rnd, Path(d))
        o = run(case, TIME_LIMIT_S)
    assert o.kind not in FAILURES, f"{t.name}: {case.what}: {o.kind} (exit {o.code}, {o.seconds:.1f} s): {o.message}"


def _settings(name: str) -> settings:
    n = EXAMPLES.get(name, EXAMPLES[name.split(":")[0]])
    return settings(max_examples=n, derandomize=True, database=None, deadline=None, print_blob=False,
                    phases=[Phase.explicit, Phase.generate],  # shrinking a random.Random teaches nothing
                    suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_mutant_inputs_are_refused_clearly_or_run(name: str) -> None:
    t = TARGETS[name]

    @_settings(name)
    @given(st.randoms(use_true_random=False))
    def prop(rnd: random.Random) -> None:
        _check(t, rnd)

    prop()
