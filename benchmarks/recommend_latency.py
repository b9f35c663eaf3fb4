"""Feed-model latency: one predict call per reactor versus one batched call per tick.

Usage::

    python benchmarks/recommend_latency.py [--model runs/feed_model.joblib] [--repeats 20]

Measures, in the same run, the median wall time of predicting 10 and 50
reactors row by row and in one batched call, and prints the ratio. The model
is trained first (about a minute) when the file does not exist.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from models.artifact import FeedModel, load_model
from models.ensure import ensure_model
from models.features import build_features
from models.outputs import DEFAULT_MODEL_PATH
from simulator.dataset import generate_frame


def median_seconds(action: Callable[[], object], repeats: int) -> float:
    action()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def features_of(reactors: int) -> pd.DataFrame:
    frame = generate_frame(4, seed=42, days=6, sample_minutes=15, fault_fraction=0.0)
    return build_features(frame).sample(n=reactors, replace=True, random_state=0)


def compare(model: FeedModel, reactors: int, repeats: int) -> tuple[float, float]:
    X = features_of(reactors)
    rows = [X.iloc[[i]] for i in range(reactors)]
    per_row = median_seconds(lambda: [model.predict(r) for r in rows], repeats)
    batched = median_seconds(lambda: model.predict(X), repeats)
    return per_row, batched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL_PATH)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    model = load_model(ensure_model(args.model))
    forest = model.pipeline[-1]
    print(f"model {model.card.version}: {len(forest.estimators_)} trees")
    print(f"{'reactors':>8} {'per-row ms':>11} {'batched ms':>11} {'ratio':>6}")
    for reactors in (10, 50):
        per_row, batched = compare(model, reactors, args.repeats)
        print(f"{reactors:>8} {per_row * 1e3:>11.2f} {batched * 1e3:>11.2f} {per_row / batched:>6.1f}")


if __name__ == "__main__":
    main()
