"""Anomaly detection with the modified z-score (Iglewicz & Hoaglin): robust to the outliers it looks for.

    z = 0.6745 · (x − median) / MAD            (MAD: median absolute deviation from the median)
    z = (x − median) / (1.253314 · meanAD)      when MAD is 0 (meanAD: mean absolute deviation)

- Per-minute series (revenue and order counts): each minute is scored against a rolling baseline of the
  `window` minutes before it (at least `min_baseline` of them); |z| > K flags it.
- Per-order amounts: each order's total against all orders in the period; z > K flags it (high side only).
A minute's baseline with no spread at all (MAD and mean absolute deviation both 0: every minute equal, e.g.
sparse data whose minutes all had 0 orders) cannot score anything. A value equal to it scores 0; a different value
gets no z-score (`z` is None) instead of an infinite one: it is returned as a "no baseline" score
(`Score.no_baseline`), reported as such, and not counted as an anomaly by z. No floor is put under the spread: the
metrics have different units (money, counts), so any fixed floor would be arbitrary. (The per-order baseline holds
the order itself, so it always has a spread when an order differs from the median.)
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
    z: float | None  # None: the baseline has no spread, the value differs from it (no baseline to score against)

    @property
    def no_baseline(self) -> bool:
        return self.z is None


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

    def z(self, value: float) -> float | None:
        """The modified z-score of `value`; None when the baseline has no spread and `value` differs from it."""
        if self.mad > 0:
            return CONSISTENCY * (value - self.median) / self.mad
        if self.mean_ad > 0:
            return (value - self.median) / (MEAN_AD_FACTOR * self.mean_ad)
        return 0.0 if value == self.median else None


def modified_z(value: float, baseline: Sequence[float]) -> tuple[float | None, float]:
    """(z, median of the baseline); z is None when the baseline has no spread and `value` differs from it."""
    stats = Baseline.of(baseline)
    return stats.z(value), stats.median


def rolling_outliers(
    series: Sequence[float], threshold: float, window: int = 30, min_baseline: int = 10
) -> list[Score]:
    """Minutes with |z| > threshold against the `window` before them, and minutes with no baseline (z None)."""
    flagged = []
    for i, value in enumerate(series):
        baseline = series[max(0, i - window) : i]
        if len(baseline) < min_baseline:
            continue
        z, median = modified_z(value, baseline)
        if z is None or abs(z) > threshold:
            flagged.append(Score(i, value, median, z))
    return flagged


def high_outliers(values: Sequence[float], threshold: float, min_count: int = 10) -> list[Score]:
    """Values with z > threshold against all of them. The baseline includes every value, so a value different
    from the median gives it a spread: z is never None here."""
    if len(values) < min_count:
        return []
    baseline = Baseline.of(values)
    flagged = []
    for i, value in enumerate(values):
        z = baseline.z(value)
        if z is not None and z > threshold:
            flagged.append(Score(i, value, baseline.median, z))
    return flagged
