"""The same sweep on a real Dask ``LocalCluster`` with two worker processes: byte for byte the in-process JSON.

Skipped, with the reason, when the ``distributed`` extra is not installed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bootloader_model.errors import CallerError
from harness.cli import main
from harness.sweeps.executor import DaskCluster, InProcess
from harness.sweeps.results import SweepRun, dumps
from harness.sweeps.update import Reference, plan_sweep, run_sweep

distributed = pytest.importorskip(
    "distributed", reason="Dask sweeps need the distributed extra: pip install 'otaloop[distributed]'"
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local.scheduler_address


def test_dask_cluster_gives_the_in_process_results_byte_for_byte(ref: Reference, cluster: str) -> None:
    plan = plan_sweep(ref, stride=13)
    done: list[int] = []
    on_dask = DaskCluster(cluster)
    remote = run_sweep(plan, on_dask, progress=done.append)
    local = run_sweep(plan, InProcess())
    assert dumps(SweepRun.of(plan, remote)) == dumps(SweepRun.of(plan, local))
    assert sum(done) == len(local) and on_dask.workers == 2


def test_cli_scheduler_option(cluster: str, tmp_path: Path) -> None:
    argv = ["sweep", "update", "--stride", "97", "--modes", "before,torn"]
    assert main([*argv, "--scheduler", cluster, "--json", str(tmp_path / "dask.json")]) == 0
    assert main([*argv, "--jobs", "1", "--json", str(tmp_path / "local.json")]) == 0
    assert (tmp_path / "dask.json").read_text() == (tmp_path / "local.json").read_text()


def test_unreachable_scheduler_is_a_caller_error(ref: Reference) -> None:
    nowhere = DaskCluster("tcp://127.0.0.1:9", connect_timeout_s=1.0)
    with pytest.raises(CallerError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        run_sweep(plan_sweep(ref, stride=500), nowhere)


def test_jobs_with_scheduler_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "update", "--scheduler", "tcp://127.0.0.1:9", "--jobs", "2"]) == 2
    assert "exclude each other" in capsys.readouterr().err
