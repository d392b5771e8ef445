"""What one run of the OTA bootloader model did, as values: tests and sweeps assert on these, not on text.

A :class:`BootResult` records the task sequence, what CHECK_IMAGE concluded, every SELECT_IMAGE choice,
every PROGRAM_IMAGE and VERIFY_IMAGE pass, the rows INVALIDATE_IMAGE removed, and how the run ended:
a jump to an address, a software reset (after the first-boot factory backup), or ``stuck`` with a
reason when the firmware would loop for ever. This module holds data only; it makes no decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from bootloader_model.formats.boot_control import BootControl


class Outcome(str, Enum):
    JUMP = "jump"  # JUMP_TO_APP called boot_ctl.boot_addr
    RESET = "reset"  # the factory backup ended in SYS_RESET_SoftwareReset(); the board boots again
    STUCK = "stuck"  # the firmware would loop for ever (see BootResult.stuck_reason)


class Check(str, Enum):
    """How CHECK_IMAGE ended (spec section 7, CHECK_IMAGE steps 1-5)."""

    UNINITIALIZED = "uninitialized"  # first 16 bytes of boot control are 0xFF: "Uninitialized sector"
    NO_DATABASE = "no-database"  # image_database.csv cannot be opened: factory image
    ROW_NOT_FOUND = "row-not-found"  # no row has boot control's version: SELECT
    FIELD_ERROR = "field-error"  # the matching row's status or version is unreadable: SELECT
    NOT_VALID = "not-valid"  # boot control or the row is not F8: SELECT
    VALID = "valid"  # F8 in boot control and in the row with the same version: JUMP


@dataclass(frozen=True)
class Selection:
    """One SELECT_IMAGE decision."""

    factory: bool
    path: str
    row: int = -1  # database row, -1 for the factory image
    name: str = ""
    version: int = 0  # hex-parsed database version, or the factory header's version
    header_status: int = 0xFF  # the status SELECT left in the shared header (what boot control gets)


@dataclass(frozen=True)
class Programming:
    """One PROGRAM_IMAGE pass."""

    path: str
    copy_len: int  # bytes of the file copied from offset 0x1000 on (the loop bound)
    programmed_to: int  # first address past the last programmed chunk
    header: BootControl  # the boot control header written at the end


@dataclass(frozen=True)
class Verification:
    """One VERIFY_IMAGE pass. ``skipped`` for the factory image in non-secure builds."""

    skipped: bool
    ok: bool
    expected: bytes = b""  # the 32 bytes parsed from the database digest string
    actual: bytes = b""  # SHA-256 of the file's first 4 KiB + internal flash up to the file size


@dataclass
class BootResult:
    """Everything one call of :meth:`~bootloader_model.bootloader.step_machine.Bootloader.boot` did."""

    outcome: Outcome | None = None
    jump_addr: int | None = None
    stuck_reason: str | None = None
    steps: list[str] = field(default_factory=list)  # task names in the order they ran, starting with INIT
    checked: Check | None = None
    selections: list[Selection] = field(default_factory=list)
    programmed: list[Programming] = field(default_factory=list)
    verified: list[Verification] = field(default_factory=list)
    invalidated: list[str] = field(default_factory=list)  # names of the rows INVALIDATE_IMAGE deleted
    factory_backup: bool = False  # the first-boot backup to ota/factory_reset.bin ran to its end
    db_deleted: bool = False  # the factory path removed image_database.csv
    boot_control: BootControl | None = None  # the header in internal flash when the run ended
    console: bytes = b""
    flash_busy_s: float = 0.0  # internal flash busy time (timed NorFlash only)
    iterations: int = 0  # Bootloader_Tasks() calls
    notes: list[str] = field(default_factory=list)

    @property
    def software_reset_requested(self) -> bool:
        return self.outcome is Outcome.RESET

    @property
    def stuck(self) -> bool:
        return self.outcome is Outcome.STUCK

    @property
    def chosen(self) -> Selection | None:
        """The last selection (the one that was programmed when the run jumped)."""
        return self.selections[-1] if self.selections else None
