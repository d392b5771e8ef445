"""Host side of otaloop: drives boards (real or virtual) over a serial console and serves them images.

``harness`` may import ``bootloader_model``; the reverse never happens.
"""
