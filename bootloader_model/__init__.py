"""Device side of otaloop: a deterministic model of a PIC32MZ W1 board running Harmony OTA.

This package holds the flash models, the on-flash formats, the OTA bootloader, the OTA service and the
virtual board. It is pure and deterministic: it never imports ``harness``, pytest or anything that only
makes sense on the host, and it talks to the outside world only as a board does (console bytes, HTTP).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
