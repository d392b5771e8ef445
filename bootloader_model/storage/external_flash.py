"""The board's external flash: SST26 NOR part, DRV_MEMORY-like block layer, and the FAT volume on top.

:class:`ExternalFlash` is what the OTA service and the bootloader models get as their
:class:`~bootloader_model.storage.file_api.FileSystem`. It is built from a
:class:`~bootloader_model.storage.nor_flash.NorFlash` so callers keep the flash itself to arm fault plans,
snapshot, dump and load it. After a
:class:`~bootloader_model.errors.PowerCut`, throw the object away and build a new one over the same
flash: that is "mount again".

What it does not do: own the flash contents' lifetime (dump/load are the flash's), or format by itself --
the bootloader's first boot calls :meth:`ExternalFlash.format` and then makes ``ota/``.
"""

from __future__ import annotations

from bootloader_model.errors import CallerError
from bootloader_model.storage.block_device import MemoryBlockDevice
from bootloader_model.storage.fat import FatVolume
from bootloader_model.storage.fat.layout import HARMONY_FATTIME
from bootloader_model.storage.nor_flash import SST26VF032B, SST26VF064B, Geometry, NorFlash

#: External flash sizes a user may pick, by their CLI names.
SIZES: dict[str, Geometry] = {"4M": SST26VF032B, "8M": SST26VF064B}


class ExternalFlash(FatVolume):
    """A FAT volume on an SST26 NOR flash through a DRV_MEMORY-style block layer."""

    def __init__(self, flash: NorFlash, *, fattime: int = HARMONY_FATTIME) -> None:
        if flash.geometry.name not in {g.name for g in SIZES.values()}:
            raise CallerError(f"external flash must be an SST26 part, not {flash.geometry.name}")
        self.flash = flash
        self.blocks = MemoryBlockDevice(flash)
        super().__init__(self.blocks, fattime=fattime)

    @property
    def partition_offset(self) -> int:
        """Byte offset of the FAT partition inside a raw dump (for ``mtools -i image@@offset``)."""
        return self.geometry().volume_start * self.blocks.sector_size


def new_external(size: str = "4M", *, strict: bool = True, keep_log: bool = False) -> ExternalFlash:
    """A blank (erased, unformatted) external flash of ``size`` ``"4M"`` or ``"8M"``."""
    try:
        geometry = SIZES[size]
    except KeyError:
        raise CallerError(f"external flash size must be one of {', '.join(SIZES)}, not {size!r}") from None
    return ExternalFlash(NorFlash(geometry, strict=strict, keep_log=keep_log))
