"""Capture the console transcript of a full update for ``docs/transcript.md``.

Run ``python -m harness.scenarios.transcript --out docs/transcript.md``.

It runs the ``c_update`` scenario on a fresh virtual board served on a real pty (the path a hardware board
takes), then writes every console line with the board time at which the board printed it. The manifest
server's port is chosen by the OS, so URLs differ from run to run; nothing else does.

It only renders; the scenario does the checking.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from harness.output_files import write_atomic
from harness.scenarios import REGISTRY
from harness.scenarios.base import Bench
from harness.scenarios.benches import virtual_bench

HEADER = """# Console transcript of a full OTA update

Captured from a real run of the virtual board with
`python -m harness.scenarios.transcript --out docs/transcript.md` (rerun it to regenerate this page).
The board was served on a pty and read through pyserial, exactly as the harness reads a hardware board;
the image server listened on 127.0.0.1. The run is the `c_update` scenario of the library
(`otaloop run --only c_update`): a freshly flashed board makes its factory backup, boots the factory
application (version 1, MHC defaults: periodic check every 60 s, auto update, auto reset), finds version 2
in the manifest at its first check, downloads and verifies it, resets, and the bootloader programs it.
The scenario then types `sysota getfs info`.

The left column is board time in seconds (virtual time: the 40 s of the first boot are the bootloader
copying 892 KiB of internal flash to `factory_reset.bin` at datasheet flash timings); lines typed on the
console are marked `>`. Blank lines and the SYS_COMMAND prompt are left out. The model charges flash
busy time when one of its steps ends, so a line carries the board time at which its step began (the gap
before the second banner is the external-flash time of the download, charged at the reset).

```
"""


def render(bench: Bench) -> str:
    """The bench's console as ``[board time] line`` rows."""
    data = bytes(bench.console.buffer)
    rows = []
    start = 0
    for m in re.finditer(rb"\r\n|\n\r|\r|\n", data):
        raw = data[start : m.start()]
        offset = start
        start = m.end()
        text = raw.decode("utf-8", "replace")
        typed = text.startswith((">sysota", ">otactl", "sysota", "otactl"))
        stripped = text.lstrip(">")
        offset += len(text) - len(stripped)  # a prompt printed earlier is not the line's own time
        text = stripped
        if not text.strip():
            continue
        t = bench.printed_at(offset)
        stamp = f"{t:9.3f}" if t is not None else " " * 9
        rows.append(f"{stamp}  {'> ' if typed else ''}{text}")
    return "\n".join(rows)


def capture(speed: float = 1000.0) -> str:
    sc = REGISTRY["c_update"]
    with virtual_bench(sc.factory, link="pty", speed=speed) as bench:
        sc.func(bench)
        bench.console.drain(quiet=0.05, limit=0.5)
        body = render(bench)
    return HEADER + body + "\n```\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.scenarios.transcript", description=__doc__)
    p.add_argument("--out", type=Path, help="write the page here (default: stdout)")
    args = p.parse_args(argv)
    page = capture()
    if args.out:
        write_atomic(args.out, page)
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
