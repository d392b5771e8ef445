"""A 512-byte-sector block device over SPI NOR flash, behaving like Harmony's DRV_MEMORY.

FatFs talks in 512-byte sectors; the SST26 erases 4 KiB and programs 256-byte pages. DRV_MEMORY bridges
the two the simple way, and this module does the same so that power cuts hurt the same bytes:

* a read is a plain read of the flash array (never counted, never cut);
* a write of one or more sectors is done erase block by erase block: read the whole 4 KiB block, patch
  the sectors in RAM, erase the block, then program it back as sixteen 256-byte pages. Every erase and
  every page program is one counted :class:`~bootloader_model.storage.nor_flash.NorFlash` operation, so a power cut
  between the erase and the last page program loses the rest of that block -- including sectors of the
  block that the write did not even touch, exactly as on the board.

What it does not do: caching, wear levelling, skipping unchanged blocks, or the SST26 block-protection
unlock (the driver sends a global unlock at open, so the model starts unlocked).
"""

from __future__ import annotations

from bootloader_model.errors import CallerError
from bootloader_model.storage.nor_flash import NorFlash

SECTOR_SIZE = 512


class MemoryBlockDevice:
    """Sectors of ``sector_size`` bytes over ``flash``, written by read-modify-write of erase blocks."""

    def __init__(self, flash: NorFlash, sector_size: int = SECTOR_SIZE) -> None:
        g = flash.geometry
        if not g.page_wrap:
            raise CallerError(f"{g.name} is not an SPI NOR part with page program; DRV_MEMORY needs one")
        self.flash = flash
        self.sector_size = sector_size
        self.erase_size = g.min_erase
        self.erase_kind = g.smallest_erase_kind()
        self.page_size = g.page_wrap
        self.sector_count = g.size // sector_size
        self._per_block = self.erase_size // sector_size

    def _check(self, lba: int, count: int) -> None:
        if lba < 0 or count < 0 or lba + count > self.sector_count:
            raise CallerError(f"sectors {lba}..{lba + count - 1} are outside 0..{self.sector_count - 1}")

    def read(self, lba: int, count: int = 1) -> bytes:
        """Read ``count`` sectors starting at ``lba``."""
        self._check(lba, count)
        ss = self.sector_size
        base = self.flash.geometry.base
        return self.flash.read(base + lba * ss, count * ss)

    def write(self, lba: int, data: bytes | bytearray | memoryview) -> None:
        """Write whole sectors starting at ``lba``, one erase block at a time (read, erase, program pages)."""
        ss = self.sector_size
        if len(data) % ss:
            raise CallerError(f"block write of {len(data)} bytes is not a whole number of {ss}-byte sectors")
        count = len(data) // ss
        self._check(lba, count)
        flash = self.flash
        base = flash.geometry.base
        view = memoryview(data)
        done = 0
        while done < count:
            sector = lba + done
            block = sector // self._per_block
            first = sector - block * self._per_block
            n = min(count - done, self._per_block - first)
            addr = base + block * self.erase_size
            buf = bytearray(flash.read(addr, self.erase_size))  # DRV_MEMORY reads the whole block first
            buf[first * ss : (first + n) * ss] = view[done * ss : (done + n) * ss]
            flash.erase(addr, self.erase_kind)
            page = self.page_size
            for off in range(0, self.erase_size, page):
                flash.program(addr + off, buf[off : off + page])
            done += n
