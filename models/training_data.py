"""The simulated training set used when no data file is given.

An imitation model is only as good as the states it has seen. The expert
keeps glucose at 1-4 g/L, so in ordinary batches a model never learns what the
expert does when glucose runs out -- yet its own small errors lead exactly
there in closed loop. Missed-feed faults starve a culture and then hand it back
to the expert, whose catch-up decisions (after the fault, labels valid again)
teach the recovery. The default set therefore draws missed feeds more often
than other faults; the rows *during* a missed feed are still excluded from
training (see :mod:`models.training`).
"""

from __future__ import annotations

import pandas as pd

from simulator.dataset import generate_frame
from simulator.faults import FAULT_TYPES, FaultType

#: Faulty batches cycle through this list: every fault once, missed feed five more times,
#: so about 40 % of faulty batches recover from starvation.
TRAINING_FAULTS: tuple[FaultType, ...] = FAULT_TYPES + (FaultType.MISSED_FEED,) * 5


def simulated_training_frame(batches: int, seed: int, *, progress: bool = False) -> pd.DataFrame:
    """``batches`` simulated batches, half of them faulty, rich in starvation recoveries."""
    return generate_frame(batches, seed, faults=TRAINING_FAULTS, progress=progress)
