"""Storage on the virtual board: the flash parts and the file system the firmware keeps on them.

* :mod:`.nor_flash` -- NOR flash with counted erase and program operations and the fault plans that cut
  power at one of them; both the PIC32MZ's internal program flash and the external SST26 are instances;
* :mod:`.block_device` -- 512-byte sectors over the SST26, each write a read-modify-write of its 4 KiB block,
  as Harmony's DRV_MEMORY does;
* :mod:`.fat` -- the FAT12/16 volume on that block device;
* :mod:`.external_flash` -- the three put together: the SST26, its block layer and its FAT volume;
* :mod:`.file_api` -- the SYS_FS-shaped file API the firmware models use, and an in-memory volume.

Nothing here knows what the files mean: the on-flash formats live in :mod:`bootloader_model.formats`.
"""
