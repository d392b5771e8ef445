"""Named Harmony v3.9.1 quirks and the profiles that switch them.

The behaviour reference lists behaviours, inferred from the Harmony source, that look like bugs. The
virtual board reproduces each one by default (profile ``harmony-3.9.1``) and fixes it in profile
``corrected``. Every quirk is declared once here, with the spec section it comes from; model code asks
``profile.on("csv-seek-wrap")`` at the one place the behaviour differs. ``docs/quirks.md`` is generated
from this table (``otaloop quirks --markdown``) and a test keeps the two equal.

This module only names quirks; the behaviour lives in the component that has it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bootloader_model.errors import CallerError


@dataclass(frozen=True)
class Quirk:
    """One reproduced Harmony behaviour that looks like a bug."""

    name: str
    component: str  # "bootloader", "database", "service", "core", "downloader"
    section: str  # section of the behaviour reference
    summary: str  # what Harmony does
    corrected: str  # what profile "corrected" does instead
    hardware_confirmed: bool = False


# Each component's quirks are declared in its own block; names are kebab-case and stable (they appear in
# test ids, docs and the --quirks switch).
QUIRKS: tuple[Quirk, ...] = (
    # --- bootloader and image database -------------------------------------------------------------
    Quirk(
        name="csv-seek-wrap",
        component="database",
        section="6",
        summary="csv_save seeks after every write to a uint8_t byte count, so every write that starts after "
        "byte 255 overwrites the start of the file (4 rows of typical 29-character names; 3 survive because "
        "byte 256 falls inside the last digest)",
        corrected="the seek uses the full byte count; the file is the plain CSV",
    ),
    Quirk(
        name="db-version-decimal-hex",
        component="database",
        section="6",
        summary='versions are written with sprintf("%d") and read back with strtol(.., 16): "10" reads as 16',
        corrected='versions are written with "%x", so every hexadecimal read returns the true version',
    ),
    Quirk(
        name="bootloader-row-lookup-uint8",
        component="bootloader",
        section="6, 7",
        summary="the bootloader's GetImageRow casts each row version to uint8_t; from version 100 (read as "
        "0x100) the running image's row is never found and the image is reprogrammed on every boot",
        corrected="the lookup compares full 32-bit versions",
    ),
    Quirk(
        name="select-header-status",
        component="bootloader",
        section="7",
        summary="SELECT reads each newer row's status into the shared header, so boot control gets the status "
        "of the last row examined, which may be a skipped f0 row; the image is reprogrammed at a later boot",
        corrected="boot control gets the status of the selected row",
    ),
    Quirk(
        name="program-stale-tail",
        component="bootloader",
        section="7",
        summary="the last partial 4 KiB chunk is programmed with stale buffer bytes past the end of the file, "
        "and the boot control filler (bytes 256..4095) is the stale tail of the last chunk",
        corrected="bytes past the end of the file stay erased (0xFF); the boot control filler is the image's "
        "own first page",
    ),
    Quirk(
        name="bootloader-stale-new-image",
        component="bootloader",
        section="7",
        summary="new_image is never cleared: after a broken download falls back to the factory image in the "
        "same boot, the factory image is programmed as a PRODUCTION image (sz = file size), so the next boot "
        "programs it again (reached only with verify-failure-file-leak corrected)",
        corrected="choosing the factory image clears new_image; the factory header is programmed as stored",
    ),
    Quirk(
        name="verify-failure-file-leak",
        component="bootloader",
        section="7",
        summary="VERIFY's Broken Image path never closes the image file SELECT opened, and the bootloader's "
        "SYS_FS_MAX_FILES is 1: INVALIDATE's DB save and every later SYS_FS_FileOpen fail, so the bootloader "
        "prints 'file open error' on every pass for ever, with image_database.csv kept and the broken image "
        "left programmed (every boot programs it again)",
        corrected="the image file is closed when verification fails: the row is removed, the next image or "
        "the factory image is programmed",
    ),
    Quirk(
        name="select-field-error-loop",
        component="bootloader",
        section="7",
        summary="an unreadable version (missing column or over 30 characters) makes SELECT fall back to the "
        "factory image only when the DB has exactly one row; with more rows (or an unreadable status, name or "
        "digest) SELECT retries silently for ever",
        corrected="any unreadable field of the database selects the factory image",
    ),
    # --- OTA service, core and downloader ----------------------------------------------------------
    Quirk(
        "svc-failed-events-dropped",
        "service",
        "1.2, 1.4",
        "FACTORY_RESET and ROLLBACK states set the FAILED status and UPDATE_USER, then overwrite the state "
        "with STATE_IDLE: SYS_OTA_FACTORY_RESET_FAILED and SYS_OTA_ROLLBACK_FAILED never reach the user",
        "a refused factory reset or rollback delivers its FAILED event",
    ),
    Quirk(
        "svc-stale-check-result",
        "service",
        "1.5",
        "the manifest sub-machine returns json_content_parse_result, written only when a manifest is parsed: "
        "a check that fails earlier repeats the previous check's UPDATE_AVAILABLE",
        "the result is cleared when a check starts, so a failed check reports UPDATE_CHECK_FAILED",
    ),
    Quirk(
        "svc-json-offset-not-reset",
        "service",
        "1.5",
        "the manifest read offset (static rx_len_l) is reset only after a complete read: after a check that "
        "failed mid-body (oversize manifest, stall, error), every later check reads at the stale offset "
        "and fails",
        "the read offset is reset when a check starts",
    ),
    Quirk(
        "svc-stuck-trigger-after-start-failure",
        "service",
        "1.6 G",
        "TRIGGER_OTA sets otaFwInProgress before looking at OTA_Start's result: after TRIGGER_OTA_FAILED "
        "every later INITIATE_OTA sticks in TRIGGER_OTA and factory reset / rollback are skipped",
        "otaFwInProgress is set only when OTA_Start succeeded",
    ),
    Quirk(
        "svc-stuck-erase-flag",
        "service",
        "1.6 J",
        'erase_request is cleared only by a manifest with an explicit "EraseVer": false; while set, every '
        "manifest is treated as an erase request and a check never completes",
        "a manifest without EraseVer clears the erase request",
    ),
    Quirk(
        "svc-check-after-download-hangs",
        "service",
        "10 (5)",
        "UPDATECHCK while a download is in progress or done skips the check but leaves the in-progress flag "
        "set: the service stays in SERVER_UPDATE_CHECK_TRIGGER (or AUTO_UPDATE_CHECK) for good",
        "the skipped check completes at once with UPDATE_NOTAVAILABLE",
    ),
    Quirk(
        "svc-db-entry-failure-unhandled",
        "service",
        "1.3, 10 (6)",
        "OTA_RESULT_IMAGE_DB_ENTRY_FAILED has no case in _OTACallback: no event, and the service stays in "
        "WAIT_FOR_OTA_COMPLETE with otaFwInProgress set",
        "a DB entry failure is reported as SYS_OTA_DOWNLOAD_FAILED and the service goes idle",
    ),
    Quirk(
        "svc-periodic-off-stays-waiting",
        "service",
        "1.4",
        "switching periodic check off at run time (sysota set 0) leaves the service in "
        "WAIT_FOR_OTA_TIMER_TRIGGER, where every control message is refused",
        "with periodic check off the waiting service falls to STATE_IDLE",
    ),
    Quirk(
        "svc-negative-version-available",
        "service",
        "4",
        "uint32_t app_version < (int) Version compares unsigned: a negative manifest Version is 'newer'",
        "the comparison is signed",
    ),
    Quirk(
        "svc-url-overflows-digest",
        "service",
        "4",
        "SYS_OTA_ParseJsonContent copies the manifest URL into the 100-byte ota_server_url with "
        "memcpy(strlen + 1), straight into serv_app_digest_string, and then strncpy's the digest over the "
        "spill: a URL of 100 bytes or more becomes its first 100 bytes followed by the digest, and that is "
        "the URL the download requests (sys_ota.c.ftl:729, :756)",
        "a manifest URL of 100 bytes or more is a parse error (Error parsing Server app URL): no update",
    ),
    Quirk(
        "svc-cjson-bad-hex-escape",
        "service",
        "4",
        "cJSON's parse_hex4 returns 0 for a \\u escape with a non-hexadecimal digit, so the escape becomes a "
        'NUL that ends the string and the parse succeeds: "URL":"\\u00zz" is an empty URL (cjson.c:556)',
        "such an escape fails the parse, as any other invalid escape does (update check failed)",
    ),
    Quirk(
        "svc-app-version-printed-signed",
        "service",
        "4",
        "the running version (uint32_t) is printed with %d: 2^31 and above print negative, 4294967295 "
        "prints -1 (sys_ota.c.ftl:780)",
        "the version is printed unsigned",
    ),
    Quirk(
        "core-status-error-reported-as-success",
        "core",
        "1.3, 10 (7)",
        "an error in SET_IMAGE_STATUS (DB load, version not found) still yields IMAGE_STATUS_SET / "
        "ROLLBACK_DONE, so the user sees DB_ENTRY_SUCCESS or ROLLBACK_SUCCESS while boot control is unchanged",
        "the error is reported: DB entry failure after a download, ROLLBACK_FAILED after a rollback",
    ),
    Quirk(
        "core-task-state-not-reset",
        "core",
        "1.3 (ota.c.ftl)",
        "OTA_Start, OTA_Rollback, OTA_FactoryReset and OTA_EraseImage do not reset the shared ota.task.state: "
        "after a digest mismatch (state left at 3) a factory reset reports success without doing anything, "
        "the next download fails at once without DOWNLOAD_START, and a rollback saves a stale DB and hangs",
        "every task starts from its INIT state",
    ),
    Quirk(
        "core-rollback-flag-sticks",
        "core",
        "1.3 (ota.c.ftl)",
        "ota_rollback_initiated is never cleared: a download after a rollback (without reset) updates the "
        "running version's row, reports ROLLBACK_SUCCESS instead of DB_ENTRY_SUCCESS and leaves the service "
        "waiting for good",
        "the flag is cleared when the rollback completes",
    ),
    Quirk(
        "core-dbfull-status-wrong-row",
        "core",
        "6",
        "after a DB-full replacement the status step uses the last row, not the replaced one: that row is set "
        "to fe and its version goes into boot control",
        "the status step uses the row the new entry was written to",
    ),
    Quirk(
        "core-boot-control-stale-buffer",
        "core",
        "1.3, 1.6 A",
        "OTA_Task_SetImageStatus writes the 4 KiB boot control page from an OSAL_Malloc buffer it never "
        "initialises past the 256-byte header, and leaves the header's slot, sz and digest as the previous "
        "task's context held them (ota.c:1409, :1469): after a download, bytes 256..4095 are the heap block "
        "the digest check just freed (the image's last 4 KiB chunk, then the previous chunk's bytes) and "
        "digest bytes 0..3 the image size; in a run without a download the heap hands out zeros",
        "the buffer is filled with 0xFF (an erased page) and every header field the task does not set is 0",
    ),
    Quirk(
        "core-download-status-not-reset",
        "core",
        "2.3",
        "OTA_GetDownloadStatus values are never reset between downloads",
        "both values are reset when a download starts",
    ),
    Quirk(
        "core-image-min-4k",
        "core",
        "10 (15)",
        "the download waits for a full first 4096 bytes; the client closes once Content-Length bytes arrived, "
        "so an image of 4096 bytes or less fails with a download error (spec says it hangs until the 1000 s "
        "deadline; the source says DOWNLOADER_Read returns -1 once the client has closed)",
        "images of up to 4096 bytes download and verify",
    ),
    Quirk(
        "core-url-without-dot-crash",
        "core",
        "6",
        "an image URL whose file name has no '.' makes create_image_file write through NULL: the device hangs "
        "in the exception handler as the download starts, before DOWNLOAD_START reaches the user",
        "the file cannot be created, so the download fails with a download error",
    ),
    Quirk(
        "http-slot-leak-on-bad-url",
        "downloader",
        "1.5, 9",
        "HTTP_Client_Get returns on a URL parse error without freeing its only connection slot: after one bad "
        "URL every later manifest check or download fails (Downloader open error) until reset",
        "the slot is released on a parse error",
    ),
)

#: The name of the profile that reproduces every quirk, as Harmony v3.9.1 has them: the default everywhere.
HARMONY_NAME = "harmony-3.9.1"
#: The name of the profile that fixes every quirk.
CORRECTED_NAME = "corrected"
PROFILE_NAMES = (HARMONY_NAME, CORRECTED_NAME)


@dataclass(frozen=True)
class QuirkProfile:
    """A set of enabled quirks. ``harmony-3.9.1`` enables all of them, ``corrected`` none."""

    name: str
    enabled: frozenset[str]

    def on(self, quirk: str) -> bool:
        if quirk not in _BY_NAME:
            raise KeyError(f"unknown quirk {quirk!r}")  # a typo in model code, not a user error
        return quirk in self.enabled

    @classmethod
    def named(cls, spec: str) -> QuirkProfile:
        """Build ``harmony-3.9.1`` or ``corrected``, optionally adjusted by comma-separated ``+quirk`` or
        ``-quirk`` items, e.g. ``corrected,+csv-seek-wrap``."""
        base, *edits = [part.strip() for part in spec.split(",")]
        if base not in PROFILE_NAMES:
            raise CallerError(f"unknown quirk profile {base!r}; choose {' or '.join(PROFILE_NAMES)}")
        enabled = set(_BY_NAME) if base == HARMONY_NAME else set()
        for edit in edits:
            sign, name = edit[:1], edit[1:]
            if sign not in ("+", "-") or name not in _BY_NAME:
                raise CallerError(f"bad quirk adjustment {edit!r}: expected +NAME or -NAME of a known quirk")
            if sign == "+":
                enabled.add(name)
            else:
                enabled.discard(name)
        return cls(spec, frozenset(enabled))


_BY_NAME = {q.name: q for q in QUIRKS}

HARMONY = QuirkProfile.named(HARMONY_NAME)
CORRECTED = QuirkProfile.named(CORRECTED_NAME)


def quirk(name: str) -> Quirk:
    return _BY_NAME[name]
