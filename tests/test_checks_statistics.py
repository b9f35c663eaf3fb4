"""Rolling statistics: z-score, rate, CUSUM, flatline on synthetic sequences."""

import numpy as np

from monitor.checks.cusum import CusumCheck
from monitor.checks.flatline import FlatlineCheck
from monitor.checks.rate import RateCheck
from monitor.checks.zscore import ZScoreCheck
from tests.check_helpers import flags


def noisy(n, sigma, seed=0):
    return np.random.default_rng(seed).normal(0.0, sigma, n)


def test_zscore_flags_a_step_not_noise_and_clears():
    series = [{"do": 40.0 + e + (15.0 if 60 <= i < 63 else 0.0)} for i, e in enumerate(noisy(120, 0.7))]
    result = flags(ZScoreCheck, series, "do")
    assert not any(result[:60])
    assert result[60]
    assert not any(result[70:])


def test_rate_flags_a_fast_fall_only():
    series = [{"do": 40.0 + e - (6.0 * max(0, i - 40) if i < 50 else 60.0)} for i, e in enumerate(noisy(80, 0.7))]
    result = flags(RateCheck, series, "do")
    assert not any(result[:41])
    assert any(result[41:50])


def test_cusum_catches_a_small_persistent_offset_that_limits_miss():
    series = [{"temperature": 37.0 + e + (0.25 if i >= 50 else 0.0)} for i, e in enumerate(noisy(120, 0.05, seed=1))]
    result = flags(CusumCheck, series, "temperature")
    assert not any(result[:50])
    assert 50 < result.index(True) < 70


def test_flatline_flags_a_frozen_probe_not_a_live_one():
    live = [{"do": 40.0 + e} for e in noisy(60, 0.7)]
    frozen = [{"do": 41.3}] * 60
    result = flags(FlatlineCheck, live + frozen, "do")
    assert not any(result[:60])
    assert result[-1]
