"""The OTA service's console commands: Harmony's ``sysota`` / ``sysotahelp`` group and the ``otactl`` group.

``sysota`` follows ``SYS_OTA_Command_Process`` in ``sys_ota.c.ftl`` byte for byte (its odd ``\\n\\r``
endings, the missing-argument rules of a NULL ``argv`` slot, ``strtoul`` parsing, the ``getfs`` help that
names ``get info``). ``otactl`` is this project's small control group, the same one the harness ships as C
for real boards (``firmware/otactl/otactl.c``; ``tests/test_otactl_c.py`` holds the two to byte-identical
answers): each command answers one line, ``otactl: SYS_OTA_SUCCESS`` / ``SYS_OTA_FAILURE``, the status line,
or a refusal of bad ``start`` arguments.

The functions take an argv that has already been split by the SYS_COMMAND line discipline (prompt, echo,
the 80-character line limit and the 10-argument limit are the board console's business).
"""

from __future__ import annotations

import re

from bootloader_model.formats.c_string import c_bytes
from bootloader_model.service.configuration import STATUS_STR, CtrlMsg, SysResult
from bootloader_model.service.core.state import OTA_URL_SIZE
from bootloader_model.service.ota_service import OtaService

# One tuple item per SYS_CONSOLE_PRINT call (each call prints at most 255 bytes).
SET_HELP = (
    "\n\rFollowing commands supported",
    "\n\r\t* sysota set <periodic check> <auto reset>  <auto update> <periodic interval> <url> ",
    "\n\r\t* periodic check\t\t- 0 (disable)/ 1 (enable)",
    "\n\r\t* auto reset\t\t\t- 0 (disable)/ 1 (enable)",
    "\n\r\t* auto update\t\t\t- 0 (disable)/ 1 (enable)",
    "\n\r\t* periodic interval\t\t- n second",
    "\n\r\t* server url  \t\t\t- http://<server addr>//<file name>",
)
_LIST = (
    "\n\rFollowing commands supported",
    "\n\r\t1. sysota set <periodic check> <auto reset>  <auto update> <periodic interval> <url> ",
    "\n\r\t\t* periodic check\t\t- 0 (disable)/ 1 (enable)",
    "\n\r\t\t* auto reset\t\t\t- 0 (disable)/ 1 (enable)",
    "\n\r\t\t* auto update\t\t\t- 0 (disable)/ 1 (enable)",
    "\n\r\t\t* periodic interval\t\t- n second",
    "\n\r\t\t* server url  \t\t\t- http://<server addr>//<file name>",
)
SYSOTA_HELP = (*_LIST, "\n\r\t2. sysota get info\n\r", "\n\r\t3. sysota getfs info\n\r")
SYSOTAHELP_PRINTS = (*_LIST, "\n\r\t2. sysota get info", "\n\r\t3. sysota set factory sign <signature> ")
SYSOTAHELP = "".join(SYSOTAHELP_PRINTS)
GET_HELP = "Following Command supported : \n\rsysota get info \n\r"
GETFS_HELP = "Following Command supported : \n\rsysota getfs info \n\r"
STARS = "*" * 43
OTACTL_USAGE = "otactl: usage: otactl check|start [<url> <version> <digest>]|sysreset|factory|rollback|status\r\n"


def strtoul(text: str) -> int:
    """``strtoul(s, 0, 10)`` as a 32-bit ``unsigned long``."""
    m = re.match(r"\s*([+-]?)(\d*)", text)
    if not m or not m.group(2):
        return 0
    value = min(int(m.group(2)), 0xFFFF_FFFF)
    return (-value if m.group(1) == "-" else value) & 0xFFFF_FFFF


def _signed(v: int) -> int:
    v &= 0xFFFF_FFFF
    return v - 2**32 if v >= 2**31 else v


def _arg(argv: list[str], i: int) -> str | None:
    return argv[i] if i < len(argv) else None


def sysota(svc: OtaService, argv: list[str]) -> list[str]:
    """``SYS_OTA_Command_Process``; returns the texts of its ``SYS_CONSOLE_PRINT`` calls."""
    out: list[str] = []
    sub = _arg(argv, 1)
    if sub == "set":
        a2 = _arg(argv, 2)
        if a2 is None or a2 == "?":
            out.extend(SET_HELP)
        elif len(argv) == 5 and a2 == "factory" and argv[3] == "sign":
            out.append("\n\rSecure OTA is not enabled\n\r")
        else:
            run = svc.run
            run.periodic_check = strtoul(a2) != 0
            out.append(f"\n\rperiodic check : {int(run.periodic_check)}\n\r")
            if (a3 := _arg(argv, 3)) is not None:
                run.autoreset = strtoul(a3) & 0xFF
                out.append(f"\n\rauto reset : {run.autoreset}\n\r")
            if (a4 := _arg(argv, 4)) is not None:
                run.auto_update = strtoul(a4) != 0
                out.append(f"\n\rauto update : {int(run.auto_update)}\n\r")
            if (a5 := _arg(argv, 5)) is not None:
                run.interval_s = strtoul(a5)
                out.append(f"\n\rperiodic interval : {_signed(run.interval_s)}\n\r")
            if (a6 := _arg(argv, 6)) is not None:
                run.json_url = a6[:999]
                out.append(f"\n\rjson url : {run.json_url}\n\r")
    elif sub == "get":
        a2 = _arg(argv, 2)
        if a2 == "info":
            total, done = svc.download_status()
            status = STATUS_STR.get(svc.status, "Invalid Status")
            run = svc.run
            out += [
                f"{STARS}\n\r",
                f"Status: {status}\n\r",
                f"Total data to download : {_signed(total)} bytes\n\r",
                f"Data downloaded : {_signed(done)} bytes \r\n",
                f"Json-server url : {run.json_url}\n\r",
                f"Periodic check : {int(run.periodic_check)} (1=Enable, 0=Disable )\n\r",
                f"Periodic interval : {_signed(run.interval_s)} sec\n\r",
                f"Auto reset : {run.autoreset} (0=disable)/ 1=enable)\n\r",
                f"{STARS}\n\r",
            ]
        else:
            out.append(GET_HELP)
    elif sub == "getfs":
        a2 = _arg(argv, 2)
        if a2 is None:
            out.append(GET_HELP)
        elif a2 == "info":
            return []  # printed by the core directly (OTA_GetImageDbInfo)
        else:
            out.append(GETFS_HELP)
    else:
        out.extend(SYSOTA_HELP)
    return out


def _result(r: SysResult) -> str:
    return f"otactl: {r.name}\r\n"


_DIGITS = re.compile(r"[0-9]+")


def _version(text: str) -> int | None:
    """A ``start`` version: ASCII decimal digits whose value fits ``uint32_t``, else ``None``."""
    if not _DIGITS.fullmatch(text):
        return None
    significant = text.lstrip("0") or "0"
    if len(significant) > 10:  # more digits than 4294967295 (and int() of a huge string is slow)
        return None
    value = int(significant)
    return value if value <= 0xFFFF_FFFF else None


def otactl(svc: OtaService, argv: list[str]) -> str:
    """The ``otactl`` group: control messages and one status line.

    ``argv`` holds the console bytes decoded as latin-1 (one character per byte), so ``len`` counts bytes
    as the C group's ``strlen`` does. ``start`` refuses a URL of ``OTA_URL_SIZE`` bytes or more and a
    version that is not plain decimal digits fitting ``uint32_t``, before any call to the service.
    """
    sub = _arg(argv, 1)
    simple = {
        "check": CtrlMsg.SYS_OTA_UPDATECHCK,
        "sysreset": CtrlMsg.SYS_OTA_TRIGGER_SYSTEM_RESET,
        "factory": CtrlMsg.SYS_OTA_TRIGGER_FACTORY_RESET,
        "rollback": CtrlMsg.SYS_OTA_TRIGGER_ROLLBACK,
    }
    if sub in simple and len(argv) == 2:
        return _result(svc.ctrl_msg(simple[sub]))
    if sub == "start" and len(argv) in (2, 5):
        if len(argv) == 5:
            url, version = argv[2], argv[3]
            # SYS_OTA_SET_PARAMETERS copies the URL and its NUL into char[OTA_URL_SIZE] unchecked.
            if len(url) >= OTA_URL_SIZE:
                return "otactl: url too long\r\n"
            number = _version(version)
            if number is None:
                return "otactl: bad version\r\n"
            svc.set_parameters(url, number, argv[4])
        return _result(svc.ctrl_msg(CtrlMsg.SYS_OTA_INITIATE_OTA))
    if sub == "status" and len(argv) == 2:
        total, done = svc.download_status()
        return f"otactl: state={svc.state.name} downloaded={done} total={total} version={svc.run.app_version}\r\n"
    return OTACTL_USAGE


def command_names(svc: OtaService) -> frozenset[str]:
    """The command names the service adds to SYS_COMMAND (``sysota`` only with the CLI option)."""
    names = {"otactl"}
    if svc.config.cli_enabled:
        names |= {"sysota", "sysotahelp"}
    return frozenset(names)


def handle_command(svc: OtaService, argv: list[str]) -> bytes:
    """Run a ``sysota``/``sysotahelp``/``otactl`` command line; print its output on the console and return it.

    Returns ``b""`` and prints nothing for a command not in :func:`command_names`.
    """
    if not argv or argv[0] not in command_names(svc):
        return b""
    name = argv[0]
    pieces: list[str]
    if name == "sysota":
        if _arg(argv, 1) == "getfs" and _arg(argv, 2) == "info":
            captured: list[bytes] = []
            real = svc._console
            svc._console = captured.append
            try:
                svc.core.image_db_info()
            finally:
                svc._console = real
            data = b"".join(captured)
            svc.print(data)
            return data
        pieces = sysota(svc, argv)
    elif name == "sysotahelp":
        pieces = list(SYSOTAHELP_PRINTS)
    elif name == "otactl":
        pieces = [otactl(svc, argv)]
    else:
        return b""
    # Each SYS_CONSOLE_PRINT formats into a 256-byte buffer: at most 255 bytes of one print come out.
    data = b"".join(c_bytes(p)[:255] for p in pieces)
    svc.print(data)
    return data
