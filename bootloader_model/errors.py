"""The typed error tree shared by the whole project.

Two branches, split by whose fault it is:

* :class:`CallerError` -- the caller erred: bad arguments, a malformed file, an address that is out of
  range. These subclass :class:`ValueError` so plain Python callers can catch them naturally, and the
  command line turns them into a one-line message and exit status 2.
* :class:`BoardError` -- the board (real or virtual) misbehaved: it wrote a 1 over a 0 in strict flash
  mode, stopped answering, printed a death string, or lost its serial port.

:class:`PowerCut` is deliberately *not* an :class:`Exception`: it derives from :class:`BaseException` so
that no ``except Exception`` inside model code can swallow a simulated loss of power.

This module defines types only; it does not decide how errors are reported.
"""

from __future__ import annotations


class OtaloopError(Exception):
    """Root of every error otaloop raises on purpose."""


class CallerError(OtaloopError, ValueError):
    """The caller erred: bad argument, bad file, bad address. Fix the input and try again."""


class RigMismatch(CallerError):
    """The rig is not what the caller declared: the board runs another factory configuration, points at
    another image server, or the image directory does not fit. The message names what was declared and seen."""


class FlashAddressError(CallerError):
    """A flash operation was misaligned, of an unsupported size, or out of the device's range."""


class FormatError(CallerError):
    """Bytes or text did not decode as the expected format (ELF, HEX, manifest, descriptor, ...)."""


class ImageError(FormatError):
    """An application image (ELF, Intel HEX or OTA .bin) is malformed or unusable."""


class ManifestError(FormatError):
    """An ``ota.json`` manifest is malformed or misses a required field."""


class DescriptorError(FormatError):
    """An app descriptor record is missing, of an unknown version, or fails its CRC."""


class BoardError(OtaloopError):
    """The board misbehaved. Raised for faults on the device side, never for caller mistakes."""


class FlashProgramError(BoardError):
    """Firmware asked the flash to turn a 0 bit back into 1 without an erase (strict mode only)."""


class ConsoleTimeout(BoardError):
    """The board did not print what was expected in time. The message shows the pattern and the tail."""

    def __init__(self, pattern: str, timeout: float, tail: bytes) -> None:
        super().__init__(f"no {pattern} within {timeout:g} s; last bytes seen: {tail[-300:]!r}")
        self.pattern = pattern
        self.timeout = timeout
        self.tail = tail


class BoardDead(BoardError):
    """The board gave no sign of life: no bootloader banner within the boot timeout after a reset or power-on."""


class DeathString(BoardError):
    """The board printed a line that means it is broken (an exception dump, a stuck loop, ...)."""


class PortLost(BoardError):
    """The serial port vanished or failed while in use (cable pulled, board power-cycled, pty closed)."""


class PowerCut(BaseException):
    """Power was lost at a planned flash operation.

    Derives from :class:`BaseException` so that model code catching :class:`Exception` cannot hide it.
    ``fault_id`` names the cut so it can be replayed.
    """

    def __init__(self, fault_id: str, op_index: int) -> None:
        super().__init__(f"power cut at flash operation {op_index} ({fault_id})")
        self.fault_id = fault_id
        self.op_index = op_index
