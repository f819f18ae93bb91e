"""Report charts as inline SVG strings (matplotlib, no display needed)."""

from __future__ import annotations

import io
import logging

import matplotlib

matplotlib.use("Agg")  # headless servers: never try to open a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from voirie.server.planning.model import Plan  # noqa: E402
from voirie.server.planning.scenarios import BANDS  # noqa: E402

logger = logging.getLogger(__name__)

BAND_COLOURS = ("#1a9641", "#a6d96a", "#ffffbf", "#fdae61", "#f46d43", "#d73027", "#7f0000")


def _svg(figure: plt.Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog so it can sit inside HTML


def condition_chart(plan: Plan) -> str:
    """Network PCI per year, one line per feasible scenario."""
    figure, axis = plt.subplots(figsize=(8, 4))
    years = np.arange(plan.start_year - 1, plan.start_year + plan.horizon)
    for result in (r for r in plan.results if r.feasible):
        values = [plan.today_pci or np.nan] + [y.mean_pci for y in result.years]
        axis.plot(years, values, marker="o", label=result.scenario.name)
    axis.set(xlabel="end of year", ylabel="network PCI (area-weighted)", ylim=(0, 100),
             title="Network condition per scenario")
    axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return _svg(figure)


def budget_chart(plan: Plan) -> str:
    """Spending per year per scenario (bars) against its annual budget (ticks)."""
    funded = [r for r in plan.results if r.feasible and r.scenario.kind not in ("do_nothing", "unconstrained")]
    figure, axis = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(len(funded), 1)
    for k, result in enumerate(funded):
        x = np.arange(plan.horizon) + k * width
        axis.bar(x, [y.cost / 1e6 for y in result.years], width, label=result.scenario.name)
        budgets = [y.budget for y in result.years]
        if all(b is not None for b in budgets):
            axis.scatter(x, np.array(budgets) / 1e6, marker="_", s=200, color="black")
    axis.set_xticks(np.arange(plan.horizon) + 0.4 - width / 2, [str(plan.start_year + y) for y in range(plan.horizon)])
    axis.set(ylabel="M€ (bars: spent, ticks: budget)", title="Budget use per year")
    axis.grid(axis="y", alpha=0.3)
    if funded:
        axis.legend(fontsize=8)
    return _svg(figure)


def distribution_chart(plan: Plan) -> str:
    """Condition bands of the network area at the end of the plan, per scenario."""
    results = [r for r in plan.results if r.feasible]
    figure, axis = plt.subplots(figsize=(8, 0.5 * len(results) + 1.5))
    left = np.zeros(len(results))
    for (_, band), colour in zip(BANDS, BAND_COLOURS):
        shares = np.array([r.years[-1].distribution[band] * 100 for r in results])
        axis.barh([r.scenario.name for r in results], shares, left=left, color=colour, label=band, edgecolor="grey")
        left += shares
    axis.set(xlabel=f"% of network area at the end of {plan.start_year + plan.horizon - 1}", xlim=(0, 100),
             title="Condition distribution (ASTM D6433 bands)")
    axis.invert_yaxis()
    axis.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.25))
    return _svg(figure)


def backlog_chart(plan: Plan) -> str:
    """Backlog (cost of the structural works due) per year per scenario."""
    figure, axis = plt.subplots(figsize=(8, 4))
    years = np.arange(plan.start_year, plan.start_year + plan.horizon)
    for result in (r for r in plan.results if r.feasible):
        axis.plot(years, [y.backlog / 1e6 for y in result.years], marker="o", label=result.scenario.name)
    axis.set(xlabel="end of year", ylabel="backlog (M€)", title="Backlog per scenario")
    axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return _svg(figure)
