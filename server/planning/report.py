"""The plan report: one self-contained HTML page, plus works CSV/GeoJSON and the plan JSON."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from html import escape
from pathlib import Path

from voirie.server.planning.charts import backlog_chart, budget_chart, condition_chart, distribution_chart
from voirie.server.planning.export import scenario_result, works_geojson, write_works_csv
from voirie.server.planning.model import Plan, ScenarioResult, Section
from voirie.server.planning.store import PlanStore

logger = logging.getLogger(__name__)

MAX_LISTED_WORKS = 300
_STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}.bad{color:#b00}.draft{color:#a60}
.approved{color:#070}figure{margin:1em 0}"""


@dataclass(frozen=True)
class ReportFiles:
    """Where a report's files are."""

    html: Path
    works_csv: Path
    works_geojson: Path
    plan_json: Path


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} €".replace(",", " ")


def summary_rows(plan: Plan) -> list[dict[str, str]]:
    """One line per scenario, the same figures the CLI table shows."""
    rows = []
    for r in plan.results:
        last = r.years[-1] if r.years else None
        rows.append({
            "scenario": r.scenario.name,
            "status": r.status if r.status != "time_limit" else f"gap {r.gap:.2%}",
            "annual budget": _money(r.annual_budget if r.annual_budget is not None else
                                    (r.years[0].budget if r.years and r.years[0].budget is not None else None)),
            "total cost": _money(sum(y.cost for y in r.years)) if r.feasible else "—",
            f"PCI {plan.start_year + plan.horizon - 1}": f"{last.mean_pci:.1f}" if last and r.feasible else "—",
            "backlog at end": _money(last.backlog) if last and r.feasible else "—",
            "km treated": f"{sum(y.km_treated for y in r.years):.1f}" if r.feasible else "—",
            "note": r.message,
        })
    return rows


def _table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "<p>none</p>"
    head = "".join(f"<th>{escape(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row.values()) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _years_table(plan: Plan, result: ScenarioResult) -> str:
    rows = [{"year": str(plan.start_year + y.year - 1), "spent": _money(y.cost), "budget": _money(y.budget),
             "network PCI": f"{y.mean_pci:.1f}", "good+satisfactory": f"{100 * (y.distribution['good'] + y.distribution['satisfactory']):.0f} %",
             "poor or worse": f"{100 * sum(v for k, v in y.distribution.items() if k in ('poor', 'very poor', 'serious', 'failed')):.0f} %",
             "backlog": _money(y.backlog), "km treated": f"{y.km_treated:.2f}"} for y in result.years]
    return _table(rows)


def _works_table(plan: Plan, result: ScenarioResult) -> str:
    rows = [{"year": str(plan.start_year + w.year - 1), "section": w.section_id, "street": w.street,
             "treatment": w.treatment, "cost": _money(w.cost), "PCI before": f"{w.pci_before:.0f}",
             "PCI after": f"{w.pci_after:.0f}"} for w in result.works[:MAX_LISTED_WORKS]]
    more = len(result.works) - MAX_LISTED_WORKS
    return _table(rows) + (f"<p>… and {more} more in works.csv</p>" if more > 0 else "")


def render_html(plan: Plan, selected: ScenarioResult) -> str:
    """The report page (inline SVG charts: one file to e-mail to the council)."""
    status = (f"<b class='approved'>APPROVED</b> by {escape(plan.approved_by or '')} on {escape(plan.approved_at or '')}"
              f" — adopted scenario: {escape(plan.approved_scenario or '')}" if plan.status == "approved" else
              "<b class='draft'>DRAFT</b> — a decision aid: nothing is adopted until a person approves it "
              f"(<code>voirie plan approve --plan-id {escape(plan.plan_id)} --scenario NAME --by NAME</code>)")
    no_data = (f"<p class='bad'>{len(plan.sections_no_data)} of {plan.sections_total} sections have no survey "
               f"and are not planned: {escape(', '.join(plan.sections_no_data[:20]))}"
               f"{' …' if len(plan.sections_no_data) > 20 else ''}</p>" if plan.sections_no_data else "")
    charts = "".join(f"<figure>{chart(plan)}</figure>"
                     for chart in (condition_chart, budget_chart, distribution_chart, backlog_chart))
    per_scenario = "".join(f"<h3>{escape(r.scenario.name)}</h3><p>{escape(r.message)}</p>{_years_table(plan, r)}"
                           for r in plan.results if r.feasible)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Works plan {escape(plan.plan_id)}</title>
<style>{_STYLE}</style></head><body>
<h1>Multi-year works plan {plan.start_year}–{plan.start_year + plan.horizon - 1}</h1>
<p>Plan <code>{escape(plan.plan_id)}</code>, computed {escape(plan.created_at)}. Status: {status}</p>
<p>{plan.sections_total} sections; network PCI today {plan.today_pci or 0:.1f} (area-weighted).</p>{no_data}
<h2>Scenarios side by side</h2>{_table(summary_rows(plan))}
{charts}
<h2>Year by year</h2>{per_scenario}
<h2>Works list — {escape(selected.scenario.name)}</h2>
<p>Also in <a href="works.csv">works.csv</a> (every scenario) and <a href="works.geojson">works.geojson</a> (map layer).</p>
{_works_table(plan, selected)}
</body></html>"""


def write_report(plan: Plan, sections: list[Section], out_dir: Path, scenario: str | None = None) -> ReportFiles:
    """Write report.html, works.csv, works.geojson and the plan JSON (under ``plans/``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    selected = scenario_result(plan, scenario)
    html_path = out_dir / "report.html"
    html_path.write_text(render_html(plan, selected), encoding="utf-8")
    geojson_path = out_dir / "works.geojson"
    geojson_path.write_text(json.dumps(works_geojson(plan, sections, selected.scenario.name), ensure_ascii=False))
    csv_path = write_works_csv(plan, out_dir / "works.csv")
    plan_path = PlanStore(out_dir / "plans").save(plan)
    logger.info("plan report written to %s", html_path)
    return ReportFiles(html=html_path, works_csv=csv_path, works_geojson=geojson_path, plan_json=plan_path)
