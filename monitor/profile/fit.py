"""Learn a :class:`~monitor.profile.model.ProcessProfile` from a plant's good reference batches.

The input is the canonical frame ``bioreactor.csvio.read_frame`` returns (any
process variables, set-point columns when the plant exports them); each part of
the profile comes from its own module, which says what it learns and why:

==================  ==================================================
sampling, bins      :mod:`monitor.profile.sampling`
noise               :mod:`monitor.profile.noise`
set points          :mod:`monitor.profile.setpoints` (:mod:`~monitor.profile.dwell`)
instrument ranges   :mod:`monitor.profile.instruments`
feed                :mod:`monitor.profile.feed`
envelope            :class:`monitor.envelope.Envelope`
batch evolution     :mod:`monitor.profile.evolution`
oxygen balance      :mod:`monitor.profile.balance`
==================  ==================================================

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> hours = np.arange(0.0, 96.0, 0.25)
>>> frame = pd.concat([pd.DataFrame({"batch_id": f"B{i}", "culture_h": hours,
...     "temperature": 37.0 + rng.normal(0, 0.05, hours.size),
...     "glucose": 6 - hours / (30 + i) + rng.normal(0, 0.1, hours.size)}) for i in range(4)])
>>> profile = fit_profile(frame, name="bench", source="example")
>>> profile.sampling_minutes, profile.variables, profile.setpoints["temperature"].levels
(15.0, ('glucose', 'temperature'), (37.0,))
>>> profile.evolution is None  # 4 batches: too few for honest multivariate limits
True
"""

from __future__ import annotations

import hashlib
import platform
from datetime import UTC, datetime
from importlib import metadata

import numpy as np
import pandas as pd

from bioreactor.contract import PROCESS_VARIABLES, SETPOINT_FIELDS
from monitor.envelope import Envelope
from monitor.profile.balance import oxygen_balance_spread
from monitor.profile.evolution import MIN_EVOLUTION_BATCHES, BatchEvolutionModel, fit_evolution
from monitor.profile.feed import feed_behaviour
from monitor.profile.instruments import instrument_ranges
from monitor.profile.model import ProcessProfile, ProfileCard
from monitor.profile.noise import measurement_noise
from monitor.profile.quantiles import Quantiles, rounded
from monitor.profile.reference import Reference
from monitor.profile.sampling import batch_hours, maturity_bin_h, sampling_minutes
from monitor.profile.setpoints import learn_setpoint

#: A variable measured in fewer readings than this share is not part of the profile.
MIN_COVERAGE = 0.01
#: Variables measured in fewer readings than this share are offline samples. They stay out of
#: the batch-evolution model (they cannot say which readings vary together); the envelope keeps them.
OFFLINE_COVERAGE = 0.5
#: Envelope bands are at least this many noise sigmas wide (+/-3 sigma: noise alone
#: leaves a flat signal's band once in 370 readings).
ENVELOPE_MIN_SIGMAS = 6.0
#: The envelope's band: 1 and 99 % of the reference batches' lowest and highest values in a bin.
ENVELOPE_QUANTILES = (0.01, 0.99)
#: The actuators whose operated range is learnt, and its quantiles (robust to a few spikes).
ACTUATORS = ("agitation", "airflow")
ACTUATOR_QUANTILES = (0.005, 0.995)


def library_versions() -> dict[str, str]:
    """Versions of what fitted the profile (its arrays are plain numpy)."""
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "bioreactor-monitor": metadata.version("bioreactor-monitor"),
    }


def data_sha256(reference: Reference) -> str:
    """SHA-256 of what the profile is learnt from: batch, culture hour, variables and set points."""
    columns = ["batch_id", "culture_h", *reference.variables]
    columns += [c for c in SETPOINT_FIELDS.values() if c in reference.frame.columns]
    digest = hashlib.sha256(",".join(columns).encode())
    digest.update(pd.util.hash_pandas_object(reference.frame[columns], index=False).to_numpy().tobytes())
    return digest.hexdigest()


def fit_profile(frame: pd.DataFrame, *, name: str, source: str, bin_h: float | None = None) -> ProcessProfile:
    """Learn the profile of the good reference batches in ``frame``.

    Parameters
    ----------
    frame
        Canonical readings (``batch_id``, ``culture_h`` and process variables at least).
    name
        The profile's name (the plant or process).
    source
        Where the readings come from (a file name), for the card.
    bin_h
        Width of the maturity bins of the envelope and the batch-evolution model (h);
        by default from the batch length and sampling (:func:`~monitor.profile.sampling.maturity_bin_h`).

    Raises
    ------
    ProfileError
        Missing columns, batches labelled faulty, or too few readings.
    """
    reference = Reference.of(frame)
    coverage = {v: rounded(float(frame[v].notna().mean())) if v in frame.columns else 0.0 for v in PROCESS_VARIABLES}
    variables = tuple(v for v in reference.variables if coverage[v] >= MIN_COVERAGE)
    values = {v: reference.values(v) for v in variables}
    noise = measurement_noise(reference, variables)
    sampling = rounded(sampling_minutes(reference))
    bin_h = bin_h or maturity_bin_h(batch_hours=batch_hours(reference), sampling_minutes=sampling)
    learnt = {v: learn_setpoint(reference, v, noise[v]) for v in SETPOINT_FIELDS if v in variables}
    setpoints = {v: s for v, s in learnt.items() if s is not None}
    return ProcessProfile(
        card=ProfileCard(
            name=name,
            fitted_at=datetime.now(UTC).replace(microsecond=0),
            source=source,
            batches=reference.batches,
            rows=len(reference.frame),
            data_sha256=data_sha256(reference),
            libraries=library_versions(),
        ),
        sampling_minutes=sampling,
        variables=variables,
        coverage=coverage,
        setpoints={v: s.schedule for v, s in setpoints.items()},
        instruments=instrument_ranges(values),
        noise=noise,
        actuators={
            v: (rounded(float(low)), rounded(float(high)))
            for v in ACTUATORS
            if v in variables
            for low, high in [np.nanquantile(values[v], ACTUATOR_QUANTILES)]
        },
        values={v: Quantiles.of(x) for v, x in values.items()},
        deviations={v: s.deviations(values[v]) for v, s in setpoints.items()},
        feed=feed_behaviour(reference),
        envelope=Envelope.fit(
            reference.frame,
            variables,
            bin_h=bin_h,
            quantiles=ENVELOPE_QUANTILES,
            min_width={v: ENVELOPE_MIN_SIGMAS * noise[v] for v in variables},
        ),
        evolution=_evolution(reference, variables, coverage, noise, bin_h),
        oxygen_balance_spread=oxygen_balance_spread(reference),
    )


def _evolution(
    reference: Reference, variables: tuple[str, ...], coverage: dict[str, float], noise: dict[str, float], bin_h: float
) -> BatchEvolutionModel | None:
    """The batch-evolution model over the densely measured variables that vary; None with too few batches."""
    if len(reference.batches) < MIN_EVOLUTION_BATCHES:
        return None
    dense = tuple(
        v for v in variables if coverage[v] >= OFFLINE_COVERAGE and np.nanmax(x := reference.values(v)) > np.nanmin(x)
    )
    if len(dense) < 2:
        return None
    return fit_evolution(
        reference.hours(),
        reference.codes,
        reference.frame[list(dense)].to_numpy(np.float64),
        dense,
        noise=np.array([noise[v] for v in dense]),
        bin_h=bin_h,
        batch_names=reference.batches,
    )
