"""Performance and power model of inference hardware: pure functions and small value objects, no I/O.

Typical use::

    from tokenfleet import perf
    dep = perf.deploy("llama-3.3-70b", "cs3")            # smallest valid layout (4 CS-3 systems)
    dep.step_time(prefill_tokens=0, decode_seqs=64, context_tokens=64 * 2000)
    perf.steady.offline(dep, isl=1000, osl=500).output_tok_s
    perf.single.ttft_s(dep, 1000)
"""

from tokenfleet.perf import devices, power, single, speculative, stacks, steady
from tokenfleet.perf.deployment import Deployment, StepCost, deploy
from tokenfleet.perf.layout import Layout, candidate_layouts, kv_capacity_tokens, make_layout, min_layout
from tokenfleet.perf.params import EfficiencyParams, params_for
from tokenfleet.perf.speculative import SpecDecode, SpeculativeDeployment

__all__ = [
    "Deployment",
    "EfficiencyParams",
    "Layout",
    "SpecDecode",
    "SpeculativeDeployment",
    "StepCost",
    "candidate_layouts",
    "deploy",
    "devices",
    "kv_capacity_tokens",
    "make_layout",
    "min_layout",
    "params_for",
    "power",
    "single",
    "speculative",
    "stacks",
    "steady",
]
