"""pytest-xdist: which board a worker drives, and refusing a parallel run that would share one real board.

Virtual boards need nothing here: every worker process makes its own boards, each on its own pty, with
its own image server on a free 127.0.0.1 port. A real board can serve one worker only, so ``pytest -n N``
with real boards needs ``--otaloop-port`` (and ``--otaloop-http``) once per worker; worker ``gwK`` drives
the K-th. Without pytest-xdist, the one process is worker 0.
"""

from __future__ import annotations

import pytest

from harness.pytest_plugin.options import Settings


def worker_index(config: pytest.Config) -> int:
    """0 without pytest-xdist; K on worker ``gwK``."""
    workerinput = getattr(config, "workerinput", None)
    if not workerinput:
        return 0
    workerid = str(workerinput.get("workerid", "gw0"))
    digits = workerid.lstrip("gw")
    return int(digits) if digits.isdigit() else 0


def planned_workers(config: pytest.Config) -> int:
    """How many pytest-xdist workers the controller will start (0 when the run is not distributed)."""
    if getattr(config, "workerinput", None):
        return 0
    if getattr(config.option, "dist", "no") == "no":
        return 0
    return len(getattr(config.option, "tx", None) or [])


def check_workers(config: pytest.Config, settings: Settings) -> None:
    """Refuse ``-n N`` on fewer than N real boards, with a message that says what to give."""
    workers = planned_workers(config)
    if not settings.real or workers <= len(settings.ports):
        return
    raise pytest.UsageError(
        f"otaloop: {workers} pytest-xdist workers but {len(settings.ports)} real board(s): a real board serves "
        f"one worker at a time. Give --otaloop-port (and --otaloop-http) once per worker, run fewer workers "
        f"(-n {len(settings.ports)}), or drop --otaloop-port to run on virtual boards."
    )
