"""Fixtures the test modules share: a real HTTP server on 127.0.0.1 for the OTA service tests, and the
default update the sweep tests cut (recorded once per session)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.image.server import ImageServer
from harness.sweeps.fault_ids import Params
from harness.sweeps.update import Reference, UpdateRig, record
from tests.otaserver import OtaTestServer


@pytest.fixture
def server() -> Iterator[OtaTestServer]:
    """A fresh :class:`OtaTestServer` per test, closed afterwards."""
    srv = OtaTestServer()
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def rig() -> Iterator[UpdateRig]:
    """The default update of the sweeps (16 KiB v1 -> v2) with its image server on 127.0.0.1."""
    with ImageServer() as image_server:
        yield UpdateRig(Params(), image_server)


@pytest.fixture(scope="session")
def ref(rig: UpdateRig) -> Reference:
    """That update's recorded flash operations."""
    return record(rig)
