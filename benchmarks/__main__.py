"""Run the benchmarks named on the command line (default: all) and print their reports."""

from __future__ import annotations

import importlib
import sys

ALL = (
    "flash",
    "image",
    "extflash",
    "bootloader",
    "service",
    "update",
    "sweep",
    "guided",
    "native",
)


def main(argv: list[str]) -> int:
    names = argv or list(ALL)
    unknown = [n for n in names if n not in ALL]
    if unknown:
        print(f"benchmarks: unknown benchmark {unknown[0]!r}; choose from {', '.join(ALL)}", file=sys.stderr)
        return 2
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}_bench")
        print("\n".join(module.run()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
