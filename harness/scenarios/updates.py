"""Scenarios of the update path, spec section 1.6 A to J: boots, checks, downloads, verification, the DB.

Each function drives the board only through the bench's driver and console and the image server, checks
the console line sequence the spec gives (section 1.6 and 9), and returns the :class:`Trace`.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable
from typing import TypeVar

from harness.image.server import Fault, FaultKind
from harness.scenarios.base import (
    Bench,
    ScenarioSkipped,
    Trace,
    check,
    expect_lines,
    image_name,
    scenario,
)

T = TypeVar("T")

BANNER = re.compile(r"BOOTLOADER Build [A-Z][a-z]{2} [ \d]\d \d{4} \d\d:\d\d:\d\d")
IP_LINE = "SYS OTA : IP address obtained for preferred interface for OTA"
#: The periodic timer fires interval + 2 s after it is armed (spec 1.4, SYS_OTA_RTCset).
FIRST_CHECK_S = 62 + 10


def connecting(bench: Bench) -> str:
    return f"SYS OTA : Connecting to server : {bench.manifest_url}"


def manifest_lines(bench: Bench, url: str, digest: str, server: int, current: int) -> list[str]:
    """What the service prints for a manifest it parsed (spec 1.6 B)."""
    return [
        connecting(bench),
        "SYS_OTA : JSON parsing ",
        f'    Server app URL "{url}"',
        f'    Server app Digest "{digest}"',
        f"    Server app version: {server}",
        f"    current app version: {current}",
    ]


def download_started(url: str) -> list[str]:
    """From UPDATE_AVAILABLE to DOWNLOAD_START (spec 1.6 C)."""
    return ["SYS_OTA_UPDATE_AVAILABLE", f"SYS OTA : Starting OTA with server: {url} ", "SYS_OTA_DOWNLOAD_START"]


def expect_download_start(bench: Bench, url: str, digest: str, version: int, current: int) -> int:
    """Wait for a check that finds ``version`` and starts its download; return the console offset of the
    ``SYS_OTA_DOWNLOAD_START`` line (for :meth:`Bench.span_seconds`)."""
    expect_lines(
        bench,
        ["SYS_OTA_UPDATE_CHECK_START", *manifest_lines(bench, url, digest, version, current), *download_started(url)],
        FIRST_CHECK_S,
    )
    return bench.last_span[1]


def download_ok(url: str) -> list[str]:
    """From UPDATE_AVAILABLE to DB_ENTRY_SUCCESS (spec 1.6 C)."""
    return [
        *download_started(url),
        "SYS_OTA_DOWNLOAD_SUCCESS",
        "SYS_OTA_IMAGE_DIGEST_VERIFY_START",
        "SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS",
        "SYS_OTA_DB_ENTRY_SUCCESS",
    ]


def boot_lines(version: int, *extra: str) -> list[str | re.Pattern[str]]:
    """A reset into ``version``: the banner, bootloader lines, the app line, then the network line."""
    return [BANNER, *extra, f"APP: version {version}"]


def settle(bench: Bench) -> None:
    """After the application came up: with periodic checking off, wait until its service idles.

    Control messages are accepted only in ``SYS_OTA_STATE_IDLE`` (spec 2.1), which the service reaches a
    few ticks after the IP line (it first waits for the core's boot-time init). A harness that types a
    command as soon as it reads the IP line can beat it: on a virtual board whose runner paused right after
    that line, or on a real board with a quick host. With periodic checking on, the service waits for its
    timer instead and never idles on its own; nothing to wait for.
    """
    if not bench.factory.periodic:
        bench.driver.wait_idle(bench.wall(10))


def first_boot(bench: Bench) -> None:
    """Power the board up and check the boot (a factory backup on a fresh virtual board), then :func:`settle`."""
    start = bench.console.pos
    bench.start()
    bench.console.pos = start
    if bench.virtual is not None:
        # A freshly provisioned board backs the factory image up and resets itself: two banners.
        expect_lines(bench, [BANNER, BANNER, "APP: version 1", IP_LINE], 300)
    else:
        expect_lines(bench, [*boot_lines(1), IP_LINE], 300)
    settle(bench)


def first_boot_serving(bench: Bench, serve: Callable[[], T]) -> T:
    """:func:`first_boot`, with what ``serve`` puts on the image server in place for the board's first check.

    That check comes 62 board seconds after the application is up (spec 1.4). A real board gives the host
    those 62 s to change the server; a virtual board at speed 1000 gives it 62 ms, which a loaded host can
    exceed, and the board would check the empty server first (404) or fetch an image before its fault is
    set. So on a virtual board that is still off, ``serve`` runs before power-on (nothing reaches the
    server before the first check); otherwise after the boot, as the host of a real board does it.
    Returns what ``serve`` returned.
    """
    if bench.virtual is not None and not bench.virtual.call(lambda b: b.powered):
        served = serve()
        first_boot(bench)
        return served
    first_boot(bench)
    return serve()


def expect_update(bench: Bench, current: int, version: int, url: str, digest: str, *, manual: bool = False) -> None:
    """Watch a complete update from ``current`` to the published ``version`` (periodic, or `otactl check`).

    With autoreset off the service then passes through SYS_OTA_AUTORESET to idle: :func:`settle` waits.
    """
    if manual:
        check(bench.driver.check_update(), "otactl check accepted", "SYS_OTA_FAILURE")
    expect_lines(
        bench,
        ["SYS_OTA_UPDATE_CHECK_START", *manifest_lines(bench, url, digest, version, current), *download_ok(url)],
        FIRST_CHECK_S + 120,
    )
    if not bench.factory.autoreset:
        settle(bench)


def update(bench: Bench, current: int, version: int, *, manual: bool = False) -> None:
    """Publish ``version`` and watch a complete update from ``current`` (periodic, or `otactl check`)."""
    url, digest, _ = bench.publish(version)
    expect_update(bench, current, version, url, digest, manual=manual)


def reboot_into(bench: Bench, version: int, *extra: str) -> None:
    """Watch a reset into ``version`` up to the IP line, then :func:`settle`."""
    expect_lines(bench, [*boot_lines(version), *extra, IP_LINE], 300)
    settle(bench)


def closed_port(host: str) -> int:
    """A TCP port on ``host`` that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------------ A, B, C
@scenario("first_boot", requires={"provision"})
def first_boot_backup(bench: Bench) -> Trace:
    """A: first boot after flashing: factory backup, two banners, then the factory app."""
    first_boot(bench)
    if bench.virtual is not None:
        files = bench.virtual.ota_files()
        check(files == ["factory_reset.bin"], "only ota/factory_reset.bin on the new volume", files)
    db = bench.driver.image_db()
    check(db is None, "no image database yet ('NO info found')", db)
    return bench.trace("backup made; factory app v1 runs; no DB")


@scenario("b_no_update")
def periodic_no_update(bench: Bench) -> Trace:
    """B: periodic check, server has the running version: NOTAVAILABLE, every interval + 2 s."""
    url, digest, _ = first_boot_serving(bench, lambda: bench.publish(1))
    one = ["SYS_OTA_UPDATE_CHECK_START", *manifest_lines(bench, url, digest, 1, 1), "SYS_OTA_UPDATE_NOTAVAILABLE"]
    expect_lines(bench, one, FIRST_CHECK_S)
    first_end = bench.last_span[1]
    expect_lines(bench, one, FIRST_CHECK_S)
    note = "two checks, no update"
    t_end, t_next = bench.printed_at(first_end), bench.printed_at(bench.last_span[0])
    if t_end is not None and t_next is not None:
        gap = t_next - t_end
        check(61.5 <= gap <= 63.0, "the next check 62 s after the last (interval 60 s + 2 s)", f"{gap:.2f} s")
        note += f", {gap:.0f} s apart"
    return bench.trace(note)


@scenario("c_update")
def successful_update(bench: Bench) -> Trace:
    """C: successful update: manifest, download, verify, DB entry, reset into v2."""
    url, digest, _ = first_boot_serving(bench, lambda: bench.publish(2))
    expect_update(bench, 1, 2, url, digest)
    reboot_into(bench, 2)
    db = bench.driver.image_db()
    check(db is not None and [r[0] for r in db] == [image_name(2)], f"one DB row for {image_name(2)}", db)
    return bench.trace("v1 -> v2 in one reset")


# ------------------------------------------------------------------------------------------------------ D, E
def _check_failed(bench: Bench, middle: list[str]) -> None:
    expect_lines(
        bench, ["SYS_OTA_UPDATE_CHECK_START", connecting(bench), *middle, "SYS_OTA_UPDATE_CHECK_FAILED"], FIRST_CHECK_S
    )


@scenario("d_unreachable")
def check_server_unreachable(bench: Bench) -> Trace:
    """D: manifest server refuses the connection: UPDATE_CHECK_FAILED."""
    first_boot(bench)
    # Point the service at a closed port through the CLI (the URL is read at the next check).
    url = f"http://{bench.server.host}:{closed_port(bench.server.host)}/ota.json"
    bench.driver.sysota_set(True, True, True, 60, url)
    expect_lines(
        bench,
        ["SYS_OTA_UPDATE_CHECK_START", f"SYS OTA : Connecting to server : {url}", "SYS_OTA_UPDATE_CHECK_FAILED"],
        FIRST_CHECK_S,
    )
    return bench.trace("connection refused -> check failed")


@scenario("d_http_404")
def check_http_404(bench: Bench) -> Trace:
    """D: manifest answered with HTTP 404: rejected by client, UPDATE_CHECK_FAILED."""
    first_boot_serving(bench, lambda: bench.server.fault(bench.manifest_path, Fault(FaultKind.STATUS, status=404)))
    # The 404 body shares the header segment, so Harmony's client still hands it to the manifest reader,
    # which parses it (field_content_length is only set for a 200): hence the JSON parsing line.
    _check_failed(bench, ["SYS_OTA : Request rejected by client :code: 404 ", "SYS_OTA : JSON parsing "])
    return bench.trace("404 -> check failed")


@scenario("d_bad_json")
def check_malformed_json(bench: Bench) -> Trace:
    """D: malformed manifest JSON: JSON parsing, UPDATE_CHECK_FAILED."""
    first_boot_serving(bench, lambda: bench.serve_manifest_text(b'{"ota": [ {"Version": 2,, } ]}'))
    _check_failed(bench, ["SYS_OTA : JSON parsing "])
    return bench.trace("cJSON_Parse fails -> check failed")


@scenario("e_missing_field")
def manifest_missing_field(bench: Bench) -> Trace:
    """E: manifest without Digest: parse message and UPDATE_NOTAVAILABLE (not 'failed')."""
    url = bench.server.url("/" + image_name(2))
    first_boot_serving(
        bench, lambda: bench.serve_manifest_text(json.dumps({"ota": [{"Version": 2, "URL": url}]}).encode())
    )
    expect_lines(
        bench,
        [
            "SYS_OTA_UPDATE_CHECK_START",
            connecting(bench),
            "SYS_OTA : JSON parsing ",
            "SYS OTA : Mandatory JSON fields does not exist",
            "SYS_OTA_UPDATE_NOTAVAILABLE",
        ],
        FIRST_CHECK_S,
    )
    return bench.trace("missing Digest -> not available")


# ------------------------------------------------------------------------------------------------------ F, G, H
@scenario("f_manual_start", factory="notify")
def available_then_manual_start(bench: Bench) -> Trace:
    """F: auto-update off: UPDATE_AVAILABLE, service idles, `otactl start` downloads v2."""
    url, digest, _ = first_boot_serving(bench, lambda: bench.publish(2))
    expect_lines(
        bench,
        ["SYS_OTA_UPDATE_CHECK_START", *manifest_lines(bench, url, digest, 2, 1), "SYS_OTA_UPDATE_AVAILABLE"],
        FIRST_CHECK_S,
    )
    st = bench.driver.status()
    check(st.state == "SYS_OTA_STATE_IDLE", "the service idle after UPDATE_AVAILABLE", st.state)
    check(bench.driver.start_ota(), "otactl start accepted", "SYS_OTA_FAILURE")
    expect_lines(bench, download_ok(url)[1:], 200)
    reboot_into(bench, 2)
    return bench.trace("idle after AVAILABLE; manual start -> v2")


@scenario("f_start_with_parameters", factory="manual-longcmd")
def start_with_parameters(bench: Bench) -> Trace:
    """F by hand: `otactl start <url> <version> <digest>` (SYS_OTA_SET_PARAMETERS) downloads v2, no manifest."""
    first_boot(bench)
    url, digest, _ = bench.publish(2)  # the manifest is served too, but nothing reads it (no periodic check)
    line = len(f"otactl start {url} 2 {digest}")
    if line > bench.driver.max_line:
        raise ScenarioSkipped(
            f"`otactl start <url> <version> <digest>` is {line} characters and this firmware's console takes "
            f"{bench.driver.max_line} (SYS_CMD_MAX_LENGTH): build the {bench.factory.name!r} test firmware with a "
            "larger SYS_CMD_MAX_LENGTH"
        )
    check(bench.driver.start_ota(url, 2, digest), "otactl start <url> 2 <digest> accepted", "SYS_OTA_FAILURE")
    # SYS_OTA_SET_PARAMETERS skips the manifest: no UPDATE_AVAILABLE, straight to the download.
    expect_lines(bench, download_ok(url)[1:], 200)
    reboot_into(bench, 2)
    return bench.trace(f"{line}-character otactl start -> v2 without a manifest")


def _failed_download(bench: Bench, fault: Fault, tail: list[str], board_s: float = 200) -> tuple[str, float | None]:

    def serve() -> tuple[str, str]:
        url, digest, _ = bench.publish(2)
        bench.server.fault("/" + image_name(2), fault)  # set before any check can fetch the image
        return url, digest

    url, digest = first_boot_serving(bench, serve)
    started = expect_download_start(bench, url, digest, 2, 1)
    expect_lines(bench, tail, board_s)
    took = bench.span_seconds(started)
    st = bench.driver.status()
    check(st.state == "SYS_OTA_STATE_IDLE", "the service idle (periodic checking stopped)", st.state)
    return url, took


@scenario("g_truncated")
def download_truncated(bench: Bench) -> Trace:
    """G: image cut short by the server: Download error, DOWNLOAD_FAILED, service idle."""
    size = len(bench.images.app(bench.factory, 2))
    _, took = _failed_download(
        bench,
        Fault(FaultKind.TRUNCATE, after=size // 2),
        ["SYS_OTA : DOWNLOADER_HTTPClient_Abort", "SYS OTA : Download error", "SYS_OTA_DOWNLOAD_FAILED"],
        1100,
    )
    # The client does not notice the server's close; only the 1000 s download deadline ends it (spec 10.16).
    note = f"closed after {size // 2} of {size} bytes -> download failed"
    if took is not None:
        check(999 <= took <= 1003, "the failure at the 1000 s download deadline", f"{took:.1f} s")
        note += f" at {took:.0f} s"
    return bench.trace(note)


@scenario("g_stalled")
def download_stalled(bench: Bench) -> Trace:
    """G: server goes silent mid-image: the 1000 s download deadline ends it with DOWNLOAD_FAILED."""
    _, took = _failed_download(
        bench,
        Fault(FaultKind.STALL, after=20_000, seconds=bench.wall(1100)),
        ["SYS_OTA : DOWNLOADER_HTTPClient_Abort", "SYS OTA : Download error", "SYS_OTA_DOWNLOAD_FAILED"],
        1100,
    )
    note = "stalled after 20000 bytes -> download failed"
    if took is not None:
        check(999 <= took <= 1003, "the failure at the 1000 s download deadline", f"{took:.1f} s")
        note += f" at {took:.0f} s"
    return bench.trace(note)


@scenario("h_digest_mismatch")
def digest_mismatch(bench: Bench) -> Trace:
    """H: one corrupted byte: digest mismatch, IMAGE_VERIFICATION_FAILED, file deleted."""
    _failed_download(
        bench,
        Fault(FaultKind.CORRUPT, after=5000),
        [
            "SYS_OTA_DOWNLOAD_SUCCESS",
            "SYS_OTA_IMAGE_DIGEST_VERIFY_START",
            "SYS OTA : digest mismatch",
            "SYS_OTA_IMAGE_VERIFICATION_FAILED",
        ],
    )
    if bench.virtual is not None:
        files = bench.virtual.ota_files()
        check(image_name(2) not in files, f"{image_name(2)} deleted after the mismatch", files)
    return bench.trace("corrupt byte -> verification failed, file deleted")


# ------------------------------------------------------------------------------------------------------ I, J
@scenario("i_db_full")
def db_full_replaces_lowest(bench: Bench) -> Trace:
    """I: after NUM_IMGS (2) downloads 'OTA DB FULL' at boot; the next one replaces the lowest version."""
    url, digest, _ = first_boot_serving(bench, lambda: bench.publish(2))
    expect_update(bench, 1, 2, url, digest)
    reboot_into(bench, 2)
    update(bench, 2, 3)
    reboot_into(bench, 3, "SYS OTA : OTA DB FULL")
    update(bench, 3, 4)
    reboot_into(bench, 4, f"SYS OTA : Removed file : {image_name(2)}", "SYS OTA : OTA DB FULL")
    db = bench.driver.image_db() or []
    names = sorted(r[0] for r in db)
    check(names == [image_name(3), image_name(4)], f"rows for v3 and v4 (v2 replaced), got {db}", names)
    return bench.trace("DB FULL at v3 boot; v4 replaced v2's row")


@scenario("j_erase_version")
def erase_version(bench: Bench) -> Trace:
    """J: manifest with EraseVer true: the row and file of that version go, IMAGE_ERASED."""
    url, digest, _ = first_boot_serving(bench, lambda: bench.publish(2))
    expect_update(bench, 1, 2, url, digest)
    reboot_into(bench, 2)
    update(bench, 2, 3)
    reboot_into(bench, 3, "SYS OTA : OTA DB FULL")
    bench.server.put_manifest(2, bench.server.url("/" + image_name(2)), "00" * 32, erase_ver=True)
    expect_lines(
        bench,
        [
            "SYS_OTA_UPDATE_CHECK_START",
            connecting(bench),
            "SYS_OTA : JSON parsing ",
            "    Server app version: 2",
            "SYS_OTA_IMAGE_ERASED",
        ],
        FIRST_CHECK_S,
    )
    db = bench.driver.image_db() or []
    check([r[0] for r in db] == [image_name(3)], "only v3's row left", db)
    if bench.virtual is not None:
        files = bench.virtual.ota_files()
        check(image_name(2) not in files, f"{image_name(2)} deleted", files)
    return bench.trace("v2 erased; v3 row kept")
