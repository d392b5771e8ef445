"""Fixtures the test modules share: a real HTTP server on 127.0.0.1 for the OTA service tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.otaserver import OtaTestServer


@pytest.fixture
def server() -> Iterator[OtaTestServer]:
    """A fresh :class:`OtaTestServer` per test, closed afterwards."""
    srv = OtaTestServer()
    yield srv
    srv.close()
