"""The edits Harmony's OTA developer guide asks users to make, as named text edits applied to a copy of the user's tree.

Each :class:`GuideChange` is one use case of the guide (spec section 2a): a few lines inserted after, before or in
place of an anchor in `app.c`, `app_ota.c` or `sys_ota.c`. :func:`copy_application` copies the user's
`wifi_ota_app_upgrade/firmware` folder to a scratch folder and :func:`apply_changes` applies the changes there,
so `build_application(locate_application(copy), cache)` builds the user's application with them. An anchor is
one or more lines compared without their leading and trailing blanks; it must occur exactly once in the file, or
the change fails with a :class:`GuideChangeError` naming the change, the file and the anchor line.

This module does not build, does not touch the user's own tree, and holds none of Harmony's code: the inserted
lines are written here, to the guide's description, against Harmony v3.9.1's generated files.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bootloader_model.errors import CallerError
from harness.native.build import locate_application

SYS_OTA_C = "config/pic32mz_w1_curiosity_freertos/system/ota/sys_ota.c"
APP_OTA_C = "config/pic32mz_w1_curiosity_freertos/system/ota/framework/ota_app/app_ota.c"


class GuideChangeError(CallerError):
    """The user's tree does not hold an anchor line a change needs (or holds it more than once)."""


@dataclass(frozen=True)
class TextEdit:
    """Insert ``text`` after, before or in place of ``anchor`` in ``file`` (relative to the application's `src`)."""

    file: str
    anchor: str
    text: str
    where: Literal["after", "before", "replace"] = "after"


@dataclass(frozen=True)
class GuideChange:
    """One use case of the developer guide: a name, what it does, and its edits (applied in order)."""

    name: str
    summary: str
    edits: tuple[TextEdit, ...]


def _find(lines: list[str], anchor: list[str]) -> list[int]:
    n = len(anchor)
    return [i for i in range(len(lines) - n + 1) if [x.strip() for x in lines[i : i + n]] == anchor]


def apply_change(src: Path, change: GuideChange) -> None:
    """Apply one change's edits to the application folder ``src`` (edits the files in place).

    Args:
        src: the `firmware/src` folder of a copy of the user's tree.
        change: the change to apply.

    Raises:
        GuideChangeError: a file is missing, or an anchor is not found or found more than once.
    """
    for edit in change.edits:
        path = src / edit.file
        if not path.is_file():
            raise GuideChangeError(f"guide change {change.name!r}: {edit.file}: no such file in {src}")
        text = path.read_bytes().decode("utf-8", "surrogateescape")
        newline = "\r\n" if "\r\n" in text else "\n"
        lines = text.splitlines()
        anchor = [x.strip() for x in edit.anchor.strip("\n").splitlines()]
        found = _find(lines, anchor)
        if len(found) != 1:
            what = (
                "not found" if not found else f"found {len(found)} times (lines {', '.join(str(i + 1) for i in found)})"
            )
            raise GuideChangeError(
                f"guide change {change.name!r}: {edit.file}: anchor line {anchor[0]!r} {what}; "
                "the tree differs from Harmony v3.9.1's generated file"
            )
        at = found[0]
        new = edit.text.strip("\n").splitlines()
        if edit.where == "after":
            lines[at + len(anchor) : at + len(anchor)] = new
        elif edit.where == "before":
            lines[at:at] = new
        else:
            lines[at : at + len(anchor)] = new
        path.write_bytes((newline.join(lines) + newline).encode("utf-8", "surrogateescape"))


def apply_changes(src: Path, changes: Iterable[GuideChange]) -> list[str]:
    """Apply several changes in order to ``src``; return their names.

    Args:
        src: the `firmware/src` folder of a copy of the user's tree.
        changes: the changes, in the order they are applied.

    Returns:
        The names of the changes applied.

    Raises:
        GuideChangeError: as :func:`apply_change`.
    """
    names = []
    for change in changes:
        apply_change(src, change)
        names.append(change.name)
    return names


def copy_application(root: str | os.PathLike[str], dest: str | os.PathLike[str]) -> Path:
    """Copy the user's `wifi_ota_app_upgrade/firmware` folder under ``dest``; return the copy's `src` folder.

    Args:
        root: anything :func:`harness.native.build.locate_application` accepts.
        dest: an empty or new folder; the copy is `dest/apps/wifi_ota_app_upgrade/firmware`.

    Returns:
        The copy's `firmware/src` folder (give its parent's parent's parent to `locate_application`).

    Raises:
        CallerError: ``root`` holds no Harmony OTA application.
    """
    src = locate_application(root).src
    copy = Path(dest) / "apps" / "wifi_ota_app_upgrade" / "firmware"
    shutil.copytree(src.parent, copy, symlinks=True)
    return copy / "src"


# ------------------------------------------------------------------------------------------ the changes
_APP_EXTERNS = """
#include "system/ota/framework/ota.h"
extern volatile bool app_ota_db_entry_done;
extern volatile bool app_ota_download_running;
extern volatile bool app_ota_digest_failed;
extern volatile bool app_ota_factory_reset_done;
"""

CALLBACK_REGISTRATION = GuideChange(
    "callback-registration",
    "Guide 1: app.c registers the callback with the guide's snippet (if (true == ota_app_reg_cb()) ...) and prints "
    "the result and the version; app_ota.c's sys_ota_cb sets flags the application reads later "
    "(download running, DB entry done, digest failed, factory reset done); app.c prints 'APP: OTA DB entry done' "
    "once it sees the flag.",
    (
        TextEdit("app.c", '#include "app.h"', _APP_EXTERNS),
        TextEdit(
            "app.c",
            "ota_app_reg_cb();\nappData.state = APP_STATE_SERVICE_TASKS;",
            """
            SYS_CONSOLE_PRINT("APP: version %u\\r\\n", (unsigned)SYS_OTA_APP_VER_NUM);
            bool registered = ota_app_reg_cb();
            SYS_CONSOLE_PRINT("APP: callback registered %d, again %d\\r\\n", registered, ota_app_reg_cb());
            if(true == registered)
                appData.state = APP_STATE_SERVICE_TASKS;
            appData.state = APP_STATE_SERVICE_TASKS;
""",
            "replace",
        ),
        TextEdit(
            "app.c",
            "case APP_STATE_SERVICE_TASKS:\n{",
            """
            static bool db_entry_seen = false, digest_failure_seen = false;
            if (app_ota_db_entry_done && !db_entry_seen) {
                db_entry_seen = true;
                SYS_CONSOLE_PRINT("APP: OTA DB entry done\\r\\n");
            }
            if (app_ota_digest_failed && !digest_failure_seen) {
                digest_failure_seen = true;
                SYS_CONSOLE_PRINT("APP: OTA digest failed\\r\\n");
            }
""",
        ),
        TextEdit(
            APP_OTA_C,
            '#include "definitions.h"',
            """
volatile bool app_ota_db_entry_done = false;
volatile bool app_ota_download_running = false;
volatile bool app_ota_digest_failed = false;
volatile bool app_ota_factory_reset_done = false;
""",
        ),
        TextEdit(APP_OTA_C, 'SYS_CONSOLE_PRINT("SYS_OTA_DOWNLOAD_START\\r\\n");', "app_ota_download_running = true;"),
        TextEdit(
            APP_OTA_C, 'SYS_CONSOLE_PRINT("SYS_OTA_DOWNLOAD_SUCCESS\\r\\n");', "app_ota_download_running = false;"
        ),
        TextEdit(APP_OTA_C, 'SYS_CONSOLE_PRINT("SYS_OTA_DOWNLOAD_FAILED\\r\\n");', "app_ota_download_running = false;"),
        TextEdit(
            APP_OTA_C,
            'SYS_CONSOLE_PRINT("SYS_OTA_IMAGE_VERIFICATION_FAILED\\r\\n");',
            "app_ota_digest_failed = true;",
        ),
        TextEdit(APP_OTA_C, 'SYS_CONSOLE_PRINT("SYS_OTA_DB_ENTRY_SUCCESS\\r\\n");', "app_ota_db_entry_done = true;"),
        TextEdit(
            APP_OTA_C,
            'SYS_CONSOLE_PRINT("SYS_OTA_FACTORY_RESET_SUCCESS\\r\\n");',
            "app_ota_factory_reset_done = true;",
        ),
    ),
)

_SWITCH1_MACROS = """
#ifndef SWITCH1_Get
#define SWITCH1_Get() ((PORTA >> 10) & 0x1U)
#define SWITCH1_STATE_PRESSED 0U
#endif
"""


def switch1_message(message: str, name: str | None = None) -> GuideChange:
    """The guide's user trigger: ``SYS_OTA_CtrlMsg(message, NULL, 0)`` from app.c on each press of SWITCH1.

    Needs :data:`CALLBACK_REGISTRATION` first (it inserts after that change's lines in the service-tasks state).

    Args:
        message: a ``SYS_OTA_CTRLMSG`` value, e.g. ``SYS_OTA_UPDATECHCK`` or ``SYS_OTA_TRIGGER_FACTORY_RESET``.
        name: the change's name (default: ``switch1-`` and the message).

    Returns:
        The change: 'APP: SWITCH1 pressed' on each press, 'APP: SYS_OTA_CtrlMsg refused' when the service refuses.
    """
    return GuideChange(
        name or f"switch1-{message.lower()}",
        f"Guides 2-4: SYS_OTA_CtrlMsg({message}, NULL, 0) from app.c when SWITCH1 is pressed (the BSP's SWITCH1_Get).",
        (
            TextEdit("app.c", '#include "app.h"', _SWITCH1_MACROS),
            TextEdit(
                "app.c",
                "static bool db_entry_seen = false, digest_failure_seen = false;",
                f"""
            static uint32_t last_switch = 1U;
            uint32_t now_switch = SWITCH1_Get();
            if (now_switch == SWITCH1_STATE_PRESSED && last_switch != now_switch) {{
                SYS_CONSOLE_PRINT("APP: SWITCH1 pressed\\r\\n");
                if (SYS_OTA_CtrlMsg({message}, NULL, 0) != SYS_OTA_SUCCESS) {{
                    SYS_CONSOLE_PRINT("APP: SYS_OTA_CtrlMsg refused\\r\\n");
                }}
            }}
            last_switch = now_switch;
""",
            ),
        ),
    )


SWITCH1_UPDATE_CHECK = switch1_message("SYS_OTA_UPDATECHCK")
SWITCH1_FACTORY_RESET = switch1_message("SYS_OTA_TRIGGER_FACTORY_RESET")
SWITCH1_INITIATE_OTA = switch1_message("SYS_OTA_INITIATE_OTA")

MANUAL_PARAMETERS = GuideChange(
    "manual-parameters",
    "Guide 3: SYS_OTA_SET_PARAMETERS(url, version, digest) in app.c's init state after the callback is registered, "
    "with values given out of band (here -DAPP_OTA_URL=... -DAPP_OTA_VERSION=... -DAPP_OTA_DIGEST=...; the guide's "
    "own values otherwise); SYS_OTA_INITIATE_OTA on the trigger (switch1_message).",
    (
        TextEdit(
            "app.c",
            '#include "app.h"',
            """
#ifndef APP_OTA_URL
#define APP_OTA_URL "http://192.168.43.173:8000/wifi_ota_demo.bin"
#define APP_OTA_VERSION 2
#define APP_OTA_DIGEST "ef90bf8bf7fd96205c3240c31e1a378430e7a8f053a300e5c91ebe64fefea197"
#endif
""",
        ),
        TextEdit(
            "app.c",
            "if(true == registered)",
            """
            if(true == registered)
            {
                uint32_t version = APP_OTA_VERSION;
                char *digest = APP_OTA_DIGEST;
                SYS_OTA_SET_PARAMETERS(APP_OTA_URL, version, digest);
                SYS_CONSOLE_PRINT("APP: OTA parameters set, version %u\\r\\n", (unsigned)version);
            }
""",
            "before",
        ),
    ),
)

SYSTEM_RESET_AFTER_DB_ENTRY = GuideChange(
    "system-reset-after-db-entry",
    "Guide 5: with autoreset off, app.c sends SYS_OTA_TRIGGER_SYSTEM_RESET once sys_ota_cb has seen "
    "SYS_OTA_DB_ENTRY_SUCCESS (the callback only sets a flag: 'Do not use API call from here'); it retries while "
    "the service refuses and prints how many times it was refused.",
    (
        TextEdit(
            "app.c",
            'SYS_CONSOLE_PRINT("APP: OTA DB entry done\\r\\n");',
            """
            }
            static bool reset_sent = false;
            static uint32_t reset_refused = 0;
            if (db_entry_seen && !reset_sent) {
                if (SYS_OTA_CtrlMsg(SYS_OTA_TRIGGER_SYSTEM_RESET, NULL, 0) == SYS_OTA_SUCCESS) {
                    reset_sent = true;
                    SYS_CONSOLE_PRINT("APP: system reset accepted after %u refused\\r\\n", (unsigned)reset_refused);
                } else {
                    reset_refused++;
                }
""",
        ),
    ),
)

SYSTEM_RESET_AFTER_FACTORY_RESET = GuideChange(
    "system-reset-after-factory-reset",
    "Guide 4 and 5 together: once sys_ota_cb has seen SYS_OTA_FACTORY_RESET_SUCCESS, app.c sends "
    "SYS_OTA_TRIGGER_SYSTEM_RESET once and prints whether the service accepted the message.",
    (
        TextEdit(
            "app.c",
            "static bool db_entry_seen = false, digest_failure_seen = false;",
            """
            static bool factory_reset_handled = false;
            if (app_ota_factory_reset_done && !factory_reset_handled) {
                factory_reset_handled = true;
                bool accepted = SYS_OTA_CtrlMsg(SYS_OTA_TRIGGER_SYSTEM_RESET, NULL, 0) == SYS_OTA_SUCCESS;
                SYS_CONSOLE_PRINT("APP: system reset after factory reset %s\\r\\n", accepted ? "accepted" : "refused");
            }
""",
        ),
    ),
)

DOWNLOAD_STATUS = GuideChange(
    "download-status",
    "Guide 9: while a download runs (flag from sys_ota_cb), app.c calls OTA_GetDownloadStatus(&params) and prints "
    "total and downloaded bytes each time at least 8 KiB more arrived, and once the count reaches the total.",
    (
        TextEdit(
            "app.c",
            "static bool db_entry_seen = false, digest_failure_seen = false;",
            """
            static uint32_t shown = 0;
            if (app_ota_download_running) {
                static OTA_PARAMS status;
                OTA_GetDownloadStatus(&status);
                uint32_t now = status.total_data_downloaded;
                if (now >= shown + 8192U || (now != shown && now == status.server_image_length)) {
                    shown = status.total_data_downloaded;
                    SYS_CONSOLE_PRINT("APP: downloaded %u of %u bytes\\r\\n", (unsigned)status.total_data_downloaded,
                                      (unsigned)status.server_image_length);
                }
            }
""",
        ),
    ),
)


def stop_periodic_after_n(idle: str = "SYS_OTA_STATE_IDLE", name: str = "stop-periodic-after-n") -> GuideChange:
    """Guide 6: stop the periodic check after ``APP_OTA_MAX_CHECKS`` checks (default 2), inside sys_ota.c.

    When the periodic timer fires, a counter; once it has reached the limit the service prints
    `SYS OTA : periodic check stopped after N checks`, sets ``sys_otaData.state = idle`` and leaves the case.

    Args:
        idle: the value assigned to the state: ``SYS_OTA_STATE_IDLE`` (a ``SYS_OTA_STATES`` value), or
            ``SYS_OTA_IDLE`` -- a ``SYS_OTA_STATUS`` value (0) the C compiler accepts for the state variable,
            where 0 is ``SYS_OTA_REGWIFISRVCALLBCK``, the first state after initialisation.
        name: the change's name.

    Returns:
        The change.
    """
    return GuideChange(
        name,
        f"Guide 6: in sys_ota.c, a counter of periodic checks; past APP_OTA_MAX_CHECKS (default 2) it prints a line "
        f"and leaves the check loop with sys_otaData.state = {idle}.",
        (
            TextEdit(
                SYS_OTA_C,
                "if ((SYS_OTA_IsOtaTimerTriggered() == true)) {",
                f"""
#ifndef APP_OTA_MAX_CHECKS
#define APP_OTA_MAX_CHECKS 2
#endif
                static uint32_t periodic_checks = 0;
                if (periodic_checks >= APP_OTA_MAX_CHECKS) {{
                    SYS_CONSOLE_PRINT("SYS OTA : periodic check stopped after %u checks\\r\\n",
                                      (unsigned)periodic_checks);
                    sys_otaData.ota_timer_trigger = false;
                    sys_otaData.state = {idle};
                    break;
                }}
                periodic_checks++;
""",
            ),
        ),
    )


STOP_PERIODIC_AFTER_N = stop_periodic_after_n()
STOP_PERIODIC_AFTER_N_STATUS_VALUE = stop_periodic_after_n("SYS_OTA_IDLE", "stop-periodic-after-n-status-value")

PERIODIC_AFTER_TRIGGER = GuideChange(
    "periodic-after-trigger",
    "Guide 7: sys_ota.c's SYS_OTA_SERVER_UPDATE_CHECK case (reached by SYS_OTA_UPDATECHCK from app.c) switches the "
    "periodic check on and goes to SYS_OTA_AUTO_CONFIGURATION_CHECK instead of checking at once.",
    (
        TextEdit(
            SYS_OTA_C,
            "case SYS_OTA_SERVER_UPDATE_CHECK:\n{",
            """
            g_SysOtaConfig.ota_periodic_check = true;
            sys_otaData.state = SYS_OTA_AUTO_CONFIGURATION_CHECK;
            SYS_CONSOLE_PRINT("SYS OTA : periodic check switched on\\r\\n");
            break;
""",
        ),
    ),
)

ALL_CHANGES = (
    CALLBACK_REGISTRATION,
    SWITCH1_UPDATE_CHECK,
    SWITCH1_FACTORY_RESET,
    SWITCH1_INITIATE_OTA,
    MANUAL_PARAMETERS,
    SYSTEM_RESET_AFTER_DB_ENTRY,
    SYSTEM_RESET_AFTER_FACTORY_RESET,
    DOWNLOAD_STATUS,
    STOP_PERIODIC_AFTER_N,
    STOP_PERIODIC_AFTER_N_STATUS_VALUE,
    PERIODIC_AFTER_TRIGGER,
)
