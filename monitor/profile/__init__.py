"""Process profile: what normal operation of a plant looks like, learnt from its good reference batches.

``bioreactor profile fit REFERENCE.csv --out plant.profile.toml`` learns it,
``bioreactor profile show plant.profile.toml`` explains it. The monitor reads
the profile's numbers (set points and their schedule, instrument ranges, noise,
actuator ranges, feed, envelope, batch-evolution model) instead of bench-vessel
constants.

>>> sorted(__all__)[:4]
['BatchEvolutionModel', 'Envelope', 'FeedBehaviour', 'ProcessProfile']
"""

from monitor.envelope import Envelope
from monitor.profile.default import default_profile
from monitor.profile.describe import describe
from monitor.profile.evolution import BatchEvolutionModel
from monitor.profile.fit import fit_profile
from monitor.profile.model import FeedBehaviour, ProcessProfile, ProfileCard, SetpointSchedule
from monitor.profile.quantiles import Quantiles
from monitor.profile.reference import ProfileError
from monitor.profile.store import load_profile, save_profile

__all__ = [
    "BatchEvolutionModel",
    "Envelope",
    "FeedBehaviour",
    "ProcessProfile",
    "ProfileCard",
    "ProfileError",
    "Quantiles",
    "SetpointSchedule",
    "default_profile",
    "describe",
    "fit_profile",
    "load_profile",
    "save_profile",
]
