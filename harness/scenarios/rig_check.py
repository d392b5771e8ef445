"""Does a real rig match what its options declare? Pure comparisons, made at the start of a session.

A real board's options (``--factory-config``, ``--http``, ``--manifest-path``, ``--images``) describe the
firmware it was flashed with and the images it will get. This module compares them with what the board and
the image directory show:

* :func:`options_mismatch`: the OTA options the running application reports (``sysota get info``: periodic
  check, its interval, auto reset, the JSON server URL) against the declared factory configuration and the
  manifest URL. Auto update is not in that report, so ``auto`` and ``notify`` cannot be told apart here.
* :func:`images_mismatch`: the image directory holds ``<config>_v<N>.bin`` of the declared configuration,
  and the manifest URL compiled into them (``SYS_OTA_URL``, a plain C string in the image) is the declared
  one.

Each returns one line naming what was declared and what was seen, or None when they fit. Talking to the
board and bringing it to its factory app is :meth:`harness.scenarios.benches.SerialBench.start_session`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from harness.scenarios.base import CONFIGS, AppConfig

#: The version of the factory application a board is flashed with (``<config>_v1`` in the unified hex).
FACTORY_VERSION = 1
#: ``--start``: bring the board to its factory app, or leave it as it is.
START_MODES = ("factory", "keep")
#: Hosts the image server may listen on without being the address in the firmware's URL.
ANY_HOST = ("0.0.0.0", "::", "")


@dataclass(frozen=True)
class SeenOptions:
    """The OTA options a running application reports (None: not in its report)."""

    periodic: int | None
    interval_s: int | None
    autoreset: int | None
    url: str | None

    @classmethod
    def from_info(cls, info: dict[str, str]) -> SeenOptions:
        """From :meth:`harness.board_link.driver.BoardDriver.info` (``sysota get info``)."""
        return cls(
            _leading_int(info.get("Periodic check")),
            _leading_int(info.get("Periodic interval")),
            _leading_int(info.get("Auto reset")),
            info.get("Json-server url"),
        )


def _leading_int(text: str | None) -> int | None:
    m = re.match(r"\s*(-?\d+)", text or "")
    return int(m.group(1)) if m else None


def url_fits(url: str, declared: str) -> bool:
    """Whether the firmware's ``url`` is the ``declared`` manifest URL (any host if the server listens on all)."""
    if url == declared:
        return True
    got, want = urlsplit(url), urlsplit(declared)
    if (want.hostname or "") not in ANY_HOST:
        return False
    return (got.scheme, got.port, got.path) == (want.scheme, want.port, want.path)


def _options(periodic: int | None, interval: int | None, autoreset: int | None, with_interval: bool) -> str:
    shown = ["?" if v is None else str(v) for v in (periodic, interval, autoreset)]
    text = f"periodic check {shown[0]}"
    if with_interval:
        text += f", interval {shown[1]} s"
    return text + f", auto reset {shown[2]}"


def options_mismatch(declared: AppConfig, seen: SeenOptions, manifest_url: str) -> str | None:
    """What differs between the declared factory configuration and server address and what the board reports."""
    parts = []
    want = (int(declared.periodic), declared.interval_s if declared.periodic else None, int(declared.autoreset))
    got = (seen.periodic, seen.interval_s if declared.periodic else None, seen.autoreset)
    if any(g is not None and g != w for g, w in zip(got, want, strict=True)):
        fits = [
            c.name
            for c in CONFIGS.values()
            if (int(c.periodic), int(c.autoreset)) == (seen.periodic, seen.autoreset)
            and (not c.periodic or c.interval_s == seen.interval_s)
        ]
        hint = f" (as factory config {' or '.join(fits)} is)" if fits else ""
        parts.append(
            f"declared factory config {declared.name} ({_options(*want, declared.periodic)}), "
            f"seen {_options(*got, declared.periodic)}{hint}"
        )
    if seen.url is not None and not url_fits(seen.url, manifest_url):
        parts.append(f"declared manifest URL {manifest_url}, seen SYS_OTA_URL {seen.url}")
    return "; ".join(parts) or None


_URL = re.compile(rb"https?://[\x21-\x7e]+")


def images_mismatch(directory: Path, declared: AppConfig, manifest_url: str) -> str | None:
    """Whether ``directory`` holds images of the declared configuration that point at the declared manifest URL."""
    files = sorted(directory.glob(f"{declared.name}_v*.bin"))
    if not files:
        others = sorted(p.name for p in directory.glob("*_v*.bin"))
        held = f" (it holds {', '.join(others[:4])}{', ...' if len(others) > 4 else ''})" if others else ""
        return f"declared factory config {declared.name}, but {directory} holds no {declared.name}_v<N>.bin{held}"
    path = urlsplit(manifest_url).path.encode()
    for file in files:
        urls = {u.decode() for u in _URL.findall(file.read_bytes()) if u.endswith(path)}
        if urls and not any(url_fits(u, manifest_url) for u in urls):
            return f"declared manifest URL {manifest_url}, seen {sorted(urls)[0]} in {file.name}"
    return None
