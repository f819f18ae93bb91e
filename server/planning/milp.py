"""A small row-wise MILP builder on top of HiGHS (``highspy``)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import highspy
import numpy as np

logger = logging.getLogger(__name__)

INF = highspy.kHighsInf


@dataclass(frozen=True)
class MilpSolution:
    """Solver outcome: ``status`` is optimal, time_limit (feasible, see gap), infeasible or
    no_solution (stopped before any feasible point was found)."""

    status: str
    values: np.ndarray
    objective: float
    gap: float
    seconds: float


@dataclass
class MilpBuilder:
    """Collect columns and rows, then solve once with HiGHS."""

    maximize: bool = True
    cost: list[np.ndarray] = field(default_factory=list)
    lower: list[np.ndarray] = field(default_factory=list)
    upper: list[np.ndarray] = field(default_factory=list)
    integer: list[np.ndarray] = field(default_factory=list)
    rows: list[tuple[np.ndarray, np.ndarray, float, float]] = field(default_factory=list)
    n_cols: int = 0

    def add_columns(self, cost: np.ndarray, lower: float, upper: float, integer: bool) -> np.ndarray:
        """Add ``len(cost)`` columns; returns their indices."""
        cost = np.asarray(cost, dtype=float)
        self.cost.append(cost)
        self.lower.append(np.full(cost.size, lower))
        self.upper.append(np.full(cost.size, upper))
        self.integer.append(np.full(cost.size, integer))
        first, self.n_cols = self.n_cols, self.n_cols + cost.size
        return np.arange(first, self.n_cols)

    def add_row(self, cols: np.ndarray, coefs: np.ndarray, lower: float = -INF, upper: float = INF) -> None:
        """Add ``lower ≤ Σ coefs·x[cols] ≤ upper``."""
        self.rows.append((np.asarray(cols, dtype=np.int64), np.asarray(coefs, dtype=float), lower, upper))

    def add_rows_grouped(self, group: np.ndarray, cols: np.ndarray, coefs: np.ndarray, n_groups: int,
                         lower: float | np.ndarray = -INF, upper: float | np.ndarray = INF) -> None:
        """One row per group id in ``range(n_groups)`` (bounds scalar or per group)."""
        lower = np.broadcast_to(np.asarray(lower, dtype=float), (n_groups,))
        upper = np.broadcast_to(np.asarray(upper, dtype=float), (n_groups,))
        order = np.argsort(group, kind="stable")
        bounds = np.searchsorted(group[order], np.arange(n_groups + 1))
        for g in range(n_groups):
            chunk = order[bounds[g]:bounds[g + 1]]
            self.add_row(cols[chunk], coefs[chunk], float(lower[g]), float(upper[g]))

    def _lp(self, relax: bool = False) -> highspy.HighsLp:
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n_cols, len(self.rows)
        lp.col_cost_ = np.concatenate(self.cost)
        lp.col_lower_, lp.col_upper_ = np.concatenate(self.lower), np.concatenate(self.upper)
        lp.row_lower_ = np.array([r[2] for r in self.rows], dtype=float)
        lp.row_upper_ = np.array([r[3] for r in self.rows], dtype=float)
        lengths = np.array([r[0].size for r in self.rows], dtype=np.int64)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.start_ = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
        lp.a_matrix_.index_ = (np.concatenate([r[0] for r in self.rows]) if self.rows else np.empty(0)).astype(np.int32)
        lp.a_matrix_.value_ = np.concatenate([r[1] for r in self.rows]) if self.rows else np.empty(0)
        lp.sense_ = highspy.ObjSense.kMaximize if self.maximize else highspy.ObjSense.kMinimize
        kinds = np.concatenate(self.integer) & (not relax)
        lp.integrality_ = [highspy.HighsVarType.kInteger if k else highspy.HighsVarType.kContinuous for k in kinds]
        return lp

    def solve(self, time_limit: float = 60.0, rel_gap: float = 1e-6, threads: int | None = None,
              start: np.ndarray | None = None, relax: bool = False) -> MilpSolution:
        """Solve; a run stopped by ``time_limit`` with a solution reports its gap.

        ``start`` is a feasible point to begin from; HiGHS ignores it when it is not
        feasible. ``relax`` solves the LP relaxation (a bound).
        """
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        highs.setOptionValue("time_limit", float(time_limit))
        highs.setOptionValue("mip_rel_gap", float(rel_gap))
        # HiGHS 1.15's MIP presolve gains nothing on these set-packing + knapsack models
        # (it removes <0.1 % of columns) and then stalls past the time limit at 10k sections.
        highs.setOptionValue("presolve", "off")
        if threads:
            highs.setOptionValue("threads", int(threads))
        started = time.perf_counter()
        highs.passModel(self._lp(relax))
        if start is not None:
            initial = highspy.HighsSolution()
            initial.col_value = np.asarray(start, dtype=float)
            initial.value_valid = True
            highs.setSolution(initial)
        highs.run()
        return _outcome(highs, time.perf_counter() - started, self.n_cols)


def _outcome(highs: highspy.Highs, seconds: float, n_cols: int) -> MilpSolution:
    """Read status, values, objective and gap back from a finished HiGHS run."""
    status = highs.getModelStatus()
    info = highs.getInfo()
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    if status == highspy.HighsModelStatus.kModelEmpty:
        return MilpSolution("optimal", np.zeros(n_cols), 0.0, 0.0, seconds)  # nothing to choose
    if status == highspy.HighsModelStatus.kOptimal:
        name = "optimal"
    elif has_solution:
        name = "time_limit"
    elif status == highspy.HighsModelStatus.kInfeasible:
        name = "infeasible"
    else:
        name = "no_solution"  # stopped (time limit) before finding any feasible plan
    if not has_solution:
        logger.info("HiGHS: %s", highs.modelStatusToString(status))
    values = np.asarray(highs.getSolution().col_value) if has_solution else np.zeros(n_cols)
    gap = max(0.0, float(info.mip_gap)) if has_solution else float("inf")
    objective = float(info.objective_function_value) if has_solution else float("nan")
    return MilpSolution(status=name, values=values, objective=objective, gap=gap, seconds=seconds)
