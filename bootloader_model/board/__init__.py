"""The virtual board: both flash parts, the OTA bootloader and the application with its OTA service.

* :mod:`.virtual_board` -- :class:`VirtualBoard` and :class:`BoardConfig`: power, reset, boot, what the
  application does, the state directory;
* :mod:`.moment_cut` -- power lost a chosen delay after a console pattern, and the flash operation it hits;
* :mod:`.command_processor` -- Harmony's SYS_COMMAND line discipline on the console input;
* :mod:`.state_directory` -- the state directory's files saved and read as one set, and its lock.

It does not pace itself against wall time or open any port: the host side (``harness``) does that.
"""

from bootloader_model.board.virtual_board import BoardConfig, VirtualBoard

__all__ = ["BoardConfig", "VirtualBoard"]
