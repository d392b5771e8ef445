"""``build.json``: what ``otaloop native build`` records about a cache folder, and reading it back.

:mod:`harness.native.build` writes the record next to the executable it linked; :class:`NativeBuild`
reads it and checks that the executable is still there, so a program that runs the build
(:mod:`harness.native.bootloader_program`) refuses a folder that holds none with the reason.

It does not compile or run anything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from bootloader_model.errors import CallerError

BUILD_FILE = "build.json"


@dataclass(frozen=True)
class NativeBuild:
    """What ``build.json`` says about a cache directory."""

    directory: Path
    executable: Path
    variant: str
    kind: str  # "harmony" or "example"
    remote_fs: bool
    build_stamp: tuple[str, str]
    source: str
    data_model: str
    role: str = "bootloader"  # "bootloader" or "application" (otaloop native build --application)

    @classmethod
    def load(cls, directory: Path) -> NativeBuild:
        """Read ``directory/build.json`` and check the executable it names.

        Args:
            directory: a cache folder made by ``otaloop native build``.

        Returns:
            The build's description.

        Raises:
            CallerError: no build there, a record that does not parse, or an executable that is gone.
        """
        meta_path = directory / BUILD_FILE
        try:
            meta = json.loads(meta_path.read_text())
        except FileNotFoundError:
            raise CallerError(
                f"{directory} holds no native build ({BUILD_FILE} missing): run otaloop native build first"
            ) from None
        except (OSError, ValueError) as exc:
            raise CallerError(f"cannot read {meta_path}: {exc}") from None
        try:
            exe = directory / str(meta["executable"])
            build = cls(
                directory,
                exe,
                str(meta["variant"]),
                str(meta["kind"]),
                bool(meta["remote_fs"]),
                (str(meta["build_stamp"][0]), str(meta["build_stamp"][1])),
                str(meta.get("source", "")),
                str(meta.get("data_model", "")),
                str(meta.get("role", "bootloader")),
            )
        except (KeyError, TypeError, IndexError) as exc:
            raise CallerError(f"{meta_path} is not an otaloop native build description ({exc})") from None
        if not os.access(exe, os.X_OK):
            raise CallerError(f"{exe} is missing or not executable: rebuild with otaloop native build")
        return build
