"""Benchmark: 10,000 sections × 5 years × 5 treatments, budget scenario, solved in ≤ 10 s.

Prints the MILP's figures against the greedy benefit/cost baseline measured in the same
run; the last line is one JSON object.

    nice -n 10 .venv/bin/python bench/plan.py [--sections 10000] [--time-limit 9.5]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date

import numpy as np

from voirie.server.planning.catalogue import load_catalogue
from voirie.server.planning.deterioration import DEFAULT_CURVES
from voirie.server.planning.model import Scenario
from voirie.server.planning.optimiser import greedy_plan, solve_scenario
from voirie.server.planning.options import build_options
from voirie.server.planning.sample import sample_network


def main() -> None:
    """Run the benchmark and print the JSON summary last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", type=int, default=10_000)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--time-limit", type=float, default=8.5, help="solver seconds (the goal is ≤ 10 s in all)")
    parser.add_argument("--budget-share", type=float, default=0.04,
                        help="annual budget as a share of the cost of treating every section once")
    args = parser.parse_args()
    sections = [s for s in sample_network(args.sections, seed=42, no_data_share=0.0)]
    treatments = load_catalogue()
    started = time.perf_counter()
    options = build_options(sections, treatments, DEFAULT_CURVES, args.years, date(2027, 1, 1))
    build_seconds = time.perf_counter() - started
    whole = float(sum(s.area_m2 for s in sections) * np.mean([t.cost_per_m2 for t in treatments]))
    budget = round(args.budget_share * whole, -3)
    scenario = Scenario("bench", "budget", (budget,))
    choice = solve_scenario(options, scenario, time_limit=args.time_limit - build_seconds, rel_gap=1e-4)
    solve_seconds = time.perf_counter() - started
    g_started = time.perf_counter()
    greedy = greedy_plan(options, np.full(args.years, budget))
    greedy_seconds = time.perf_counter() - g_started
    milp_value, greedy_value = options.benefit[choice.selected].sum(), options.benefit[greedy].sum()
    print(f"sections {len(sections)}, years {args.years}, treatments {len(treatments)}, "
          f"candidates (binaries) {options.cost.size}, annual budget {budget:,.0f} €")
    print(f"build {build_seconds:.2f} s; MILP {choice.status} in {solve_seconds:.2f} s (incl. build), gap {choice.gap:.4%}")
    print(f"benefit MILP {milp_value:,.0f} vs greedy {greedy_value:,.0f} (ratio {milp_value / greedy_value:.5f}); "
          f"greedy took {greedy_seconds:.2f} s")
    print(json.dumps({"sections": len(sections), "years": args.years, "treatments": len(treatments),
                      "solve_seconds": round(solve_seconds, 3), "gap": round(choice.gap, 6),
                      "status": choice.status, "milp_vs_greedy": round(milp_value / greedy_value, 6)}))


if __name__ == "__main__":
    main()
