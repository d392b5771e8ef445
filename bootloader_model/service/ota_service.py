"""The OTA system service (``sys_ota.c.ftl``): ``SYS_OTA_Tasks``, control messages, events, periodic timer.

One :meth:`OtaService.tick` is one pass of the demo's FreeRTOS OTA task: ``SYS_OTA_Tasks()`` (which runs
``OTA_Tasks()`` at its end) followed by the 1 ms task delay on the virtual clock. Events reach the user
callback one per tick through ``SYS_OTA_UPDATE_USER`` (except ``UPDATE_CHECK_START`` / ``FAILED`` /
``NOTAVAILABLE``, which are called directly), and the demo's ``app_ota.c`` callback prints each name.

The service never sleeps and never reads the wall clock. It asks for a software reset by setting
``reset_requested`` and stops; the board restarts it. Command-line handling is in
:mod:`bootloader_model.service.commands`, fast-forwarding in :mod:`bootloader_model.service.tick_runner`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bootloader_model.clock import TICK_S, Alarm, VirtualClock
from bootloader_model.formats.c_string import c_bytes
from bootloader_model.quirks import HARMONY, QuirkProfile
from bootloader_model.service.configuration import (
    SYS_FS_MAX_FILES,
    CtrlMsg,
    ServiceConfig,
    SysResult,
    SysState,
    SysStatus,
    demo_print,
)
from bootloader_model.service.core.tasks import CoreTask, OtaCore, OtaParams, OtaResult
from bootloader_model.service.http_client import Downloader, HttpClient
from bootloader_model.service.update_check import MAX_DOWNLOADER_READ_COUNT, UpdateCheck
from bootloader_model.storage.file_api import FileSystem
from bootloader_model.storage.nor_flash import NorFlash

S = SysState
E = SysStatus
Callback = Callable[[SysStatus], None]

_CORE_TO_STATUS = {
    OtaResult.IMAGE_DOWNLOAD_START: E.SYS_OTA_DOWNLOAD_START,
    OtaResult.IMAGE_DOWNLOADED: E.SYS_OTA_DOWNLOAD_SUCCESS,
    OtaResult.IMAGE_DOWNLOAD_FAILED: E.SYS_OTA_DOWNLOAD_FAILED,
    OtaResult.IMAGE_DIGEST_VERIFY_START: E.SYS_OTA_IMAGE_DIGEST_VERIFY_START,
    OtaResult.IMAGE_DIGEST_VERIFY_SUCCESS: E.SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS,
    OtaResult.IMAGE_DIGEST_VERIFY_FAILED: E.SYS_OTA_IMAGE_DIGEST_VERIFY_FAILED,
    OtaResult.IMAGE_ERASE_FAILED: E.SYS_OTA_IMAGE_ERASE_FAILED,
    OtaResult.IMAGE_ERASED: E.SYS_OTA_IMAGE_ERASED,
    OtaResult.IMAGE_DATABASE_FULL: E.SYS_OTA_IMAGE_DATABASE_FULL,
    OtaResult.FACTORY_RESET_SUCCESS: E.SYS_OTA_FACTORY_RESET_SUCCESS,
    OtaResult.ROLLBACK_DONE: E.SYS_OTA_ROLLBACK_SUCCESS,
    OtaResult.ROLLBACK_FAILED: E.SYS_OTA_ROLLBACK_FAILED,
}


@dataclass
class RunConfig:
    """``g_SysOtaConfig``: the MHC values copied at initialisation, changeable by ``sysota set``."""

    autoreset: int
    periodic_check: bool
    auto_update: bool
    interval_s: int
    app_version: int
    json_url: str


class OtaService(UpdateCheck):
    """``SYS_OTA_*`` plus the OTA core it drives, on one virtual board."""

    def __init__(
        self,
        config: ServiceConfig,
        fs: FileSystem,
        internal: NorFlash,
        clock: VirtualClock,
        console: Callable[[bytes], None],
        profile: QuirkProfile = HARMONY,
        network_up: Callable[[], bool] = lambda: True,
        demo_app: bool = True,
    ) -> None:
        self.config, self.clock, self.profile, self.network_up = config, clock, profile, network_up
        fs.initialize(SYS_FS_MAX_FILES)  # SYS_FS_Initialize at start-up: the application's file table
        self._console = console
        self.client = HttpClient(clock, self.print, profile, enforce_tls=config.enforce_tls)
        self.dl = Downloader(self.client, self.print)
        self.core = OtaCore(
            fs=fs,
            internal=internal,
            clock=clock,
            console=self.print,
            profile=profile,
            downloader=self.dl,
            num_images=config.num_images,
            free_sector_check=config.free_sector_check,
        )
        # SYS_OTA_Initialize
        self.state = S.SYS_OTA_REGWIFISRVCALLBCK
        self.update_check_state = S.SYS_OTA_UPDATE_CHECK_CNCT_TO_SRVR
        self.status = E.SYS_OTA_IDLE  # ota_srvc_status
        self.update_check_failed = False
        self.dev_cnctd_to_nw = False
        self.fw_in_progress = False  # otaFwInProgress
        self.check_in_progress = False  # otaUpdateCheckInProgress
        self.erase_in_progress = False
        self.download_success = False
        self.erase_request = False
        self.json_content_parse_result = False
        self.timer_trigger = False
        self.json_buf = bytearray(config.json_file_maxsize)
        self.rx_len_l = 0  # static in SYS_OTA_Update_Check
        self.no_data_cnt = 0  # static downloader_no_data_read_cnt
        self.dl_handle = False  # the service's ``downloader`` handle is valid
        self.params = OtaParams()  # the service's static ota_params
        self.run = RunConfig(
            int(config.autoreset),
            config.periodic_check,
            config.auto_update,
            config.interval_s,
            config.app_version,
            config.json_url,
        )
        self.user_callback: Callback | None = None
        self.events: list[SysStatus] = []
        self.reset_requested = False
        self._alarm: Alarm | None = None
        if demo_app:
            self.ctrl_msg(CtrlMsg.SYS_OTA_REGCALLBACK, self._demo_callback)

    def json_url(self) -> str:
        return self.run.json_url

    def app_version(self) -> int:
        return self.run.app_version

    # ------------------------------------------------------------------------------------- output
    def print(self, data: bytes) -> None:
        self._console(data)

    def printf(self, text: str) -> None:
        """``SYS_CONSOLE_PRINT``: at most 255 bytes of formatted text (256-byte print buffer)."""
        self._console(c_bytes(text)[:255])

    def _demo_callback(self, status: SysStatus) -> None:
        text = demo_print(status)
        if text:
            self.print(text)

    def _user(self, status: SysStatus) -> None:
        """Call the registered user callback (``g_otaSrvcCallBack``)."""
        if self.user_callback is not None:
            self.events.append(status)
            if len(self.events) > 2000:  # the latest 1000 to 2000 events: a long run holds bounded memory
                del self.events[:-1000]
            self.user_callback(status)

    @property
    def hung(self) -> bool:
        return self.core.hung

    # ---------------------------------------------------------------------------------------- API
    def ctrl_msg(self, msg: int, callback: Callback | None = None) -> SysResult:
        """``SYS_OTA_CtrlMsg``. ``callback`` is the buffer of REGCALLBACK; ignored otherwise."""
        if msg == CtrlMsg.SYS_OTA_REGCALLBACK:
            if callback is not None and self.user_callback is None:
                self.user_callback = callback
                return SysResult.SYS_OTA_SUCCESS
            return SysResult.SYS_OTA_FAILURE
        target = {
            CtrlMsg.SYS_OTA_UPDATECHCK: S.SYS_OTA_SERVER_UPDATE_CHECK,
            CtrlMsg.SYS_OTA_INITIATE_OTA: S.SYS_OTA_TRIGGER_OTA,
            CtrlMsg.SYS_OTA_TRIGGER_SYSTEM_RESET: S.SYS_OTA_SYSTEM_RESET,
            CtrlMsg.SYS_OTA_TRIGGER_FACTORY_RESET: S.SYS_OTA_FACTORY_RESET,
            CtrlMsg.SYS_OTA_TRIGGER_ROLLBACK: S.SYS_OTA_ROLLBACK,
        }.get(msg)  # type: ignore[call-overload]
        if target is not None and self.state == S.SYS_OTA_STATE_IDLE:
            self.state = target
            return SysResult.SYS_OTA_SUCCESS
        return SysResult.SYS_OTA_FAILURE

    def set_parameters(self, url: str, version: int, digest: str) -> None:
        """``SYS_OTA_SET_PARAMETERS``: no checks, digest cut to 64 characters."""
        self.params.ota_server_url = url
        self.params.version = version & 0xFFFF_FFFF
        self.params.serv_app_digest_string = digest[:64]

    def download_status(self) -> tuple[int, int]:
        """``OTA_GetDownloadStatus``: (server_image_length, total_data_downloaded)."""
        return self.core.download_status()

    # ------------------------------------------------------------------------------------- timer
    def rtc_set(self) -> None:
        """``SYS_OTA_RTCset``: clock to 23:59:58, alarm at the interval's hh:mm:ss: fires interval + 2 s on."""
        n = self.run.interval_s % 86400
        period = (n + 2) % 86400 or 86400
        self.clock.cancel(self._alarm)
        self._alarm = self.clock.call_later(period, self._rtcc_alarm)

    def _rtcc_alarm(self) -> None:
        self.timer_trigger = True

    def timer_deadline(self) -> float | None:
        a = self._alarm
        if a is None or a.cancelled or self.timer_trigger or a.deadline <= self.clock.now():
            return None
        return a.deadline

    # ------------------------------------------------------------------------------ core callback
    def _ota_callback(self, result: OtaResult) -> None:
        """``_OTACallback``."""
        if result == OtaResult.IMAGE_STATUS_SET:
            if self.fw_in_progress:
                self.status = E.SYS_OTA_DB_ENTRY_SUCCESS
                self.state = S.SYS_OTA_UPDATE_USER
                self.download_success = True
                self.fw_in_progress = False
            return
        if result == OtaResult.IMAGE_DB_ENTRY_FAILED:
            if not self.profile.on("svc-db-entry-failure-unhandled"):
                self.fw_in_progress = False
                self.status = E.SYS_OTA_DOWNLOAD_FAILED
                self.state = S.SYS_OTA_UPDATE_USER
            return
        status = _CORE_TO_STATUS.get(result)
        if status is None:
            return
        if result in (OtaResult.IMAGE_DOWNLOAD_FAILED, OtaResult.IMAGE_DIGEST_VERIFY_FAILED):
            self.fw_in_progress = False
        if result in (OtaResult.IMAGE_ERASE_FAILED, OtaResult.IMAGE_ERASED):
            self.erase_in_progress = False
            if not self.profile.on("svc-stuck-erase-flag"):
                self.erase_request = False
        self.status = status
        self.state = S.SYS_OTA_UPDATE_USER

    # ------------------------------------------------------------------------------ SYS_OTA_Tasks
    def tick(self) -> None:
        """One pass of the OTA task: ``SYS_OTA_Tasks()`` then the 1 ms task delay."""
        if self.reset_requested:
            return
        if not self.core.hung:
            self._sys_tasks()
            if not self.reset_requested:
                self.core.tasks()
        self.clock.advance(TICK_S)

    def _sys_tasks(self) -> None:
        st = self.state
        if st == S.SYS_OTA_REGWIFISRVCALLBCK:
            if self.network_up():
                self.print(b"\r\nSYS OTA : IP address obtained for preferred interface for OTA\r\n")
                self.dev_cnctd_to_nw = True
                self.state = S.SYS_OTA_WAITFOR_NETWORK_CONNECTION
        elif st == S.SYS_OTA_WAITFOR_NETWORK_CONNECTION:
            if self.dev_cnctd_to_nw:
                self.state = S.SYS_OTA_WAITFOR_OTAIDLE
            self.status = E.SYS_OTA_WAITING_FOR_NETWORK_CONNECTION
        elif st == S.SYS_OTA_WAITFOR_OTAIDLE:
            if self.core.is_idle():
                self.state = S.SYS_OTA_REGOTACALLBCK
            self.status = E.SYS_OTA_WAITING_FOR_OTACORE_IDLE
        elif st == S.SYS_OTA_REGOTACALLBCK:
            if not self.core.callback_reg(self._ota_callback):
                self.print(b"SYS OTA : OTA callback register failed \r\n")
            else:
                self.state = S.SYS_OTA_AUTO_CONFIGURATION_CHECK
        elif st == S.SYS_OTA_AUTO_CONFIGURATION_CHECK:
            if self.run.periodic_check:
                self.rtc_set()
                self.state = S.SYS_OTA_WAIT_FOR_OTA_TIMER_TRIGGER
            else:
                self.state = S.SYS_OTA_STATE_IDLE
        elif st == S.SYS_OTA_WAIT_FOR_OTA_TIMER_TRIGGER:
            self.status = E.SYS_OTA_WAITING_FOR_USER_DEFINED_PERIOD
            if not self.run.periodic_check:
                if not self.profile.on("svc-periodic-off-stays-waiting"):
                    self.state = S.SYS_OTA_STATE_IDLE
                return
            if self.timer_trigger:
                self.timer_trigger = False
                self.check_in_progress = True
                self.state = S.SYS_OTA_AUTO_UPDATE_CHECK
                self.status = E.SYS_OTA_UPDATE_CHECK_START
                self._user(self.status)
        elif st == S.SYS_OTA_AUTO_UPDATE_CHECK:
            if self._finish_check(S.SYS_OTA_WAIT_FOR_OTA_TIMER_TRIGGER):
                self.rtc_set()
                return
            if not self._check_blocked() and self._update_check():
                self.status = E.SYS_OTA_UPDATE_AVAILABLE
                self.state = S.SYS_OTA_UPDATE_USER
        elif st == S.SYS_OTA_SERVER_UPDATE_CHECK:
            self.check_in_progress = True
            self.state = S.SYS_OTA_SERVER_UPDATE_CHECK_TRIGGER
            self.status = E.SYS_OTA_UPDATE_CHECK_START
            self._user(self.status)
        elif st == S.SYS_OTA_SERVER_UPDATE_CHECK_TRIGGER:
            if not self._check_blocked() and self._update_check():
                self.status = E.SYS_OTA_UPDATE_AVAILABLE
                self.state = S.SYS_OTA_UPDATE_USER
                return
            self._finish_check(S.SYS_OTA_STATE_IDLE)
        elif st == S.SYS_OTA_TRIGGER_OTA:
            if self.dev_cnctd_to_nw and not self.fw_in_progress and not self.download_success:
                self.printf(f"SYS OTA : Starting OTA with server: {self.params.ota_server_url} \r\n")
                ok = self.core.start(self.params)
                if ok or self.profile.on("svc-stuck-trigger-after-start-failure"):
                    self.fw_in_progress = True
                if not ok:
                    self.print(b"SYS OTA : Error starting OTA\r\n")
                    self.status = E.SYS_OTA_TRIGGER_OTA_FAILED
                    self.state = S.SYS_OTA_UPDATE_USER
        elif st == S.SYS_OTA_ERASE_IMAGE:
            if not self.fw_in_progress:
                self.core.erase_image(self.params.delete_img_version)
                self.erase_in_progress = True
        elif st == S.SYS_OTA_FACTORY_RESET:
            self._factory_reset()
        elif st == S.SYS_OTA_ROLLBACK:
            self._rollback()
        elif st == S.SYS_OTA_UPDATE_USER:
            self._update_user()
        elif st == S.SYS_OTA_AUTORESET:
            if self.run.autoreset:
                if self.download_success:
                    self.reset_requested = True
            else:
                self.state = S.SYS_OTA_STATE_IDLE
        elif st == S.SYS_OTA_SYSTEM_RESET:
            if self.download_success:
                self.reset_requested = True
            else:
                self.print(b"SYS OTA : OTA DB entry is not yet done\n\r")
                self.state = S.SYS_OTA_STATE_IDLE
        elif st == S.SYS_OTA_STATE_IDLE:
            self.status = E.SYS_OTA_IDLE

    def _factory_reset(self) -> None:
        failed = False
        if not self.fw_in_progress and not self.core.factory_reset():
            self.print(b"SYS OTA : Error Factory reset\r\n")
            self.status = E.SYS_OTA_FACTORY_RESET_FAILED
            failed = True
        keep = failed and not self.profile.on("svc-failed-events-dropped")
        self.state = S.SYS_OTA_UPDATE_USER if keep else S.SYS_OTA_STATE_IDLE

    def _rollback(self) -> None:
        failed = True
        if not self.fw_in_progress and not self.download_success:
            failed = not self.core.rollback()
            if failed:
                self.print(b"SYS OTA :  Error Rollback\r\n")
        if failed:
            self.status = E.SYS_OTA_ROLLBACK_FAILED
        keep = failed and not self.profile.on("svc-failed-events-dropped")
        self.state = S.SYS_OTA_UPDATE_USER if keep else S.SYS_OTA_STATE_IDLE

    def _update_user(self) -> None:
        self.state = S.SYS_OTA_STATE_IDLE
        if self.status in (
            E.SYS_OTA_DOWNLOAD_START,
            E.SYS_OTA_DOWNLOAD_SUCCESS,
            E.SYS_OTA_IMAGE_DIGEST_VERIFY_START,
            E.SYS_OTA_IMAGE_DIGEST_VERIFY_SUCCESS,
        ):
            self.state = S.SYS_OTA_WAIT_FOR_OTA_COMPLETE
        if self.status != E.SYS_OTA_NONE:
            self._user(self.status)
        if self.download_success:
            self.state = S.SYS_OTA_AUTORESET
        if self.status == E.SYS_OTA_UPDATE_AVAILABLE and self.run.auto_update:
            self.state = S.SYS_OTA_TRIGGER_OTA

    # ------------------------------------------------------------------------------ quiescence
    def quiescent(self) -> bool:
        """True when further ticks change nothing until the clock reaches :meth:`timer_deadline`
        (or a command arrives): the core idle, no connection open, and the service parked."""
        if self.reset_requested or self.core.hung:
            return True
        if self.core.current_task != CoreTask.IDLE or (self.client.valid and self.dl.handle_valid):
            return False
        st = self.state
        if st in (S.SYS_OTA_STATE_IDLE, S.SYS_OTA_WAIT_FOR_OTA_COMPLETE):
            return True
        if st == S.SYS_OTA_WAIT_FOR_OTA_TIMER_TRIGGER:
            return not self.timer_trigger or not self.run.periodic_check
        blocked = self.fw_in_progress or self.download_success
        if st == S.SYS_OTA_TRIGGER_OTA:
            return blocked
        if st in (S.SYS_OTA_SERVER_UPDATE_CHECK_TRIGGER, S.SYS_OTA_AUTO_UPDATE_CHECK):
            return blocked and self.check_in_progress
        if st == S.SYS_OTA_ERASE_IMAGE:
            return self.fw_in_progress
        return False

    def waiting_on_network(self) -> bool:
        """True when the only thing that can move the service on is data (or a connect) on the socket."""
        reading_json = self.update_check_state == S.SYS_OTA_UPDATE_CHECK_READ_JSON and self.state in (
            S.SYS_OTA_AUTO_UPDATE_CHECK,
            S.SYS_OTA_SERVER_UPDATE_CHECK_TRIGGER,
        )
        if reading_json and self.dl_handle and self.rx_len_l >= len(self.json_buf) - 10:
            # the manifest buffer is full: every read asks for 0 bytes until the stall rule ends the check
            return self.no_data_cnt < MAX_DOWNLOADER_READ_COUNT and not self.check_blocked_now()
        if not self.client.on_network() or not self.dl.handle_valid or self.dl.buffered():
            return False
        if reading_json:
            return self.no_data_cnt < MAX_DOWNLOADER_READ_COUNT and not self.check_blocked_now()
        return self.core.current_task == CoreTask.DOWNLOAD_IMAGE and self.core.task_state in (1, 2)

    def skip_network_wait(self, ticks: int) -> int:
        """Apply ``ticks`` ticks in which the socket stays silent, in O(1). Returns the ticks applied.

        Only valid while :meth:`waiting_on_network`: each skipped tick would have read 0 bytes (one more
        empty read for the manifest stall count) and polled the socket.
        """
        if ticks <= 0 or not self.waiting_on_network():
            return 0
        now = self.clock.now()
        if self.client.state.name == "CONNECTING":  # the 360 s connect timeout must still be seen
            ticks = min(ticks, int(((self.client.sock_timer_ms + 360_000) / 1000 - now) / TICK_S))
        if self.core.current_task == CoreTask.DOWNLOAD_IMAGE:
            ticks = min(ticks, int((self.core.timeout - now) / TICK_S))  # stop at the 1000 s deadline
        else:
            ticks = min(ticks, MAX_DOWNLOADER_READ_COUNT - self.no_data_cnt)
        if ticks <= 0:
            return 0
        if self.core.current_task != CoreTask.DOWNLOAD_IMAGE:
            self.no_data_cnt += ticks
        self.clock.advance(ticks * TICK_S)
        return ticks
