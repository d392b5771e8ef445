"""harness.fuzzing.strategies: the specs build what they say, and the strategies draw valid specs."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bootloader_model.errors import CallerError
from bootloader_model.formats.app_descriptor import Behaviour, read_descriptor
from bootloader_model.formats.app_image import SLOT_SIZE
from bootloader_model.storage.nor_flash import CutMode
from harness.fuzzing import strategies as ota
from harness.image.server import FaultKind
from harness.scenarios import CONFIGS
from harness.scenarios.base import SyntheticImages

URL = "http://127.0.0.1:8000/ota.json"


def test_image_spec_builds_the_described_image() -> None:
    spec = ota.ImageSpec(3, "crash", 12288)
    data = spec.build(URL)
    desc = read_descriptor(data)
    assert (len(data), desc.version, desc.behaviour, desc.manifest_url) == (12288, 3, Behaviour.CRASH_AT_BOOT, URL)
    assert str(spec) == "v3 (12288 bytes, crashes at boot)"
    assert spec.file_name.endswith(".bin")


def test_damaged_images_differ_from_the_pristine_one() -> None:
    pristine = ota.ImageSpec(2).pristine(URL)
    corrupted = ota.ImageSpec(2, damage="corrupted", damage_at=5000).build(URL)
    truncated = ota.ImageSpec(2, damage="truncated", damage_at=5000).build(URL)
    assert len(corrupted) == len(pristine) and corrupted[5000] == pristine[5000] ^ 0xFF
    assert corrupted[:5000] == pristine[:5000] and corrupted[5001:] == pristine[5001:]
    assert truncated == pristine[:5000]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"version": 2, "behaviour": "sleepy"}, "behaviour"),
        ({"version": 2, "size": SLOT_SIZE + 1}, "size"),
        ({"version": 2, "damage": "corrupted", "damage_at": 9000}, "offset"),
    ],
)
def test_bad_image_specs_are_caller_errors(kwargs: dict[str, object], words: str) -> None:
    with pytest.raises(CallerError, match=words):
        ota.ImageSpec(**kwargs)  # type: ignore[arg-type]


def test_manifest_kinds() -> None:
    digest = "ab" * 32

    def entry(kind: str, missing: str = "Digest") -> dict[str, object]:
        body = json.loads(ota.ManifestSpec(kind, missing).build(2, "http://127.0.0.1/a.bin", digest))
        return dict(body["ota"][0])

    assert entry("valid") == {"Version": 2, "URL": "http://127.0.0.1/a.bin", "Digest": digest}
    assert entry("wrong-digest")["Digest"] != digest
    assert "URL" not in entry("missing-field", "URL")
    assert entry("erase")["EraseVer"] is True
    assert len(ota.ManifestSpec("oversize").build(2, "u", digest)) > ota.MANIFEST_MAX
    with pytest.raises(CallerError, match="manifest kind"):
        ota.ManifestSpec("huge")


def test_server_fault_and_cut_plan_specs() -> None:
    fault = ota.ServerFault("image", "truncate", after=4096, times=1)
    assert fault.fault().kind is FaultKind.TRUNCATE and fault.fault().after == 4096
    assert str(fault) == "the image request closes after 4096 bytes (1 time)"
    plan = ota.CutPlan("external", 38, CutMode.TORN, 3)
    assert plan.fault_id == "ext@op38:torn:s3"
    assert str(plan) == "half way through the 39th external flash operation (ext@op38:torn:s3)"
    with pytest.raises(CallerError):
        ota.ServerFault("body", "drop")
    with pytest.raises(CallerError):
        ota.CutPlan("eeprom", 1)


@settings(max_examples=40, deadline=None)
@given(
    image=ota.images(),
    manifest=ota.manifests(),
    fault=ota.server_faults(),
    plan=ota.fault_plans(),
    line=ota.console_lines(),
)
def test_strategies_draw_valid_specs(
    image: ota.ImageSpec, manifest: ota.ManifestSpec, fault: ota.ServerFault, plan: ota.CutPlan, line: bytes
) -> None:
    data = image.build(URL)
    assert len(data) == (image.damage_at if image.damage == "truncated" else image.size)
    assert manifest.kind in ota.MANIFEST_KINDS
    assert fault.kind in ota.INSTANT_FAULTS  # no wall-clock faults by default
    assert 0 <= plan.op <= 400
    assert isinstance(line, bytes)


@settings(max_examples=10, deadline=None)
@given(st.data())
def test_commands_are_valid_console_commands(data: st.DataObject) -> None:
    line = data.draw(ota.commands())
    assert line.split()[0] in (b"otactl", b"sysota", b"sysotahelp", b"help")


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_images_carry_every_option_of_their_configuration(config: str) -> None:
    url = "http://127.0.0.1:8000/ota.json"
    spec = ota.ImageSpec(4, size=8192, config=config, behaviour="crash")
    assert read_descriptor(spec.pristine(url)) == CONFIGS[config].descriptor(4, url, Behaviour.CRASH_AT_BOOT)
    assert read_descriptor(SyntheticImages(url).app(CONFIGS[config], 4)) == CONFIGS[config].descriptor(4, url)
