"""The default profile: built from the simulator on first use, cached outside the repository, read back after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.profile import default as default_module
from monitor.profile import default_profile, describe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An empty user cache for this module: the profile is built once, by the first test."""
    home = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(home))
        default_profile.cache_clear()
        yield home
    default_profile.cache_clear()


def test_built_on_first_use_then_read_from_the_cache(cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = default_module.cache_path()
    assert path.parent == cache_home / "bioreactor-monitor" and not path.exists()
    built = default_profile()
    assert path.exists() and path.with_suffix(".npz").exists()
    default_profile.cache_clear()

    def no_rebuild() -> None:
        raise AssertionError("the cached profile should have been read")

    monkeypatch.setattr(default_module, "build_default_profile", no_rebuild)
    assert default_profile() == built


def test_the_default_profile_is_the_simulators_bench(cache_home: Path) -> None:
    profile = default_profile()
    assert profile.sampling_minutes == 5.0
    assert profile.setpoints["temperature"].levels == (37.0, 33.0) and profile.setpoints["temperature"].from_columns
    assert profile.setpoints["do"].levels == (40.0,)
    assert profile.evolution is not None and len(profile.card.batches) == default_module.BATCHES
    assert str(default_module.TUNING_SEED) in profile.card.source
    assert "Multivariate model" in describe(profile)


def test_a_change_to_the_sources_moves_the_cache(cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = default_module.cache_path()
    monkeypatch.setattr(default_module, "TUNING_SEED", default_module.TUNING_SEED + 1)
    assert default_module.cache_path() != before
