"""Per-class confidence thresholds, chosen on a validation set from one evaluation run.

A detector scores potholes lower than cracks (fewer, smaller training examples), so one
threshold for both throws away most potholes or floods the cracks with false alarms.
``evaluate`` keeps, for every swept threshold, each class's true/false positives and
misses; here every combination of one threshold per class is scored by the micro-averaged
F1 (the headline number), and the best one is kept. Tuning on the set that is reported is
optimistic, and the model card says so.
"""

from __future__ import annotations

import itertools
import logging

logger = logging.getLogger(__name__)


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(2 * p * r / max(p + r, 1e-9), 4)}


def scores_at(result: dict, thresholds: dict[str, float]) -> dict:
    """Precision/recall/F1 (overall and per class) with one threshold per class.

    ``result`` is what :func:`voirie.lab.train.evaluate.evaluate` returned; each threshold must
    be one it swept (``result["counts"]`` keys). Classes not named are left out.
    """
    counts = result["counts"]
    totals, per_class = [0, 0, 0], {}
    for name, threshold in thresholds.items():
        key = str(float(threshold))
        if key not in counts:
            raise ValueError(f"threshold {threshold} for {name!r} was not evaluated; choose one of {sorted(counts)}")
        if name not in counts[key]:
            raise ValueError(f"class {name!r} is not in the evaluation; it has {sorted(counts[key])}")
        tp, fp, fn = counts[key][name]
        per_class[name] = _prf(tp, fp, fn)
        totals = [a + b for a, b in zip(totals, (tp, fp, fn))]
    return {**_prf(*totals), "per_class": per_class, "class_confidence": dict(thresholds)}


def best_class_thresholds(result: dict) -> dict[str, float]:
    """The per-class thresholds with the best overall F1 (ties: the higher thresholds, fewer alarms)."""
    counts = result["counts"]
    thresholds = sorted(float(t) for t in counts)
    names = sorted(next(iter(counts.values())))
    best, best_key = {}, (-1.0, ())
    for combo in itertools.product(thresholds, repeat=len(names)):
        choice = dict(zip(names, combo))
        key = (scores_at(result, choice)["f1"], combo)
        if key > best_key:
            best, best_key = choice, key
    return best


def parse_class_thresholds(text: str, names: tuple[str, ...]) -> dict[str, float]:
    """``crack=0.2,pothole=0.05`` → {"crack": 0.2, "pothole": 0.05}; errors name the bad part."""
    thresholds = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        if name not in names:
            raise ValueError(f"class thresholds name {name!r}; the classes are {list(names)}")
        try:
            thresholds[name] = float(value)
        except ValueError:
            raise ValueError(f"class threshold {item!r} is not NAME=NUMBER") from None
        if not 0.0 <= thresholds[name] <= 1.0:
            raise ValueError(f"class threshold {item!r} must be between 0 and 1")
    return thresholds
