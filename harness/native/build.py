"""``otaloop native build``: compile a Harmony OTA bootloader's or application's C code for the host, with shims.

:func:`locate` finds the bootloader in the path a user gives -- the ``apps/ota_bootloader/firmware/src``
folder of a WFI32E01 project, any folder above it, or a whole ``wireless_apps_pic32mzw1_wfi32e01``
checkout -- and tells the wolfcrypt build from the TrustFlex build by its configuration folder
(``config/pic32mz_w1_curiosity_wolfcrypt`` with ``bootloader_wolfcrypt.c``, or
``config/pic32mz_w1_curiosity_trustflex`` with ``bootloader_trusflex.c``). Anything else is refused with
the reason.

:func:`build` compiles, with the host C compiler:

* the bootloader's own files: every ``.c`` under ``bootloader/`` except the other variant's
  ``bootloader_*.c`` (so ``csv/csv.c``, ``ota_database_parser.c``, ``int_flash.c``, ``sha256.c`` and any
  file the user added), and ``app.c``;
* from the configuration: ``initialization.c``, ``tasks.c``, SYS_FS (``sys_fs.c``, the media manager,
  the FatFs interface), FatFs (``ff.c``, ``ffunicode.c``, ``diskio.c``), DRV_MEMORY and ``sys_int.c``;
* otaloop's shim layer (``harness/native/c``): the runner, the peripheral libraries (NVM, clocks,
  GPIO, UART, SPI, EVIC, caches), the SST26 driver on the flash model, the heap;

and links them into ``CACHE/bootloader`` with ``CACHE/build.json`` beside it. Include folders, macros
and the heap size come from the project's ``.X/nbproject/configurations.xml`` when it is there.
Nothing of Harmony is copied: sources are read from the user's path, objects go to the cache.

Host portability, handled here and in the shims: the target is 32-bit little-endian MIPS; the build is
``-m32`` (ILP32: pointers, ``long`` and ``size_t`` of 4 bytes, as on the part) whenever the compiler can
link 32-bit programs, else 64-bit with a warning recorded in ``build.json``. ``realloc(p, 0)`` and the
heap follow newlib (``otaloop_heap.c``). ``__DATE__``/``__TIME__`` come from ``SOURCE_DATE_EPOCH``
(default: the Python model's banner date), so banners and transcripts compare. :func:`build_example`
builds otaloop's own small example bootloader (``harness/native/c/example``), used by the tests, which
reaches the FAT volume through SYS_FS calls answered by the board.

:func:`locate_application` and :func:`build_application` do the same for Harmony's OTA application
(``wifi_ota_app_upgrade``, configuration ``pic32mz_w1_curiosity_freertos``) with the application shims
(``otaloop_app_runner.c``, ``otaloop_net.c``, ``otaloop_harmony_app.c``); :func:`build_example_application`
builds otaloop's example application (``harness/native/c/example_app``). Application builds record role
``application`` in ``build.json`` and take the same :class:`Instrumentation` as bootloader builds.

It does not run anything (:mod:`harness.native.bootloader_program` and
:mod:`harness.native.application_program` do).
"""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bootloader_model.bootloader.state import DEFAULT_BUILD_STAMP
from bootloader_model.errors import CallerError
from harness.native import coverage, memcheck, sanitizers
from harness.native.build_record import BUILD_FILE
from harness.output_files import write_atomic

SHIM_DIR = Path(__file__).resolve().parent / "c"
EXAMPLE_DIR = SHIM_DIR / "example"
EXECUTABLE = "bootloader"
#: The Python model's default banner date, as a SOURCE_DATE_EPOCH: Nov 26 2026 16:13:00 UTC.
DEFAULT_EPOCH = calendar.timegm(time.strptime(" ".join(DEFAULT_BUILD_STAMP), "%b %d %Y %H:%M:%S"))
DEFAULT_HEAP = 8192

VARIANTS = {
    "wolfcrypt": ("pic32mz_w1_curiosity_wolfcrypt", "bootloader_wolfcrypt.c", "ota_bootloader_wolfcrypt.X"),
    "trustflex": ("pic32mz_w1_curiosity_trustflex", "bootloader_trusflex.c", "ota_bootloader_trustflex.X"),
}
#: Files of the configuration folder the bootloader needs (relative to config/<name>/).
CONFIG_FILES = (
    "initialization.c",
    "tasks.c",
    "system/fs/src/sys_fs.c",
    "system/fs/src/sys_fs_media_manager.c",
    "system/fs/src/sys_fs_fat_interface.c",
    "system/fs/fat_fs/file_system/ff.c",
    "system/fs/fat_fs/file_system/ffunicode.c",
    "system/fs/fat_fs/hardware_access/diskio.c",
    "driver/memory/src/drv_memory.c",
    "driver/memory/src/drv_memory_file_system.c",
)
OPTIONAL_CONFIG_FILES = ("system/int/src/sys_int.c",)
SHIM_FILES = ("otaloop_runner.c", "otaloop_peripherals.c", "otaloop_heap.c")
WRAPPED = ("malloc", "free", "calloc", "realloc")
EXAMPLE_APP_DIR = SHIM_DIR / "example_app"
APP_EXECUTABLE = "application"
#: The application helper's own shims: the runner, the network policy, the peripheral libraries.
APP_SHIM_FILES = ("otaloop_app_runner.c", "otaloop_net.c", "otaloop_peripherals.c")
#: What an application helper wraps: every way to reach the network goes through the board's policy first.
APP_WRAPPED = ("connect", "getaddrinfo", "gethostbyname", "sendto", "sendmsg")
HOST_WARNINGS = ["-Wno-attributes", "-Wno-unknown-pragmas"]


@dataclass(frozen=True)
class Sources:
    """A located bootloader: what to compile and how."""

    src: Path  # .../apps/ota_bootloader/firmware/src
    variant: str
    files: tuple[Path, ...]
    include_dirs: tuple[Path, ...]
    defines: tuple[str, ...]
    heap_size: int
    project: Path | None  # the .X folder the options came from

    @property
    def config(self) -> Path:
        return self.src / "config" / VARIANTS[self.variant][0]


@dataclass(frozen=True)
class Instrumentation:
    """What a build adds to the user's code to check it: sanitizers (``--sanitize``), coverage (``--coverage``).

    Any native build of the user's sources (this bootloader build, an application build) takes one and
    applies :meth:`user_flags` to the user's files, :meth:`shim_flags` to otaloop's shims (which stay
    uninstrumented) and :meth:`link_flags` to the link; :meth:`record` goes into ``build.json``.
    """

    sanitize: tuple[str, ...] = ()
    coverage: bool = False

    @classmethod
    def of(cls, sanitize: str | Sequence[str] | None = None, coverage: bool = False) -> Instrumentation:
        """From the CLI's option text (or a sequence of names); CallerError for an unknown sanitizer, for
        memcheck without valgrind installed or with coverage."""
        names = sanitizers.parse_sanitize(sanitize)
        if "memcheck" in names:
            if coverage:
                raise CallerError("--sanitize memcheck does not combine with --coverage: build one of each")
            memcheck.require_valgrind()
        return cls(names, coverage)

    def user_flags(self) -> list[str]:
        return sanitizers.compile_flags(self.sanitize) + (coverage.COMPILE_FLAGS if self.coverage else [])

    def shim_flags(self) -> list[str]:
        return sanitizers.shim_defines(self.sanitize) + (coverage.SHIM_FLAGS if self.coverage else [])

    def link_flags(self) -> list[str]:
        return sanitizers.link_flags(self.sanitize) + (coverage.link_flags() if self.coverage else [])

    def record(self) -> dict[str, object]:
        return {"sanitize": list(self.sanitize), "coverage": self.coverage}


@dataclass
class BuildResult:
    directory: Path
    executable: Path
    meta: dict[str, object] = field(default_factory=dict)


def _candidates(path: Path) -> list[Path]:
    tails = [
        Path("."),
        Path("src"),
        Path("firmware/src"),
        Path("ota_bootloader/firmware/src"),
        Path("apps/ota_bootloader/firmware/src"),
    ]
    return [path / t for t in tails]


def locate(path: str | os.PathLike[str], variant: str | None = None) -> Sources:
    """Find the bootloader sources under ``path``; ``variant`` picks one when both configurations exist."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise CallerError(f"{root} is not a folder: give the Harmony apps checkout or apps/ota_bootloader/firmware/src")
    src = next(
        (c.resolve() for c in _candidates(root) if (c / "bootloader").is_dir() and (c / "config").is_dir()), None
    )
    if src is None:
        raise CallerError(
            f"{root} holds no Harmony OTA bootloader: expected apps/ota_bootloader/firmware/src with bootloader/ "
            "and config/ folders (give that folder or a folder above it)"
        )
    found = [
        v
        for v, (cfg, main, _) in VARIANTS.items()
        if (src / "config" / cfg).is_dir() and (src / "bootloader" / main).is_file()
    ]
    configs = sorted(p.name for p in (src / "config").iterdir() if p.is_dir())
    if variant is not None:
        if variant not in VARIANTS:
            raise CallerError(f"unknown variant {variant!r}: choose {' or '.join(VARIANTS)}")
        if variant not in found:
            raise CallerError(
                f"{src} has no {variant} build (config/{VARIANTS[variant][0]} with bootloader/{VARIANTS[variant][1]});"
                f" its configurations: {', '.join(configs) or 'none'}"
            )
        chosen = variant
    elif found:
        chosen = "wolfcrypt" if "wolfcrypt" in found else found[0]
    else:
        raise CallerError(
            f"{src}: no supported bootloader configuration. otaloop builds the WFI32E01 wolfcrypt build "
            "(config/pic32mz_w1_curiosity_wolfcrypt + bootloader/bootloader_wolfcrypt.c) and the TrustFlex build "
            "(config/pic32mz_w1_curiosity_trustflex + bootloader/bootloader_trusflex.c); "
            f"this tree has configurations: {', '.join(configs) or 'none'}"
        )
    cfg_name, _, project_name = VARIANTS[chosen]
    cfg = src / "config" / cfg_name
    other_mains = {m for v, (_, m, _) in VARIANTS.items() if v != chosen}
    own = sorted(
        p for p in (src / "bootloader").rglob("*.c") if p.name not in other_mains and not p.name.startswith(".")
    )
    files: list[Path] = [*own]
    if (src / "app.c").is_file():
        files.append(src / "app.c")
    missing = [f for f in CONFIG_FILES if not (cfg / f).is_file()]
    if missing:
        raise CallerError(f"{cfg} lacks {', '.join(missing)}: is this a generated Harmony configuration?")
    files += [cfg / f for f in CONFIG_FILES]
    files += [cfg / f for f in OPTIONAL_CONFIG_FILES if (cfg / f).is_file()]
    project = src.parent / project_name
    includes, defines, heap = _project_options(project, src) if project.is_dir() else (None, None, None)
    if includes is None:
        includes = [src, cfg, cfg / "system/fs/fat_fs/file_system", cfg / "system/fs/fat_fs/hardware_access"]
        if (src / "third_party/wolfssl").is_dir():
            includes += [src / "third_party/wolfssl", src / "third_party/wolfssl/wolfssl"]
    if defines is None:
        defines = ["HAVE_CONFIG_H", "WOLFSSL_IGNORE_FILE_WARN"] if chosen == "wolfcrypt" else []
    return Sources(
        src,
        chosen,
        tuple(files),
        tuple(includes),
        tuple(defines),
        heap or DEFAULT_HEAP,
        project if project.is_dir() else None,
    )


def _project_options(project: Path, src: Path) -> tuple[list[Path] | None, list[str] | None, int | None]:
    """Include folders, macros and heap size of the project's default configuration."""
    xml = project / "nbproject" / "configurations.xml"
    try:
        tree = ElementTree.parse(xml)
    except (OSError, ElementTree.ParseError):
        return None, None, None
    includes: list[Path] | None = None
    defines: list[str] | None = None
    heap: int | None = None
    for c32 in tree.iter("C32"):
        for prop in c32.iter("property"):
            key, value = prop.get("key"), prop.get("value") or ""
            if key == "extra-include-directories" and includes is None:
                includes = [(project / p).resolve() for p in value.split(";") if p.strip()]
            elif key == "preprocessor-macros" and defines is None:
                defines = [d for d in value.split(";") if d.strip()]
        break
    for ld in tree.iter("C32-LD"):
        for prop in ld.iter("property"):
            if prop.get("key") == "heap-size" and (prop.get("value") or "").isdigit():
                heap = int(prop.get("value") or "0")
        break
    return includes, defines, heap


# ------------------------------------------------------------------------------------ compiler setup
def host_compiler() -> str:
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        if shutil.which("gcc"):
            return "gcc"
        raise CallerError(f"no host C compiler: {cc!r} is not on PATH (install gcc, or set CC)")
    return cc


_PROBE = """#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <ucontext.h>
int main(void) { return (int)sizeof(void *) + (errno & 0); }
"""


def host_data_model(cc: str, work: Path) -> tuple[list[str], str, list[str]]:
    """(flags, data model, notes): -m32 when it links, with the kernel headers' asm/ folder if needed."""
    probe = work / "probe.c"
    probe.write_text(_PROBE)
    notes: list[str] = []
    for extra in ([], ["asm-fix"]):
        flags = ["-m32"]
        if extra:
            asm = Path("/usr/include") / f"{os.uname().machine}-linux-gnu" / "asm"
            if not asm.is_dir():
                break
            fix = work / "host-include"
            fix.mkdir(exist_ok=True)
            link = fix / "asm"
            if not link.exists():
                link.symlink_to(asm)
            flags += ["-idirafter", str(fix)]
        run = subprocess.run([cc, *flags, str(probe), "-o", str(work / "probe")], capture_output=True, text=True)
        if run.returncode == 0:
            if extra:
                notes.append("32-bit build uses the 64-bit kernel asm/ headers (same layout on x86)")
            return flags, "ilp32", notes
    notes.append(
        "64-bit build (LP64): the compiler cannot link 32-bit programs (Debian: install gcc-multilib, or "
        "gcc-N-multilib beside a cross compiler); pointer-sized fields and heap use differ from the 32-bit target"
    )
    return [], "lp64", notes


def stamp_of(epoch: int) -> tuple[str, str]:
    """``__DATE__`` and ``__TIME__`` as GCC prints them for ``SOURCE_DATE_EPOCH=epoch`` (UTC)."""
    t = time.gmtime(epoch)
    month = time.strftime("%b", t)
    return f"{month} {t.tm_mday:2d} {t.tm_year}", time.strftime("%H:%M:%S", t)


def _epoch(value: int | None) -> int:
    if value is not None:
        return value
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env:
        if not env.isdigit():
            raise CallerError(f"SOURCE_DATE_EPOCH must be a number of seconds, not {env!r}")
        return int(env)
    return DEFAULT_EPOCH


def _compile_all(
    cc: str,
    jobs: Sequence[tuple[Path, list[str]]],
    objdir: Path,
    env: dict[str, str],
    progress: Callable[[str], None] | None,
) -> list[Path]:
    objects: list[Path] = []
    for i, (source, flags) in enumerate(jobs):
        digest = hashlib.sha1(str(source).encode()).hexdigest()[:8]
        obj = objdir / f"{source.stem}-{digest}.o"
        if progress:
            progress(f"[{i + 1}/{len(jobs)}] {source}")
        run = subprocess.run([cc, *flags, "-c", str(source), "-o", str(obj)], capture_output=True, text=True, env=env)
        if run.returncode != 0:
            raise CallerError(f"compiling {source} failed:\n{_tail(run.stderr)}")
        objects.append(obj)
    return objects


def _tail(text: str, lines: int = 25) -> str:
    out = [line for line in text.splitlines() if line.strip()]
    return "\n".join(out[-lines:]) if out else "(no compiler output)"


def _link(
    cc: str,
    model_flags: list[str],
    objects: list[Path],
    exe: Path,
    extra: Sequence[str] = (),
    wrapped: Sequence[str] = WRAPPED,
) -> None:
    wrap = "-Wl," + ",".join(f"--wrap={name}" for name in wrapped)
    run = subprocess.run(
        [cc, *model_flags, *extra, "-o", str(exe), *map(str, objects), wrap], capture_output=True, text=True
    )
    if run.returncode != 0:
        missing = sorted(set(re.findall(r"undefined reference to [`'‘]([A-Za-z_][A-Za-z0-9_]*)", run.stderr)))
        if missing:
            raise CallerError(
                "linking failed: nothing defines " + ", ".join(missing) + ". The shim layer covers the plib calls "
                "of Harmony's OTA bootloader; give the missing ones with --extra-source FILE.c"
            )
        raise CallerError(f"linking failed:\n{_tail(run.stderr)}")


def _write_meta(directory: Path, meta: dict[str, object]) -> None:
    write_atomic(directory / BUILD_FILE, json.dumps(meta, indent=2) + "\n")


def _prepare(cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    objdir = cache / "objects"
    if objdir.exists():
        shutil.rmtree(objdir)
    objdir.mkdir()
    (cache / BUILD_FILE).unlink(missing_ok=True)
    return objdir


@dataclass
class _Toolchain:
    """What every build starts from: the cache folder, the compiler, its data model and the build date."""

    directory: Path
    objdir: Path
    cc: str
    model_flags: list[str]
    data_model: str
    notes: list[str]
    when: int

    @classmethod
    def prepare(cls, cache: str | os.PathLike[str], epoch: int | None) -> _Toolchain:
        directory = Path(cache).expanduser().resolve()
        objdir = _prepare(directory)
        cc = host_compiler()
        model_flags, data_model, notes = host_data_model(cc, objdir)
        return cls(directory, objdir, cc, model_flags, data_model, notes, _epoch(epoch))

    def flags(self, *, strict: bool) -> list[str]:
        """The flags every file of a build starts from: ``strict`` for otaloop's own example code (every
        warning an error), else a Harmony tree's (:data:`HOST_WARNINGS`, no strict aliasing)."""
        base = [*self.model_flags, "-std=gnu99", "-O1", "-g", "-fno-common"]
        return [*base, "-Wall", "-Wextra", "-Werror"] if strict else [*base, "-fno-strict-aliasing", *HOST_WARNINGS]

    def finish(
        self,
        jobs: list[tuple[Path, list[str]]],
        progress: Callable[[str], None] | None,
        meta: dict[str, object],
        checks: Instrumentation = Instrumentation(),
        *,
        executable: str = EXECUTABLE,
        wrapped: Sequence[str] = WRAPPED,
    ) -> BuildResult:
        """Compile ``jobs``, link them (with ``checks``' runtimes) and record ``meta`` with what every build records."""
        env = {**os.environ, "SOURCE_DATE_EPOCH": str(self.when)}
        objects = _compile_all(self.cc, jobs, self.objdir, env, progress)
        exe = self.directory / executable
        _link(self.cc, self.model_flags, objects, exe, checks.link_flags(), wrapped)
        meta = {
            "executable": executable,
            **meta,
            **checks.record(),
            "source_date_epoch": self.when,
            "build_stamp": list(stamp_of(self.when)),
            "data_model": self.data_model,
            "compiler": self.cc,
            "notes": self.notes,
        }
        _write_meta(self.directory, meta)
        return BuildResult(self.directory, exe, meta)


def build(
    sources: Sources,
    cache: str | os.PathLike[str],
    *,
    epoch: int | None = None,
    extra_sources: Sequence[Path] = (),
    extra_flags: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
    checks: Instrumentation = Instrumentation(),
) -> BuildResult:
    """Compile ``sources`` with the shim layer into ``cache``; returns the executable and its description.

    ``checks`` instruments the user's files (sanitizers); otaloop's shims are never instrumented.
    """
    tools = _Toolchain.prepare(cache, epoch)
    common = tools.flags(strict=False)
    harmony = [
        *common,
        "-include",
        str(SHIM_DIR / "otaloop_host.h"),
        *(f"-I{d}" for d in sources.include_dirs),
        f"-I{SHIM_DIR / 'include'}",
        f"-I{SHIM_DIR}",
        *(f"-D{d}" for d in sources.defines),
        *extra_flags,
    ]
    user = [*harmony, *checks.user_flags()]
    shim = [*common, f"-I{SHIM_DIR}", f"-DOTALOOP_HEAP_SIZE={sources.heap_size}", "-D_GNU_SOURCE", *checks.shim_flags()]
    files = [*sources.files, *(Path(x).resolve() for x in extra_sources)]
    jobs: list[tuple[Path, list[str]]] = [(f, user) for f in files]
    jobs.append((SHIM_DIR / "otaloop_sst26.c", harmony))
    jobs += [(SHIM_DIR / f, shim) for f in SHIM_FILES]
    meta: dict[str, object] = {
        "kind": "harmony",
        "variant": sources.variant,
        "remote_fs": False,
        "source": str(sources.src),
        "project": str(sources.project) if sources.project else None,
        "heap_size": sources.heap_size,
        "files": [str(f) for f in files],
    }
    return tools.finish(jobs, progress, meta, checks)


def build_example(
    cache: str | os.PathLike[str],
    *,
    epoch: int | None = None,
    defines: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
    checks: Instrumentation = Instrumentation(),
) -> BuildResult:
    """Build otaloop's example bootloader (C, Harmony API names, SYS_FS answered by the board)."""
    tools = _Toolchain.prepare(cache, epoch)
    common = tools.flags(strict=True)
    example = [
        *common,
        "-include",
        str(SHIM_DIR / "otaloop_host.h"),
        f"-I{EXAMPLE_DIR}",
        f"-I{SHIM_DIR / 'include'}",
        f"-I{SHIM_DIR}",
        *(f"-D{d}" for d in defines),
    ]
    shim = [*common, f"-I{SHIM_DIR}", f"-DOTALOOP_HEAP_SIZE={DEFAULT_HEAP}", "-D_GNU_SOURCE", *checks.shim_flags()]
    user = [*example, *checks.user_flags()]
    jobs: list[tuple[Path, list[str]]] = [(f, user) for f in sorted(EXAMPLE_DIR.glob("*.c"))]
    jobs.append((SHIM_DIR / "otaloop_sys_fs_remote.c", example))
    jobs += [(SHIM_DIR / f, shim) for f in SHIM_FILES]
    meta: dict[str, object] = {
        "kind": "example",
        "variant": "wolfcrypt",
        "remote_fs": True,
        "source": str(EXAMPLE_DIR),
        "heap_size": DEFAULT_HEAP,
        "defines": list(defines),
    }
    return tools.finish(jobs, progress, meta, checks)


def build_example_application(
    cache: str | os.PathLike[str],
    *,
    epoch: int | None = None,
    defines: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
    checks: Instrumentation = Instrumentation(),
) -> BuildResult:
    """Build otaloop's example application (C, Harmony API names: app.c's SWITCH1 trigger, app_ota.c's
    callback, a small OTA service over real sockets, SYS_FS answered by the board).

    Args:
        cache: the output folder (made if missing; its previous build is replaced).
        epoch: ``SOURCE_DATE_EPOCH`` for ``__DATE__``/``__TIME__`` (default: the environment's, else the
            model's banner date).
        defines: extra macros, e.g. ``APP_SWITCH_MESSAGE=SYS_OTA_TRIGGER_FACTORY_RESET``.
        progress: called with one line per compiled file.
        checks: sanitizers and coverage for the example's own files (``example_app/*.c``); the shims and
            the shared SHA-256 stay uninstrumented.

    Returns:
        The executable and what ``build.json`` records (role ``application``).

    Raises:
        CallerError: no C compiler, or the sources do not compile or link.
    """
    tools = _Toolchain.prepare(cache, epoch)
    common = tools.flags(strict=True)
    app = [
        *common,
        "-include",
        str(SHIM_DIR / "otaloop_host.h"),
        f"-I{EXAMPLE_APP_DIR}",
        f"-I{EXAMPLE_DIR}",
        f"-I{SHIM_DIR / 'include'}",
        f"-I{SHIM_DIR}",
        "-D_GNU_SOURCE",
        *(f"-D{d}" for d in defines),
    ]
    shim = [*common, f"-I{SHIM_DIR}", f"-I{SHIM_DIR / 'include'}", "-D_GNU_SOURCE", *checks.shim_flags()]
    user = [*app, *checks.user_flags()]
    jobs: list[tuple[Path, list[str]]] = [(f, user) for f in sorted(EXAMPLE_APP_DIR.glob("*.c"))]
    jobs.append((EXAMPLE_DIR / "example_sha256.c", app))
    jobs.append((SHIM_DIR / "otaloop_sys_fs_remote.c", app))
    jobs += [(SHIM_DIR / f, shim) for f in APP_SHIM_FILES]
    meta: dict[str, object] = {
        "role": "application",
        "kind": "example",
        "variant": "example",
        "remote_fs": True,
        "source": str(EXAMPLE_APP_DIR),
        "defines": list(defines),
    }
    return tools.finish(jobs, progress, meta, checks, executable=APP_EXECUTABLE, wrapped=APP_WRAPPED)


#: The one application configuration otaloop builds: Harmony's wifi_ota_app_upgrade for the WFI32E Curiosity.
APP_CONFIG = "pic32mz_w1_curiosity_freertos"
#: The shims of a Harmony application build, on top of APP_SHIM_FILES: the SST26 driver on the flash model,
#: OSAL/NET_PRES/DNS/RTCC/console and friends, and the names initialization.c only takes the address of.
HARMONY_APP_SHIMS = ("otaloop_sst26.c", "otaloop_harmony_app.c")


@dataclass(frozen=True)
class AppSources:
    """A located Harmony OTA application: what to compile and how."""

    src: Path  # .../apps/wifi_ota_app_upgrade/firmware/src
    files: tuple[Path, ...]
    include_dirs: tuple[Path, ...]
    defines: tuple[str, ...]
    project: Path | None

    @property
    def config(self) -> Path:
        return self.src / "config" / APP_CONFIG


def locate_application(path: str | os.PathLike[str]) -> AppSources:
    """Find Harmony's OTA application (``wifi_ota_app_upgrade``) under ``path``.

    Args:
        path: the application's ``firmware/src`` folder, any folder above it, or the apps checkout.

    Returns:
        Its sources: ``app.c`` and the other files of ``src``, the configuration's ``initialization.c``, the OTA
        service (``system/ota``) and SYS_FS, FatFs and DRV_MEMORY, with the project's include folders.

    Raises:
        CallerError: no application there, or one without the ``pic32mz_w1_curiosity_freertos`` configuration
            (the message lists the configurations found).
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise CallerError(
            f"{root} is not a folder: give the Harmony apps checkout or wifi_ota_app_upgrade/firmware/src"
        )
    tails = (".", "src", "firmware/src", "wifi_ota_app_upgrade/firmware/src", "apps/wifi_ota_app_upgrade/firmware/src")
    src = next(
        (
            (root / t).resolve()
            for t in tails
            if (root / t / "app.c").is_file()
            and (root / t / "config").is_dir()
            and not (root / t / "bootloader").is_dir()
        ),
        None,
    )
    if src is None:
        raise CallerError(
            f"{root} holds no Harmony OTA application: expected apps/wifi_ota_app_upgrade/firmware/src with app.c "
            "and config/ (give that folder or a folder above it)"
        )
    configs = sorted(p.name for p in (src / "config").iterdir() if p.is_dir())
    cfg = src / "config" / APP_CONFIG
    if APP_CONFIG not in configs:
        raise CallerError(
            f"{src}: otaloop builds the configuration {APP_CONFIG} only; this tree has: {', '.join(configs) or 'none'}"
        )
    ota = cfg / "system" / "ota"
    if not (ota / "sys_ota.c").is_file():
        raise CallerError(f"{cfg} has no system/ota/sys_ota.c: is the OTA system service in this configuration?")
    missing = [f for f in CONFIG_FILES if f not in ("initialization.c", "tasks.c") and not (cfg / f).is_file()]
    if missing:
        raise CallerError(f"{cfg} lacks {', '.join(missing)}: is this a generated Harmony configuration?")
    files = [p for p in sorted(src.glob("*.c")) if p.name != "main.c"]
    files.append(cfg / "initialization.c")
    files.append(ota / "sys_ota.c")
    files += sorted(p for p in (ota / "framework").rglob("*.c") if not p.name.startswith("."))
    files += [cfg / f for f in CONFIG_FILES if f not in ("initialization.c", "tasks.c")]
    for optional in ("system/command/src/sys_command.c", "system/reset/sys_reset.c"):
        if (cfg / optional).is_file():
            files.append(cfg / optional)  # SYS_COMMAND on the console, its `reset` command
    project = src.parent / "wifi_ota_app_upgrade.X"
    includes, defines, _heap = _project_options(project, src) if project.is_dir() else (None, None, None)
    if includes is None:
        includes = [
            src,
            cfg,
            cfg / "driver/wifi/pic32mzw1/include",
            cfg / "library",
            cfg / "library/tcpip/src",
            cfg / "library/tcpip/src/common",
            cfg / "system/fs/fat_fs/file_system",
            cfg / "system/fs/fat_fs/hardware_access",
            src / "third_party/rtos/FreeRTOS/Source/include",
            src / "third_party/rtos/FreeRTOS/Source/portable/MPLAB/PIC32MZ",
            src / "third_party/wolfssl",
            src / "third_party/wolfssl/wolfssl",
        ]
    includes.append(ota / "framework" / "cjson")
    defines = [*(defines or []), "HAVE_CONFIG_H", "WOLFSSL_IGNORE_FILE_WARN"]
    return AppSources(src, tuple(files), tuple(includes), tuple(defines), project if project.is_dir() else None)


def build_application(
    sources: AppSources,
    cache: str | os.PathLike[str],
    *,
    epoch: int | None = None,
    extra_sources: Sequence[Path] = (),
    extra_flags: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
    checks: Instrumentation = Instrumentation(),
) -> BuildResult:
    """Compile Harmony's OTA application with the application shims into ``cache``.

    Args:
        sources: from :func:`locate_application`.
        cache: the output folder (its previous build is replaced).
        epoch: ``SOURCE_DATE_EPOCH`` for ``__DATE__``/``__TIME__``.
        extra_sources: more C files (your own stubs), compiled with the application's flags.
        extra_flags: more compiler flags (``-DNAME=VALUE``).
        progress: called with one line per compiled file.
        checks: sanitizers and coverage for the application's files and ``extra_sources``; otaloop's shims
            stay uninstrumented.

    Returns:
        The executable and what ``build.json`` records (role ``application``, kind ``harmony``).

    Raises:
        CallerError: no C compiler, a file that does not compile, or names nothing defines at link time.
    """
    tools = _Toolchain.prepare(cache, epoch)
    fix = tools.objdir / "case-fix"  # cjson.c includes "cJSON.h"; the file is cjson.h (Windows folds case)
    fix.mkdir(exist_ok=True)
    cjson_h = sources.config / "system/ota/framework/cjson/cjson.h"
    if cjson_h.is_file() and not (fix / "cJSON.h").exists():
        # An include of the tree's file, not a link to it: the compiler (and a coverage report) names the
        # header by its place in the user's tree.
        (fix / "cJSON.h").write_text(f'#include "{cjson_h}"\n')
    common = tools.flags(strict=False)
    harmony = [
        *common,
        "-include",
        str(SHIM_DIR / "otaloop_host.h"),
        "-include",
        str(SHIM_DIR / "otaloop_harmony_config.h"),  # SYS_OTA_APP_VER_NUM: the running image's version
        *(f"-I{d}" for d in sources.include_dirs),
        f"-I{SHIM_DIR / 'include'}",
        f"-I{SHIM_DIR}",
        "-idirafter",
        str(fix),
        *(f"-D{d}" for d in sources.defines),
        "-D_GNU_SOURCE",
        *extra_flags,
    ]
    shim = [
        *common,
        f"-I{SHIM_DIR}",
        f"-I{SHIM_DIR / 'include'}",
        "-D_GNU_SOURCE",
        "-DOTALOOP_APP_FLASH_VIEWS",
        "-DOTALOOP_HARMONY_APP",
        *checks.shim_flags(),
    ]
    user = [*harmony, *checks.user_flags()]
    files = [*sources.files, *(Path(x).resolve() for x in extra_sources)]
    jobs: list[tuple[Path, list[str]]] = [(f, user) for f in files]
    # the OSAL shim marks new heap blocks undefined for memcheck, as the bootloader's heap shim does
    marked = ["-DOTALOOP_MEMCHECK=1"] if "memcheck" in checks.sanitize else []
    jobs += [(SHIM_DIR / f, [*harmony, *marked]) for f in HARMONY_APP_SHIMS]
    jobs.append((SHIM_DIR / "otaloop_harmony_links.c", common))
    jobs += [(SHIM_DIR / f, shim) for f in APP_SHIM_FILES]
    meta: dict[str, object] = {
        "role": "application",
        "kind": "harmony",
        "variant": APP_CONFIG,
        "remote_fs": False,
        "source": str(sources.src),
        "project": str(sources.project) if sources.project else None,
        "files": [str(f) for f in files],
    }
    return tools.finish(jobs, progress, meta, checks, executable=APP_EXECUTABLE, wrapped=APP_WRAPPED)


def default_cache() -> Path:
    """Where builds go when no --cache is given: $XDG_CACHE_HOME/otaloop/native (or ~/.cache/...)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "otaloop" / "native"


def scratch_cache() -> Path:
    """A fresh temporary cache folder (tests and one-off comparisons)."""
    return Path(tempfile.mkdtemp(prefix="otaloop-native-"))
