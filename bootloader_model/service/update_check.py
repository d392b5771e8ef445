"""The manifest check of the OTA service: ``SYS_OTA_Update_Check`` and the check-completion test.

One call of :meth:`UpdateCheck._update_check` is one step of the sub-machine CNCT_TO_SRVR -> READ_JSON ->
JSON_CONTENT -> DONE (spec section 1.5): open the downloader on the manifest URL, read at most
``SYS_OTA_JSON_FILE_MAXSIZE - 10`` bytes until Content-Length bytes are in (failing after 70000 empty reads
or a read error), parse with the cJSON model and decide with
:func:`~bootloader_model.formats.manifest.parse_json_content`, then close and return the (possibly stale)
result. It is a mixin of :class:`~bootloader_model.service.ota_service.OtaService`, whose state it uses.
"""

from __future__ import annotations

from collections.abc import Callable

from bootloader_model.formats import cjson
from bootloader_model.formats.manifest import parse_json_content
from bootloader_model.quirks import QuirkProfile
from bootloader_model.service.configuration import SysState, SysStatus
from bootloader_model.service.core.state import OTA_URL_SIZE
from bootloader_model.service.core.tasks import OtaParams
from bootloader_model.service.http_client import Downloader

S = SysState
E = SysStatus
MAX_DOWNLOADER_READ_COUNT = 70000


class UpdateCheck:
    """The manifest sub-machine, over the service's ``sys_otaData`` fields."""

    profile: QuirkProfile
    dl: Downloader
    dl_handle: bool
    params: OtaParams
    state: SysState
    status: SysStatus
    update_check_state: SysState
    update_check_failed: bool
    check_in_progress: bool
    erase_request: bool
    json_content_parse_result: bool
    json_buf: bytearray
    rx_len_l: int
    no_data_cnt: int
    dev_cnctd_to_nw: bool
    fw_in_progress: bool
    download_success: bool
    json_url: Callable[[], str]
    app_version: Callable[[], int]
    print: Callable[[bytes], None]
    printf: Callable[[str], None]
    _user: Callable[[SysStatus], None]

    def _close_dl(self) -> None:
        if self.dl_handle:
            self.dl.close()
            self.dl_handle = False

    def _read_failed(self) -> None:
        """A read error or the empty-read limit: the stall counter restarts only if a handle was open."""
        if self.dl_handle:
            self.no_data_cnt = 0
            self._close_dl()
        self.update_check_failed = True
        self.update_check_state = S.SYS_OTA_UPDATE_CHECK_DONE

    def _update_check(self) -> bool:
        """``SYS_OTA_Update_Check``: one step of the manifest sub-machine."""
        st = self.update_check_state
        if st == S.SYS_OTA_UPDATE_CHECK_CNCT_TO_SRVR:
            self.check_in_progress = True
            self.json_buf[:] = bytes(len(self.json_buf))
            if not self.profile.on("svc-stale-check-result"):
                self.json_content_parse_result = False
            if not self.profile.on("svc-json-offset-not-reset"):
                self.rx_len_l = self.no_data_cnt = 0
            self.printf(f"SYS OTA : Connecting to server : {self.json_url()}\r\n")
            self.dl_handle = self.dl.open(self.json_url())
            if not self.dl_handle:
                self.print(b"SYS OTA : Downloader open error \r\n")
                self.update_check_state = S.SYS_OTA_UPDATE_CHECK_DONE
                self.update_check_failed = True
                return False
            self.update_check_state = S.SYS_OTA_UPDATE_CHECK_READ_JSON
        elif st == S.SYS_OTA_UPDATE_CHECK_READ_JSON:
            self._read_json()
        elif st == S.SYS_OTA_UPDATE_CHECK_JSON_CONTENT:
            self.print(b"SYS_OTA : JSON parsing \r\n")
            root = cjson.parse(bytes(self.json_buf), bad_hex_escape_is_nul=self.profile.on("svc-cjson-bad-hex-escape"))
            if root is None:
                self._close_dl()
                self.update_check_failed = True
                self.update_check_state = S.SYS_OTA_UPDATE_CHECK_DONE
                return False
            out = parse_json_content(
                root,
                app_version=self.app_version(),
                erase_request=self.erase_request,
                console=self.print,
                sticky_erase=self.profile.on("svc-stuck-erase-flag"),
                unsigned_compare=self.profile.on("svc-negative-version-available"),
                signed_app_version=self.profile.on("svc-app-version-printed-signed"),
                url_limit=None if self.profile.on("svc-url-overflows-digest") else OTA_URL_SIZE,
            )
            self.erase_request = out.erase_request
            if out.url is not None:
                self.params.ota_server_url = out.url
            if out.digest is not None:
                self.params.serv_app_digest_string = out.digest
            if out.erase_version is not None:
                self.state = S.SYS_OTA_ERASE_IMAGE
                self.params.delete_img_version = out.erase_version & 0xFFFF_FFFF
                if not self.profile.on("svc-stuck-erase-flag"):
                    # Harmony leaves the sub-machine in DONE with the check still "in progress"; the next
                    # check then starts by finishing this one. Finish it now instead.
                    self._close_dl()
                    self.check_in_progress = False
                    self.update_check_state = S.SYS_OTA_UPDATE_CHECK_CNCT_TO_SRVR
                    return False
            if out.available and out.version is not None:
                self.params.version = out.version
            self.json_content_parse_result = out.available
            self.update_check_state = S.SYS_OTA_UPDATE_CHECK_DONE
        elif st == S.SYS_OTA_UPDATE_CHECK_DONE:
            self.update_check_state = S.SYS_OTA_UPDATE_CHECK_CNCT_TO_SRVR
            self.check_in_progress = False
            self._close_dl()
            return self.json_content_parse_result
        return False

    def _read_json(self) -> None:
        if not self.dev_cnctd_to_nw:
            return
        limit = len(self.json_buf) - 10
        got = self.dl.read(limit - self.rx_len_l) if self.dl_handle else -1
        if self.no_data_cnt >= MAX_DOWNLOADER_READ_COUNT:
            self._read_failed()
            return
        if isinstance(got, int) or not got:
            self.no_data_cnt += 1
            if isinstance(got, int):
                self._read_failed()
            return
        self.json_buf[self.rx_len_l : self.rx_len_l + len(got)] = got
        self.rx_len_l += len(got)
        if self.rx_len_l < self.dl.field_content_length:
            return
        if self.rx_len_l + 1 < len(self.json_buf):
            self.json_buf[self.rx_len_l + 1] = 0
        self.no_data_cnt = 0
        self.update_check_state = S.SYS_OTA_UPDATE_CHECK_JSON_CONTENT
        self.rx_len_l = 0

    def _finish_check(self, next_state: SysState) -> bool:
        """The completion test shared by AUTO_UPDATE_CHECK and SERVER_UPDATE_CHECK_TRIGGER."""
        if self.check_in_progress or self.erase_request:
            return False
        if self.update_check_failed:
            self.status = E.SYS_OTA_UPDATE_CHECK_FAILED
            self._user(self.status)
            self.update_check_failed = False
        else:
            self.status = E.SYS_OTA_UPDATE_NOTAVAILABLE
            self._user(self.status)
        self.state = next_state
        return True

    def check_blocked_now(self) -> bool:
        """The manifest sub-machine is not run while a download is in progress or done."""
        return self.fw_in_progress or self.download_success

    def _check_blocked(self) -> bool:
        blocked = self.fw_in_progress or self.download_success
        if blocked and not self.profile.on("svc-check-after-download-hangs"):
            self.check_in_progress = False
        return blocked
