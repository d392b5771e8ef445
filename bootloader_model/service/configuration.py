"""The OTA service's MHC options (spec section 3) and the names of its enums (``sys_ota.h.ftl``).

:class:`ServiceConfig` holds the options compiled into an application, with Harmony's defaults; the virtual
board takes them from the running image's app descriptor (:meth:`ServiceConfig.from_descriptor`). The
service copies the run-time part into its own ``g_SysOtaConfig`` at start-up, so ``sysota set`` changes last
only until the next reset. This module holds values only; it does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from bootloader_model.formats.app_descriptor import AppDescriptor

DEFAULT_URL = "http://192.168.43.173:8000/ota.json"

#: ``SYS_FS_MAX_FILES`` of an application with the OTA service: ``sys_ota.py`` sets it to 5 (and the
#: FatFs file lock count ``FF_FS_LOCK`` follows it).
SYS_FS_MAX_FILES = 5


@dataclass(frozen=True)
class ServiceConfig:
    """The MHC options of the OTA service that change its behaviour (Harmony defaults)."""

    autoreset: bool = True  # SYS_OTA_AUTORESET_ENABLE
    periodic_check: bool = True  # SYS_OTA_PERODIC_UPDATE
    auto_update: bool = True  # SYS_OTA_AUTOUPDATE_ENABLE
    interval_s: int = 60  # SYS_OTA_TIME_INTERVAL, 0..7200
    app_version: int = 1  # SYS_OTA_APP_VER_NUM, 0..255
    json_url: str = DEFAULT_URL  # SYS_OTA_URL
    num_images: int = 2  # SYS_OTA_NUM_IMGS, 0..5
    json_file_maxsize: int = 2000  # SYS_OTA_JSON_FILE_MAXSIZE
    enforce_tls: bool = False  # SYS_OTA_ENFORCE_TLS
    free_sector_check: bool = False  # SYS_OTA_FREE_SECTOR_CHECK_ENABLE
    cli_enabled: bool = True  # SYS_OTA_CLICMD_ENABLED

    @classmethod
    def from_descriptor(cls, desc: AppDescriptor, **overrides: object) -> ServiceConfig:
        """The options an app descriptor records; the rest keep Harmony's defaults."""
        base = cls(
            autoreset=desc.autoreset,
            periodic_check=desc.periodic_check,
            auto_update=desc.auto_update,
            interval_s=desc.interval_s,
            app_version=desc.version,
            json_url=desc.manifest_url,
            num_images=desc.num_images,
        )
        return cls(**{**base.__dict__, **overrides})


class SysState(IntEnum):
    """``SYS_OTA_STATES`` as compiled without the File Download option."""

    SYS_OTA_REGWIFISRVCALLBCK = 0
    SYS_OTA_WAITFOR_NETWORK_CONNECTION = 1
    SYS_OTA_WAITFOR_OTAIDLE = 2
    SYS_OTA_REGOTACALLBCK = 3
    SYS_OTA_AUTO_CONFIGURATION_CHECK = 4
    SYS_OTA_SERVER_UPDATE_CHECK = 5
    SYS_OTA_WAIT_FOR_OTA_TIMER_TRIGGER = 6
    SYS_OTA_AUTO_UPDATE_CHECK = 7
    SYS_OTA_TRIGGER_OTA = 8
    SYS_OTA_WAIT_FOR_OTA_COMPLETE = 9
    SYS_OTA_ERASE_IMAGE = 10
    SYS_OTA_FACTORY_RESET = 11
    SYS_OTA_ROLLBACK = 12
    SYS_OTA_UPDATE_USER = 13
    SYS_OTA_AUTORESET = 14
    SYS_OTA_SYSTEM_RESET = 15
    SYS_OTA_STATE_IDLE = 16
    SYS_OTA_UPDATE_CHECK_INIT = 17
    SYS_OTA_UPDATE_CHECK_CNCT_TO_SRVR = 18
    SYS_OTA_UPDATE_CHECK_READ_JSON = 19
    SYS_OTA_UPDATE_CHECK_JSON_CONTENT = 20
    SYS_OTA_UPDATE_CHECK_DONE = 21
    SYS_OTA_SERVER_UPDATE_CHECK_TRIGGER = 22


MAIN_STATES = frozenset(
    s for s in SysState if s <= SysState.SYS_OTA_STATE_IDLE or s == SysState.SYS_OTA_SERVER_UPDATE_CHECK_TRIGGER
)
CHECK_STATES = frozenset(
    {
        SysState.SYS_OTA_UPDATE_CHECK_CNCT_TO_SRVR,
        SysState.SYS_OTA_UPDATE_CHECK_READ_JSON,
        SysState.SYS_OTA_UPDATE_CHECK_JSON_CONTENT,
        SysState.SYS_OTA_UPDATE_CHECK_DONE,
    }
)


class SysStatus(IntEnum):
    """``SYS_OTA_STATUS``: the events of the user callback."""

    SYS_OTA_IDLE = 0
    SYS_OTA_WAITING_FOR_NETWORK_CONNECTION = 1
    SYS_OTA_WAITING_FOR_OTACORE_IDLE = 2
    SYS_OTA_WAITING_FOR_USER_DEFINED_PERIOD = 3
    SYS_OTA_UPDATE_CHECK_START = 4
    SYS_OTA_UPDATE_CHECK_FAILED = 5
    SYS_OTA_UPDATE_AVAILABLE = 6
    SYS_OTA_UPDATE_NOTAVAILABLE = 7
    SYS_OTA_TRIGGER_OTA_FAILED = 8
    SYS_OTA_FACTORY_RESET_SUCCESS = 9
    SYS_OTA_FACTORY_RESET_FAILED = 10
    SYS_OTA_ROLLBACK_SUCCESS = 11
    SYS_OTA_ROLLBACK_FAILED = 12
    SYS_OTA_PATCH_BASEVERSION_NOTFOUND = 13
    SYS_OTA_PATCH_EVENT_START = 14
    SYS_OTA_PATCH_EVENT_COMPLETED = 15
    SYS_OTA_DOWNLOAD_START = 16
    SYS_OTA_DOWNLOAD_SUCCESS = 17
    SYS_OTA_DOWNLOAD_FAILED = 18
    SYS_OTA_IMAGE_DIGEST_VERIFY_START = 19
    SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS = 20
    SYS_OTA_IMAGE_DIGEST_VERIFY_FAILED = 21
    SYS_OTA_PATCH_IMAGE_DIGEST_VERIFY_START = 22
    SYS_OTA_PATCH_IMAGE_DIGEST_VERIFY_SUCCESS = 23
    SYS_OTA_PATCH_IMAGE_DIGEST_VERIFY_FAILED = 24
    SYS_OTA_DB_ENTRY_SUCCESS = 25
    SYS_OTA_IMAGE_ERASE_FAILED = 26
    SYS_OTA_IMAGE_ERASED = 27
    SYS_OTA_IMAGE_DATABASE_FULL = 28
    SYS_OTA_NONE = 29


class CtrlMsg(IntEnum):
    """``SYS_OTA_CTRLMSG``."""

    SYS_OTA_REGCALLBACK = 0
    SYS_OTA_UPDATECHCK = 1
    SYS_OTA_INITIATE_OTA = 2
    SYS_OTA_TRIGGER_SYSTEM_RESET = 3
    SYS_OTA_TRIGGER_FACTORY_RESET = 4
    SYS_OTA_TRIGGER_ROLLBACK = 5


class SysResult(IntEnum):
    SYS_OTA_SUCCESS = 0
    SYS_OTA_FAILURE = 1


def demo_print(status: SysStatus) -> bytes:
    """What the demo's ``sys_ota_cb`` (``app_ota.c``) prints for an event; ``b""`` for unhandled ones."""
    if status in (
        SysStatus.SYS_OTA_IDLE,
        SysStatus.SYS_OTA_WAITING_FOR_NETWORK_CONNECTION,
        SysStatus.SYS_OTA_WAITING_FOR_OTACORE_IDLE,
        SysStatus.SYS_OTA_WAITING_FOR_USER_DEFINED_PERIOD,
        SysStatus.SYS_OTA_NONE,
    ):
        return b""
    if status == SysStatus.SYS_OTA_IMAGE_DIGEST_VERIFY_FAILED:
        return b"SYS_OTA_IMAGE_VERIFICATION_FAILED\r\n"
    return status.name.encode() + b"\r\n"


#: ``SYS_OTA_GET_STATUS_STR`` of ``sysota get info``.
STATUS_STR = {
    SysStatus.SYS_OTA_IDLE: "IDLE",
    SysStatus.SYS_OTA_WAITING_FOR_NETWORK_CONNECTION: "WAITING_FOR_NETWRK_CONNECTION",
    SysStatus.SYS_OTA_WAITING_FOR_OTACORE_IDLE: "WAITING_FOR_OTACORE_IDLE",
    SysStatus.SYS_OTA_WAITING_FOR_USER_DEFINED_PERIOD: "WAITING_FOR_USER_DEFINED_PERIOD",
    SysStatus.SYS_OTA_UPDATE_CHECK_START: "UPDATE_CHECK_START",
    SysStatus.SYS_OTA_UPDATE_CHECK_FAILED: "UPDATE_CHECK_FAILED",
    SysStatus.SYS_OTA_UPDATE_AVAILABLE: "UPDATE_AVAILABLE",
    SysStatus.SYS_OTA_UPDATE_NOTAVAILABLE: "UPDATE_NOTAVAILABLE",
    SysStatus.SYS_OTA_TRIGGER_OTA_FAILED: "TRIGGER_OTA_FAILED",
    SysStatus.SYS_OTA_FACTORY_RESET_SUCCESS: "FACTORY_RESET_SUCCESS",
    SysStatus.SYS_OTA_FACTORY_RESET_FAILED: "FACTORY_RESET_FAILED",
    SysStatus.SYS_OTA_ROLLBACK_SUCCESS: "ROLLBACK_SUCCESS",
    SysStatus.SYS_OTA_ROLLBACK_FAILED: "ROLLBACK_FAILED",
    SysStatus.SYS_OTA_DOWNLOAD_START: "DOWNLOAD_IN_PROGRESS",
    SysStatus.SYS_OTA_DOWNLOAD_SUCCESS: "DOWNLOAD_SUCCESS",
    SysStatus.SYS_OTA_DOWNLOAD_FAILED: "DOWNLOAD_FAILED",
    SysStatus.SYS_OTA_IMAGE_DIGEST_VERIFY_START: "IMAGE_DIGEST_VERIFY_START",
}
