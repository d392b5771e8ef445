"""The plugin's markers and the skips they cause, decided before any board is made.

* ``@pytest.mark.otaloop_config("manual")``: the factory configuration the test's board runs. A virtual
  board is provisioned with it; a real board flashed with another one skips the test.
* ``@pytest.mark.otaloop_requires("power_cut", "flash_inspect", "power")``: capabilities the bench must
  offer, else the test is skipped with the reason. Real boards lack ``power_cut``, ``flash_inspect``,
  ``provision`` and ``virtual``; they have ``power`` only with ``--otaloop-power-on/-off``.
* ``@pytest.mark.otaloop_quirks("corrected")``: the quirk profile of the test's virtual board; on a real
  board the test is skipped.

Markers apply at every level (test, class, module ``pytestmark``); the closest config or quirks wins and
all ``otaloop_requires`` add up. A marker with a bad argument errors the test with a one-line message.
"""

from __future__ import annotations

import pytest

from harness.pytest_plugin.boards import BoardRequest
from harness.pytest_plugin.options import CONFIG_NAMES, Settings

MARKERS = {
    "otaloop_config": "otaloop_config(name): the factory configuration the test's board runs "
    f"({', '.join(CONFIG_NAMES)}); a real board flashed with another one skips the test",
    "otaloop_requires": "otaloop_requires(*capabilities): skip unless the bench offers them "
    "(power, power_cut, flash_inspect, provision, virtual)",
    "otaloop_quirks": "otaloop_quirks(profile): run on a virtual board with this quirk profile "
    "(e.g. corrected); skipped on a real board",
}

#: Marker capability names -> the bench capability names of :mod:`harness.scenarios.benches`.
CAPABILITIES = {
    "power": "power",
    "power_cut": "power-cut",
    "flash_inspect": "inspect",
    "provision": "provision",
    "virtual": "virtual",
}

#: Why a real board cannot offer a capability.
REAL_LACKS = {
    "power": "this real board has no power control (give --otaloop-power-on and --otaloop-power-off)",
    "power_cut": "only the virtual board can cut power at a chosen flash operation",
    "flash_inspect": "only the virtual board can look into its flash",
    "provision": "only the virtual board starts from freshly programmed flash",
    "virtual": "it runs on the virtual board only",
}


def register(config: pytest.Config) -> None:
    for text in MARKERS.values():
        config.addinivalue_line("markers", text)


def capability(name: object) -> str:
    """A marker capability name (``power-cut`` and ``inspect`` accepted too), or a test error naming it."""
    key = str(name).replace("-", "_")
    key = {"inspect": "flash_inspect"}.get(key, key)
    if key not in CAPABILITIES:
        pytest.fail(f"otaloop_requires: unknown capability {name!r}; choose {', '.join(CAPABILITIES)}", pytrace=False)
    return key


def _single(item: pytest.Item, name: str) -> str | None:
    marker = item.get_closest_marker(name)
    if marker is None:
        return None
    if len(marker.args) != 1 or marker.kwargs or not isinstance(marker.args[0], str):
        pytest.fail(f"{name} takes one name, e.g. @pytest.mark.{name}({marker.args!r})", pytrace=False)
    return str(marker.args[0])


def board_request(item: pytest.Item, settings: Settings, *, fresh: bool = False) -> BoardRequest:
    """The configuration and quirk profile the markers ask for (the run's defaults otherwise)."""
    config = _single(item, "otaloop_config") or settings.factory_config
    if config not in CONFIG_NAMES:
        pytest.fail(
            f"otaloop_config: unknown configuration {config!r}; choose {', '.join(CONFIG_NAMES)}", pytrace=False
        )
    quirks = _single(item, "otaloop_quirks") or settings.quirks
    return BoardRequest(config, quirks, fresh)


def offered(settings: Settings) -> set[str]:
    """Capabilities (marker names) the run's benches offer."""
    if settings.real:
        return {"power"} if settings.has_power else set()
    return set(CAPABILITIES)


def check(item: pytest.Item, settings: Settings) -> None:
    """Skip ``item`` (with the reason) if its markers ask for what this run cannot give; error on bad ones."""
    if not any(item.iter_markers(name) for name in MARKERS):
        return
    want = board_request(item, settings)
    if item.get_closest_marker("otaloop_quirks") is not None:
        _check_quirks(want.quirks)
    required: list[str] = []
    for marker in item.iter_markers("otaloop_requires"):
        if marker.kwargs:
            pytest.fail("otaloop_requires takes capability names only", pytrace=False)
        required.extend(capability(name) for name in marker.args)
    missing = [name for name in dict.fromkeys(required) if name not in offered(settings)]
    if missing:
        reasons = "; ".join(f"{name}: {REAL_LACKS[name]}" for name in missing)
        pytest.skip(f"needs {', '.join(missing)} ({reasons})")
    if settings.real:
        from harness.scenarios import CONFIGS
        from harness.scenarios.runner import factory_mismatch

        mismatch = factory_mismatch(CONFIGS[want.config], CONFIGS[settings.factory_config])
        if mismatch:
            pytest.skip(f"{mismatch}; see --otaloop-factory-config")
        if item.get_closest_marker("otaloop_quirks") is not None:
            pytest.skip(
                f"otaloop_quirks({want.quirks!r}) applies to the virtual board only; a real board runs what "
                "its firmware does"
            )


def _check_quirks(spec: str) -> None:
    from bootloader_model.errors import CallerError
    from bootloader_model.quirks import QuirkProfile

    try:
        QuirkProfile.named(spec)
    except CallerError as exc:
        pytest.fail(f"otaloop_quirks: {exc}", pytrace=False)
