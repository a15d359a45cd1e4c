from __future__ import annotations

import math
import random

from aladia_etl.analytics.anomalies import high_outliers, modified_z, rolling_outliers


def test_spike_in_noisy_series_is_found():
    rng = random.Random(1)
    series = [100 + rng.gauss(0, 5) for _ in range(120)]
    series[80] = 400
    series[100] = 10
    flagged = {s.index for s in rolling_outliers(series, threshold=3.5)}
    assert flagged == {80, 100}


def test_flat_and_gently_noisy_series_report_nothing():
    assert rolling_outliers([50.0] * 120, threshold=3.5) == []
    rng = random.Random(2)
    assert rolling_outliers([100 + rng.gauss(0, 5) for _ in range(200)], threshold=5) == []


def test_needs_a_baseline():
    assert rolling_outliers([1.0, 1000.0], threshold=1, min_baseline=10) == []


def test_zero_mad_falls_back_to_mean_absolute_deviation():
    baseline = [10.0] * 9 + [11.0] * 2  # MAD 0, mean AD > 0
    z, median = modified_z(20.0, baseline)
    assert median == 10.0 and math.isfinite(z) and z > 3.5


def test_perfectly_flat_baseline_gives_no_z_instead_of_an_infinite_one():
    z, median = modified_z(11.0, [10.0] * 20)
    assert z is None and median == 10.0
    assert modified_z(10.0, [10.0] * 20)[0] == 0.0


def test_sparse_series_reports_a_change_from_a_flat_baseline_as_no_baseline():
    series = [0.0] * 40
    series[35] = 25.0  # one order after 35 minutes without any
    (score,) = rolling_outliers(series, threshold=3.5)
    assert (score.index, score.value, score.baseline) == (35, 25.0, 0.0)
    assert score.no_baseline and score.z is None


def test_normal_baseline_gives_finite_scores():
    rng = random.Random(3)
    series = [100 + rng.gauss(0, 5) for _ in range(60)]
    series[50] = 400
    (score,) = rolling_outliers(series, threshold=3.5)
    assert score.index == 50 and not score.no_baseline and math.isfinite(score.z) and score.z > 3.5


def test_high_outliers_on_flat_amounts():
    flat = [3.0] * 20 + [5.0, 1.0]  # MAD 0 and mean AD > 0: scored
    assert [(s.index, s.no_baseline) for s in high_outliers(flat, threshold=3.5)] == [(20, False)]
    equal = [3.0] * 20
    assert high_outliers(equal, threshold=3.5) == []


def test_high_outliers_only_flags_the_high_side():
    values = [10.0 + (i % 5) for i in range(50)] + [100.0, -100.0]
    assert [s.index for s in high_outliers(values, threshold=3.5)] == [50]
    assert high_outliers([1.0, 2.0], threshold=3.5) == []
