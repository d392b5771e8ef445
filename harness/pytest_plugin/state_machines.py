"""Property tests on ``BoardStateMachine`` under the run's options.

A user's subclass of :class:`harness.fuzzing.BoardStateMachine` runs as hypothesis's ``TestCase``, not
through the plugin's fixtures. So that ``--otaloop-bootloader``, ``--otaloop-application`` and
``--otaloop-quirks`` (or an ``otaloop_quirks`` marker) reach it as they reach a virtual board, the machine class
gets them as its ``bootloader``, ``application`` and ``quirks`` for the duration of the test, and its own
values back afterwards. Without those options and markers the class keeps what it says.

It does nothing for other tests, and it never imports hypothesis or the fuzzing package itself: a test
that has no machine has not imported them either.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import pytest

from bootloader_model.quirks import HARMONY_NAME
from harness.pytest_plugin.options import DEFAULT_BOOTLOADER, Settings


def machine_of(item: pytest.Item) -> type | None:
    """The ``BoardStateMachine`` subclass ``item`` runs, if it is one's ``TestCase``."""
    fuzzing = sys.modules.get("harness.fuzzing.machine")
    if fuzzing is None:
        return None
    machine = getattr(getattr(item, "obj", None), "_hypothesis_state_machine_class", None)
    base: type = fuzzing.BoardStateMachine
    if isinstance(machine, type) and issubclass(machine, base):
        return machine
    return None


@contextlib.contextmanager
def configured(item: pytest.Item, settings: Settings) -> Iterator[None]:
    """Give ``item``'s machine the run's quirk profile, bootloader and application while it runs."""
    machine = machine_of(item)
    if machine is None:
        yield
        return
    wanted: dict[str, str] = {}
    marker = item.get_closest_marker("otaloop_quirks")
    if marker is not None and marker.args:
        wanted["quirks"] = str(marker.args[0])
    elif settings.quirks != HARMONY_NAME:
        wanted["quirks"] = settings.quirks
    if settings.bootloader != DEFAULT_BOOTLOADER:
        wanted["bootloader"] = settings.bootloader
    if settings.application != DEFAULT_BOOTLOADER:  # the same default text: "model"
        wanted["application"] = settings.application
    before = {name: machine.__dict__[name] for name in wanted if name in machine.__dict__}
    for name, value in wanted.items():
        setattr(machine, name, value)
    try:
        yield
    finally:
        for name in wanted:
            if name in before:
                setattr(machine, name, before[name])
            else:
                delattr(machine, name)
