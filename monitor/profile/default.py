"""The default profile: the simulator's bench vessel, learnt from its own fault-free batches.

Without a profile of their own, the monitor and the demo use this one, so they
behave on simulated reactors as a user's profile makes them behave on theirs.
It is fitted on :data:`BATCHES` fault-free batches generated with
:data:`TUNING_SEED` (a tuning seed: evaluations must use other seeds, or they
score the profile on the batches it learnt from). Generating and fitting take
about ten seconds, so the profile is built on first use and cached as a profile
file in the user cache directory (``$XDG_CACHE_HOME/bioreactor-monitor``, never
committed), under a name keyed by a hash of the simulator's, the contract's and
this package's sources: changing any of them rebuilds it.

Its instrument ranges are the wide defaults (10 mL to 200 m³), not the ones learnt
from the bench batches: a user who has not fitted a profile yet is watching their
own plant, not the simulator's 5 L vessel, and a 60 m³ volume is no bad value there.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from functools import cache
from pathlib import Path

from monitor.profile.fit import fit_profile
from monitor.profile.instruments import DEFAULT_RANGES
from monitor.profile.model import ProcessProfile
from monitor.profile.reference import ProfileError
from monitor.profile.store import load_profile, save_profile

#: Fault-free simulated batches the default profile is fitted on.
BATCHES = 24
#: The seed of those batches: used for tuning only, never for evaluation.
TUNING_SEED = 20240601


def _sources() -> list[Path]:
    """The source files the default profile depends on."""
    import bioreactor.contract  # noqa: PLC0415 - only to locate their sources
    import monitor.envelope  # noqa: PLC0415
    import monitor.profile  # noqa: PLC0415
    import simulator  # noqa: PLC0415

    folders = [Path(m.__file__).parent for m in (simulator, monitor.profile, bioreactor.contract)]  # type: ignore[arg-type]
    files = [f for folder in folders for f in sorted(folder.glob("*.py"))]
    return [*files, *sorted((folders[0] / "plants").glob("*.toml")), Path(str(monitor.envelope.__file__))]


def cache_path() -> Path:
    """Where the default profile of the current sources is cached."""
    digest = hashlib.sha256(f"{BATCHES}:{TUNING_SEED}".encode())
    for source in _sources():
        digest.update(source.read_bytes())
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "bioreactor-monitor" / f"default-{digest.hexdigest()[:16]}.profile.toml"


def build_default_profile() -> ProcessProfile:
    """Fit the default profile on freshly generated batches (about ten seconds)."""
    from simulator.dataset import generate_frame  # noqa: PLC0415 - only needed to build it

    frame = generate_frame(BATCHES, TUNING_SEED, fault_fraction=0.0)
    source = f"simulator: {BATCHES} fault-free bench batches, tuning seed {TUNING_SEED}"
    profile = fit_profile(frame, name="simulator default", source=source)
    return replace(profile, instruments=dict(DEFAULT_RANGES))


@cache
def default_profile() -> ProcessProfile:
    """The default profile, from the cache or built (and cached) on first use."""
    path = cache_path()
    if path.exists():
        try:
            return load_profile(path)
        except ProfileError:
            pass  # a damaged cache entry: build it again
    profile = build_default_profile()
    save_profile(profile, path)
    return profile
