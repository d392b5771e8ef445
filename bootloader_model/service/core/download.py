"""The OTA core's download and verify tasks (``OTA_Task_DownloadImage``, ``OTA_Task_VerifyImage``).

Download: wait for a full first 4 KiB (only then is Content-Length taken), write the image in 4 KiB chunks
at their offsets, give up at the 1000 s deadline. Verify: SHA-256 over Content-Length bytes of the stored
file, one 4 KiB read per step, compared with the manifest digest as Harmony parses it. One state per call.
"""

from __future__ import annotations

import hashlib

from bootloader_model.service.core.state import (
    BUSY,
    D_DONE,
    D_DOWNLOAD,
    D_GET_CONTENT_LENGTH,
    D_INIT,
    D_WRITE,
    DOWNLOAD_TIMEOUT_S,
    ERROR,
    READY,
    SECTOR,
    V_DONE,
    V_INIT,
    V_READ,
    CoreBase,
    OtaResult,
    formulate_digest,
    image_file_name,
)
from bootloader_model.storage.file_api import FsError


class DownloadTasks(CoreBase):
    """The download and verify task bodies."""

    # ----------------------------------------------------------------------------------- download
    def _download(self) -> str:
        status = BUSY
        if self.task_state not in (D_INIT, D_DONE) and self.clock.now() > self.timeout:
            status, self.task_state = ERROR, D_DONE
        st = self.task_state
        if st == D_INIT:
            self.result = OtaResult.IMAGE_DOWNLOAD_START
            self._notify()
            name = image_file_name(self.params.ota_server_url)
            if name is None:
                if self.profile.on("core-url-without-dot-crash"):
                    self._hang()
                    return BUSY
                name = ""
            self.image_name = name
            try:
                self.file = self.fs.open(name, "w+")
            except FsError:
                self.file = None  # Harmony overwrites the error state below and fails at the first write
            self.buf, self.buf_len, self.copied_len, self.total_len = bytearray(SECTOR), 0, 0, 0
            self.timeout = self.clock.now() + DOWNLOAD_TIMEOUT_S
            self.task_state = D_GET_CONTENT_LENGTH
        elif st == D_GET_CONTENT_LENGTH:
            status = self._get_content_length()
        elif st == D_DOWNLOAD:
            req = min(self.total_len - self.copied_len, SECTOR)
            got = self.dl.read(req - self.buf_len)
            if isinstance(got, int):
                status, self.task_state = ERROR, D_DONE
            elif got:
                self.buf[self.buf_len : self.buf_len + len(got)] = got
                self.buf_len += len(got)
                if self.buf_len == req:
                    self.task_state = D_WRITE
        elif st == D_WRITE:
            if not self._write(self.copied_len, bytes(self.buf[: self.buf_len])):
                status, self.task_state = ERROR, D_DONE
            else:
                self.copied_len += self.buf_len
                self.params.total_data_downloaded = self.copied_len
                self.buf_len = 0
                self.task_state = D_DOWNLOAD if self.copied_len < self.total_len else D_DONE
        if self.task_state == D_DONE:
            if self.downloader_open:
                self.dl.close()
                self.downloader_open = False
            return ERROR if status == ERROR else READY
        return BUSY

    def _get_content_length(self) -> str:
        got = self.dl.read(SECTOR - self.buf_len)
        if isinstance(got, int):
            if (
                not self.profile.on("core-image-min-4k")
                and self.buf_len
                and self.buf_len == self.dl.field_content_length
            ):
                return self._short_image()
            self.task_state = D_DONE
            return ERROR
        if not got:
            return BUSY
        self.buf[self.buf_len : self.buf_len + len(got)] = got
        self.buf_len += len(got)
        if self.buf_len != SECTOR:
            return BUSY
        self.total_len = self.dl.field_content_length
        self.params.server_image_length = self.total_len
        if not self._write(0, bytes(self.buf)):
            self.task_state = D_DONE
            return ERROR
        self.task_state = D_DOWNLOAD
        self.copied_len += self.buf_len
        self.buf_len = 0
        if not self.profile.on("core-image-min-4k") and self.copied_len >= self.total_len:
            self.params.total_data_downloaded = self.copied_len
            self.task_state = D_DONE
        return BUSY

    def _short_image(self) -> str:
        """Profile ``corrected``: an image of at most 4 KiB completes when the client has closed."""
        self.total_len = self.params.server_image_length = self.buf_len
        if not self._write(0, bytes(self.buf[: self.buf_len])):
            self.task_state = D_DONE
            return ERROR
        self.copied_len = self.params.total_data_downloaded = self.buf_len
        self.task_state = D_DONE
        return BUSY

    def _write(self, offset: int, data: bytes) -> bool:
        if self.file is None:
            return False
        try:
            self.file.seek(offset)
            return self.file.write(data) == len(data)
        except FsError:
            return False

    # ------------------------------------------------------------------------------------- verify
    def _verify(self) -> str:
        st = self.task_state
        if st == V_INIT:
            self.v_offset, self.v_len = 0, SECTOR
            self.digest_expected = formulate_digest(self.params.serv_app_digest_string)
            self.sha = hashlib.sha256()
            self.img_sz = self.dl.field_content_length
            if not self.profile.on("core-image-min-4k"):
                self.img_sz = self.total_len
                self.v_len = min(SECTOR, self.img_sz)
            if self.file is None:
                return ERROR
            try:
                self.file.seek(0)
                self._read_into(self.v_len)
            except FsError:
                self._close_file()
                return ERROR
            self.task_state = V_READ
            self.result = OtaResult.IMAGE_DIGEST_VERIFY_START
            self._notify()
        elif st == V_READ:
            assert self.sha is not None
            self.sha.update(self.buf[: self.v_len])
            self.v_offset += self.v_len
            if self.v_offset == self.img_sz:
                self.task_state = V_DONE
                return BUSY
            if self.v_offset + self.v_len > self.img_sz:
                self.v_len = (self.img_sz - self.v_offset) & 0xFFFF_FFFF
            assert self.file is not None
            try:
                self.file.seek(self.v_offset)
                self._read_into(self.v_len)
            except FsError:
                self._close_file()
                return ERROR
        elif st == V_DONE:
            assert self.sha is not None
            if self.sha.digest() != self.digest_expected:
                self.console(b"SYS OTA : digest mismatch\r\n")
                return ERROR
            return READY
        return BUSY

    def _read_into(self, n: int) -> None:
        """``SYS_FS_FileRead`` into the 4 KiB buffer; a short read leaves the old tail in place."""
        assert self.file is not None
        if n > len(self.buf):
            self.buf.extend(bytes(n - len(self.buf)))
        data = self.file.read(n)
        self.buf[: len(data)] = data
