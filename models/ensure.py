"""A usable model on first run: train a small one on simulated batches when none exists.

The budget (batches, search candidates, forest size) keeps the whole first
training, simulation included, under a minute on a 2-core machine; the full
search is ``bioreactor train``.
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from models.outputs import DEFAULT_MODEL_PATH, Outputs
from models.training import TrainingConfig, train
from models.training_data import simulated_training_frame

#: Batches simulated for the first model (seed fixed: the same model every time).
QUICK_BATCHES = 28
QUICK_SEED = 0
QUICK_CONFIG = TrainingConfig(
    candidates=3,
    cv_folds=3,
    row_stride=8,
    n_estimators=(40, 60),
    max_samples=(0.3,),
    importance_repeats=3,
    importance_rows=3000,
)
_STAGES = ("simulate", "features", "search", "evaluate", "importance", "save")


def quick_train(path: Path, *, batches: int = QUICK_BATCHES, seed: int = QUICK_SEED) -> Outputs:
    """Simulate ``batches`` batches, train with :data:`QUICK_CONFIG`, save beside ``path``."""
    outputs = Outputs.beside(path)
    with tqdm(total=len(_STAGES), desc="training feed model", unit="stage") as bar:

        def stage(name: str) -> None:
            bar.set_postfix_str(name)
            if name != _STAGES[0]:
                bar.update()

        stage("simulate")
        frame = simulated_training_frame(batches, seed)
        report = train(frame, QUICK_CONFIG, progress=stage)
        stage("save")
        outputs.write(report)
        bar.update()
    return outputs


def ensure_model(path: Path = DEFAULT_MODEL_PATH) -> Path:
    """``path`` if a model file exists there, else a quickly trained one saved there.

    An existing file is not checked here; loading it does that
    (:func:`models.artifact.load_model`).
    """
    if not path.exists():
        quick_train(path)
    return path
