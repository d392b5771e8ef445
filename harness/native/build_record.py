"""``build.json``: what ``otaloop native build`` records about a cache folder, and reading it back.

:mod:`harness.native.build` writes the record next to the executable it linked; :class:`NativeBuild`
reads it and checks that the executable is still there, so a program that runs the build
(:mod:`harness.native.bootloader_program`) refuses a folder that holds none with the reason.

It does not compile or run anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from bootloader_model.errors import CallerError
from harness.output_files import read_json

BUILD_FILE = "build.json"
#: The largest ``build.json`` read (the record is a few hundred bytes).
RECORD_LIMIT = 1024 * 1024


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
    sanitize: tuple[str, ...] = field(default=())  # the sanitizers it was built with (--sanitize)
    coverage: bool = False  # built with --coverage: every run adds its counts to the objects' .gcda files
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
        if not meta_path.exists():
            raise CallerError(
                f"{directory} holds no native build ({BUILD_FILE} missing): run otaloop native build first"
            )
        meta = read_json(meta_path, "an otaloop native build description", RECORD_LIMIT)
        if not isinstance(meta, dict):
            raise CallerError(f"{meta_path} is not an otaloop native build description (not a JSON object)")
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
                tuple(str(x) for x in meta.get("sanitize", [])),
                bool(meta.get("coverage", False)),
                str(meta.get("role", "bootloader")),
            )
        except (KeyError, TypeError, IndexError) as exc:
            raise CallerError(f"{meta_path} is not an otaloop native build description ({exc})") from None
        if not os.access(exe, os.X_OK):
            raise CallerError(f"{exe} is missing or not executable: rebuild with otaloop native build")
        return build
