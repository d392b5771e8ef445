"""A small FAT12/16 file system, written for the emulated SST26 and checked against dosfstools and mtools.

* :mod:`.layout` -- the on-disk records (MBR entry, boot sector, directory and LFN entries);
* :mod:`.format_volume` -- the geometry FatFs's ``f_mkfs`` picks, and the format Harmony's bootloader runs;
* :mod:`.names` -- long names and 8.3 aliases;
* :mod:`.mount` -- finding a volume (boot sector or MBR partition) and its geometry;
* :mod:`.mounted_volume` -- the mounted volume: FatFs's sector window, FAT chains, directory tables;
* :mod:`.volume` -- :class:`FatVolume`, the SYS_FS-shaped :class:`~bootloader_model.storage.file_api.FileSystem`;
* :mod:`.check` -- a read-only consistency check (what ``fsck.fat -n`` would complain about).

It has no global state: a power cut abandons the Python objects, and mounting again means building a new
:class:`FatVolume` over the same flash.
"""

from bootloader_model.storage.fat.format_volume import FatGeometry, plan
from bootloader_model.storage.fat.volume import FatFile, FatVolume

__all__ = ["FatFile", "FatGeometry", "FatVolume", "plan"]
