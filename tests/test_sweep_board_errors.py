"""A board that does not do what a sweep needs is a BoardError (one line, the console's end on it), never an
AssertionError the command line does not catch."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import pytest

from bootloader_model.board.virtual_board import VirtualBoard
from bootloader_model.errors import BoardError
from bootloader_model.formats.app_descriptor import AppDescriptor, Behaviour
from bootloader_model.formats.app_image import build_app
from bootloader_model.storage.nor_flash import CutMode
from harness.image.server import ImageServer
from harness.sweeps import double
from harness.sweeps.bootloader import build_scene, cut_once
from harness.sweeps.fault_ids import FaultId, Params, SecondCut
from harness.sweeps.memo import ReadSet
from harness.sweeps.update import RecordedOp, Reference, UpdateRig, record, replay


@pytest.fixture
def own_rig() -> Iterator[UpdateRig]:
    with ImageServer() as server:
        yield UpdateRig(Params(), server)


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text and "its console ended with " in text
    return text


def test_a_factory_image_that_hangs_is_a_board_error(own_rig: UpdateRig) -> None:
    url = own_rig.server.url("/ota.json")
    own_rig.factory = build_app(AppDescriptor(version=1, manifest_url=url, behaviour=Behaviour.HANG_AT_BOOT), 16384)
    with pytest.raises(BoardError, match="factory v1 did not start") as caught:
        record(own_rig)
    _one_line(caught.value)


def test_an_update_that_never_downloads_is_a_board_error(own_rig: UpdateRig) -> None:
    image_url = own_rig.server.url("/app_v2.bin")
    own_rig.server.put_manifest(2, image_url, "0" * 64)  # every download fails its digest check
    with pytest.raises(BoardError, match="v1 never asked for the reset after the download") as caught:
        record(own_rig)
    _one_line(caught.value)


def test_a_replay_that_does_not_cut_where_the_recording_did_is_a_board_error(rig: UpdateRig, ref: Reference) -> None:
    k = 5
    ops = list(ref.ops)
    ops[k] = dataclasses.replace(ops[k], count=ops[k].count + 10**6)  # the board now never gets that far
    moved = dataclasses.replace(ref, ops=ops)
    fault = FaultId(ref.params, ops[k].short_device, k, CutMode.AFTER)
    with pytest.raises(BoardError, match=f"replay of {fault} did not cut") as caught:
        replay(rig, moved, fault)
    _one_line(caught.value)


def test_a_double_replay_that_does_not_cut_is_a_board_error(
    rig: UpdateRig, ref: Reference, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = double.recovery

    def far(board: VirtualBoard, watch: Sequence[ReadSet] = ()) -> list[RecordedOp]:
        return [dataclasses.replace(op, count=op.count + 10**6) for op in real(board, watch)]  # never that far

    monkeypatch.setattr(double, "recovery", far)
    first = FaultId(ref.params, ref.ops[ref.reset_at].short_device, ref.reset_at, CutMode.AFTER)
    ops = far(double.board_holding(ref, replay(rig, ref, first).state))
    fault = dataclasses.replace(first, second=SecondCut(ops[0].short_device, 0, CutMode.BEFORE, 1))
    with pytest.raises(BoardError, match="did not cut at recovery operation 0 as recorded") as caught:
        double.replay(rig, ref, fault)
    _one_line(caught.value)


def test_a_bootloader_cut_that_is_never_reached_is_a_board_error() -> None:
    scene = build_scene("backup")
    scene.freeze()
    op = scene.board.flash.log[0] if scene.board.flash.log else None
    with pytest.raises(BoardError, match="never reached operation 1000000 of the internal flash"):
        cut_once(scene, "internal", 1_000_000, CutMode.BEFORE, op)  # type: ignore[arg-type]
