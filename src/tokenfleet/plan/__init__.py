"""Fleet planner: the cheapest (or lowest-power, or highest-goodput) multi-vendor fleet that meets every
class's SLOs under a megawatt budget, supply caps and vendor-share limits, checked in the simulator.

Pipeline (deciding, no I/O, apart from :mod:`report` / :mod:`output`)::

    sc, base = load_plan_scenario("examples/mixed-vendor-cheaper.yaml")     # schema
    demands  = class_demands(sc, base)                                       # demand
    options  = all_options(sc, demands)                                      # capacity (cached)
    result   = plan(sc, base)                                                # planner: milp + binding
                                                                             #   + pareto + verify
* :mod:`~tokenfleet.plan.schema` — ``plan:`` section of a scenario (candidates, budget, objective, constraints).
* :mod:`~tokenfleet.plan.capacity` — per (class, hardware, layout) sustainable rate per replica.
* :mod:`~tokenfleet.plan.economics` — capex / opex / power coefficients, with the formulas.
* :mod:`~tokenfleet.plan.milp` — the mixed-integer program (scipy.optimize.milp, HiGHS).
* :mod:`~tokenfleet.plan.binding` — which constraints bind, and why an infeasible plan is infeasible.
* :mod:`~tokenfleet.plan.pareto` — cost against MW and against SLO tightness, by re-solving.
* :mod:`~tokenfleet.plan.verify` — simulate the plan (a representative slice for big fleets).
* :mod:`~tokenfleet.plan.output` / :mod:`~tokenfleet.plan.report` — plan.json / plan.csv / report.html.
"""
