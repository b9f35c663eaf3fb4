"""Closed loop: policies on the same simulated batches, the KPI table, batched model calls."""

from __future__ import annotations

import numpy as np
import pytest

from models.closed_loop import KPI_COLUMNS, Comparison, batch_kpis, evaluate_feeding, run_policies
from models.model_policy import ModelPolicy
from models.setpoint_policy import PRIOR_UPTAKE, GlucoseSetpointPolicy
from simulator.feeding import ExpertPolicy, FixedSchedulePolicy, Observation
from tests.model_helpers import tiny_model

DAYS = 4.0  # feeding starts at 60 h


def test_table_has_every_kpi_for_every_policy() -> None:
    comparison, setpoint = evaluate_feeding(
        tiny_model(), batches=1, seed=3, days=3.0, tuning_batches=1, setpoints=(3.0, 5.0)
    )
    assert list(comparison.mean.columns) == list(KPI_COLUMNS)
    assert comparison.mean.index.tolist() == [
        "fixed schedule", "expert", "model", f"set point {setpoint:g} g/L"
    ]
    assert comparison.per_batch.groupby(level="policy").size().eq(1).all()
    assert comparison.mean.notna().all().all()
    assert (comparison.mean["final_titer_g_L"] > 0).all()
    text = comparison.render()
    assert "±" in text and "starvation_h" in text and "fixed schedule" in text


def test_policies_see_the_same_batches() -> None:
    runs = run_policies({"a": FixedSchedulePolicy, "b": FixedSchedulePolicy}, 2, seed=5, days=1.0)
    np.testing.assert_array_equal(runs["a"]["vcd"], runs["b"]["vcd"])
    assert batch_kpis(runs["a"]).index.tolist() == sorted(runs["a"]["batch_id"].unique())


def test_model_policy_makes_one_batched_call_per_decision() -> None:
    policy = ModelPolicy(tiny_model(), decide_every_h=1.0)
    run_policies({"model": lambda: policy}, batches=3, seed=1, days=DAYS)
    assert policy.predict_calls == pytest.approx(DAYS * 24, abs=1)


def test_model_policy_feeds_like_the_expert() -> None:
    runs = run_policies(
        {"expert": lambda: ExpertPolicy(seed=2), "model": lambda: ModelPolicy(tiny_model())},
        batches=2, seed=2, days=DAYS,
    )
    late = {k: r[r["culture_h"] > 72]["feed_rate"].mean() for k, r in runs.items()}
    assert late["model"] == pytest.approx(late["expert"], rel=0.3)
    kpis = Comparison.of(runs).mean
    assert kpis.loc["model", "final_titer_g_L"] == pytest.approx(kpis.loc["expert", "final_titer_g_L"], rel=0.1)


def test_setpoint_policy_learns_uptake_from_the_glucose_balance() -> None:
    """A culture consuming twice the prior uptake: the estimate moves towards it."""
    policy = GlucoseSetpointPolicy(start_h=0.0, smoothing=0.5, learn_every_h=0.0)
    true_uptake, vcd, volume, glucose = 2 * PRIOR_UPTAKE, 10.0, 2.0, 4.0
    for step in range(100):
        hours = step * 0.1
        obs = Observation.from_values(culture_h=hours, vcd=vcd, volume=volume, glucose=glucose, feed_rate=0.0)
        policy(obs)
        glucose -= true_uptake * vcd * 0.1  # no feed: glucose falls by the uptake
    assert policy.uptake[0] == pytest.approx(true_uptake, rel=0.05)


def test_setpoint_policy_waits_and_respects_the_pump_limit() -> None:
    policy = GlucoseSetpointPolicy(start_h=48.0)
    early = Observation.from_values(culture_h=10.0, vcd=5.0, glucose=1.0)
    assert policy(early)[0] == 0.0
    starving = Observation.from_values(culture_h=100.0, vcd=60.0, glucose=0.0, volume=3.0)
    assert policy(starving)[0] == policy.control.max_feed_rate
