"""Anomaly detection with the modified z-score (Iglewicz & Hoaglin): robust to the outliers it looks for.

    z = 0.6745 · (x − median) / MAD            (MAD: median absolute deviation from the median)
    z = (x − median) / (1.253314 · meanAD)      when MAD is 0 (meanAD: mean absolute deviation)

- Per-minute series (revenue and order counts): each minute is scored against a rolling baseline of the
  `window` minutes before it (at least `min_baseline` of them); |z| > K flags it.
- Per-order amounts: each order's total against all orders in the period; z > K flags it (high side only).
A perfectly flat baseline has no spread: a minute equal to it is never flagged, a different one always is.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

CONSISTENCY = 0.6745
MEAN_AD_FACTOR = 1.253314


@dataclass(frozen=True)
class Score:
    index: int
    value: float
    baseline: float
    z: float


@dataclass(frozen=True)
class Baseline:
    median: float
    mad: float
    mean_ad: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Baseline:
        median = statistics.median(values)
        deviations = [abs(v - median) for v in values]
        return cls(median, statistics.median(deviations), sum(deviations) / len(deviations))

    def z(self, value: float) -> float:
        if self.mad > 0:
            return CONSISTENCY * (value - self.median) / self.mad
        if self.mean_ad > 0:
            return (value - self.median) / (MEAN_AD_FACTOR * self.mean_ad)
        if value == self.median:
            return 0.0
        return float("inf") if value > self.median else float("-inf")


def modified_z(value: float, baseline: Sequence[float]) -> tuple[float, float]:
    """(z, median of the baseline)."""
    stats = Baseline.of(baseline)
    return stats.z(value), stats.median


def rolling_outliers(
    series: Sequence[float], threshold: float, window: int = 30, min_baseline: int = 10
) -> list[Score]:
    flagged = []
    for i, value in enumerate(series):
        baseline = series[max(0, i - window) : i]
        if len(baseline) < min_baseline:
            continue
        z, median = modified_z(value, baseline)
        if abs(z) > threshold:
            flagged.append(Score(i, value, median, z))
    return flagged


def high_outliers(values: Sequence[float], threshold: float, min_count: int = 10) -> list[Score]:
    if len(values) < min_count:
        return []
    baseline = Baseline.of(values)
    flagged = []
    for i, value in enumerate(values):
        z = baseline.z(value)
        if z > threshold:
            flagged.append(Score(i, value, baseline.median, z))
    return flagged
