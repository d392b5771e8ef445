"""The folder tree is the architecture: imports go one way, no module imports one that imports it back,
and every module says what it is for.

The import graph is read with :mod:`ast` from the source, so an import inside a function or under
``TYPE_CHECKING`` counts as much as one at the top.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bootloader_model", "harness")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every project module ``name`` imports, directly, by any form of import statement."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            for alias in node.names:
                full = f"{module}.{alias.name}"
                targets.add(full if full in MODULES else module)
        elif isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
    return {t for t in targets if t in MODULES and t != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycle() -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(GRAPH):
        if module not in state and (found := visit(module)):
            return found
    return None


def test_the_graph_was_read() -> None:
    # Guards the checks below against passing on an empty graph.
    assert "bootloader_model.board.virtual_board" in GRAPH
    assert "bootloader_model.service.ota_service" in GRAPH["bootloader_model.board.virtual_board"]


def test_no_module_imports_one_that_imports_it_back() -> None:
    assert _cycle() is None, " -> ".join(_cycle() or [])


def test_the_cycle_check_finds_a_cycle() -> None:
    GRAPH["bootloader_model.errors"].add("bootloader_model.quirks")  # quirks imports errors
    try:
        assert _cycle() is not None
    finally:
        GRAPH["bootloader_model.errors"].discard("bootloader_model.quirks")


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("bootloader_model")))
def test_the_device_side_never_imports_the_host_side(module: str) -> None:
    path = MODULES[module]
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
    assert not roots & {"harness", "pytest", "hypothesis", "serial"}, module


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_says_what_it_is_for(module: str) -> None:
    doc = ast.get_docstring(ast.parse(MODULES[module].read_text()))
    assert doc and len(doc.split()) >= 5, f"{module} has no docstring that says its role"


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _resolves(dotted: str) -> bool:
    """True if ``dotted`` names a project module, or an attribute (class, function, constant) of one."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        if module in MODULES:
            obj: object = importlib.import_module(module)
            for attribute in parts[cut:]:
                if not hasattr(obj, attribute):
                    return False
                obj = getattr(obj, attribute)
            return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_module_path_in_the_docs_exists(doc: Path) -> None:
    import re

    text = doc.read_text()
    dotted = set(re.findall(r"\b(?:bootloader_model|harness)(?:\.[A-Za-z_]\w*)+", text))
    paths = set(re.findall(r"\b(?:bootloader_model|harness)(?:/[\w.]+)+/?", text))
    assert not sorted(name for name in dotted if not _resolves(name.rstrip(".")))
    assert not sorted(path for path in paths if not (ROOT / path.rstrip(".")).exists())


def test_the_architecture_page_names_every_module() -> None:
    import re

    page = (ROOT / "docs" / "architecture.md").read_text()
    words = set(re.findall(r"[a-z_0-9]+", page))
    missing = sorted(
        name for name, path in MODULES.items() if path.name != "__init__.py" and name.rsplit(".", 1)[-1] not in words
    )
    missing = [m for m in missing if not m.endswith("__main__")]
    assert not missing, f"docs/architecture.md does not name: {missing}"


# The device side models a board; running host processes is the host's job (harness.native hands the board
# a native program through BootProgram). These are the modules and os functions that start processes, make
# pipes or map shared memory.
HOST_MACHINERY_MODULES = {"subprocess", "multiprocessing", "mmap", "concurrent", "pty", "signal", "shutil"}
HOST_MACHINERY_OS = {"memfd_create", "pipe", "pipe2", "fork", "forkpty", "kill", "popen", "posix_spawn", "system"}


def _host_machinery(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in HOST_MACHINERY_MODULES]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            if node.module.split(".")[0] in HOST_MACHINERY_MODULES:
                found.append(node.module)
            if node.module == "os":
                found += [f"os.{a.name}" for a in node.names if a.name in HOST_MACHINERY_OS]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and (node.attr in HOST_MACHINERY_OS or node.attr.startswith(("exec", "spawn")))
        ):
            found.append(f"os.{node.attr}")
    return found


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("bootloader_model")))
def test_the_device_side_starts_no_process_and_maps_no_shared_memory(module: str) -> None:
    assert not _host_machinery(MODULES[module]), module


def test_the_host_machinery_check_finds_it(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import subprocess\nimport os\nfd = os.memfd_create('x')\nfrom os import pipe\n")
    assert _host_machinery(sample) == ["subprocess", "os.pipe", "os.memfd_create"]


# ------------------------------------------------------------------------------ names spelled in one place
#: Text that names a shared choice, and the one module that spells it (as a named constant): the default
#: quirk profile (``bootloader_model.quirks.HARMONY_NAME``) and the model bootloader
#: (``bootloader_model.bootloader.program.MODEL``).
SHARED_NAMES = {"harmony-3.9.1": "bootloader_model/quirks.py", "model": "bootloader_model/bootloader/program.py"}
#: Spellings kept on purpose: the plugin's options repeat MODEL so that loading the plugin does not import
#: the bootloader model (tests/test_pytest_plugin.py checks they agree); a differential run labels its two
#: sides "model" and "native", which is a report heading, not a bootloader choice.
KEPT_SPELLINGS = {("model", "harness/pytest_plugin/options.py"), ("model", "harness/native/compare.py")}
CODE_ROOTS = ("bootloader_model", "harness", "benchmarks", "examples")


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _code_files() -> list[Path]:
    return [path for root in CODE_ROOTS for path in sorted((ROOT / root).rglob("*.py"))]


def _spelled(path: Path, texts: set[str]) -> list[str]:
    """Where a string constant in ``path`` (docstrings aside) is one of ``texts``, as ``text@line``."""
    tree = ast.parse(path.read_text(), str(path))
    docs = _docstring_nodes(tree)
    return [
        f"{node.value}@{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in texts and id(node) not in docs
    ]


def test_shared_names_are_spelled_only_where_they_are_defined() -> None:
    stray = []
    for path in _code_files():
        rel = path.relative_to(ROOT).as_posix()
        for hit in _spelled(path, set(SHARED_NAMES)):
            text = hit.rsplit("@", 1)[0]
            if SHARED_NAMES[text] != rel and (text, rel) not in KEPT_SPELLINGS:
                stray.append(f"{rel}: {hit}")
    assert not stray, "use bootloader_model.quirks.HARMONY_NAME / bootloader_model.bootloader.program.MODEL"
    for text, home in SHARED_NAMES.items():  # the homes really define them (guards an empty scan)
        assert _spelled(ROOT / home, {text}), home


def test_the_behaviour_names_have_one_table() -> None:
    # A dict literal of Behaviour members anywhere but beside Behaviour is a second copy that can drift.
    home = "bootloader_model/formats/app_descriptor.py"
    tables = []
    for path in _code_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Dict) and any(
                isinstance(v, ast.Attribute) and isinstance(v.value, ast.Name) and v.value.id == "Behaviour"
                for v in node.values
            ):
                tables.append(path.relative_to(ROOT).as_posix())
    assert tables == [home]


# ------------------------------------------------------------------------ the public actions are documented
def _documented_classes() -> list[type]:
    from bootloader_model.board.virtual_board import VirtualBoard
    from harness.board_link.driver import BoardDriver
    from harness.image.server import ImageServer
    from harness.scenarios.virtual_hooks import VirtualHooks

    return [VirtualBoard, ImageServer, BoardDriver, VirtualHooks]


def _section(doc: str, title: str) -> str | None:
    """The lines of a Google-style ``title:`` section (up to the next section or the end), or None."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == f"{title}:":
            indent = len(line) - len(line.lstrip())
            body = []
            for following in lines[i + 1 :]:
                if following.strip() and len(following) - len(following.lstrip()) <= indent:
                    break
                body.append(following)
            return "\n".join(body)
    return None


def _doc_gaps(cls: type) -> list[str]:
    """Public methods of ``cls`` whose docstring lacks ``Args:`` (naming every parameter) or ``Returns:``."""
    gaps = []
    for name, attr in vars(cls).items():
        if name.startswith("_") and name != "__init__":
            continue
        fn = attr.__func__ if isinstance(attr, (staticmethod, classmethod)) else attr
        if not inspect.isfunction(fn):
            continue  # properties and data: documented as attributes
        signature = inspect.signature(fn)
        params = list(signature.parameters)[0 if isinstance(attr, staticmethod) else 1 :]
        doc = inspect.cleandoc(fn.__doc__ or "")
        if name == "__init__" and _section(doc, "Args") is None:
            doc = inspect.cleandoc(cls.__doc__ or "")  # the constructor's arguments may be on the class
        where = f"{cls.__name__}.{name}"
        if params:
            args = _section(doc, "Args")
            if args is None:
                gaps.append(f"{where}: no Args section")
            else:
                gaps += [
                    f"{where}: Args misses {p}" for p in params if not re.search(rf"^\s*{p}( \(.*\))?:", args, re.M)
                ]
        returns = signature.return_annotation
        if (
            name != "__init__"
            and returns not in ("None", None, inspect.Signature.empty)
            and _section(doc, "Returns") is None
        ):
            gaps.append(f"{where}: returns {returns} but has no Returns section")
    return gaps


@pytest.mark.parametrize("cls", _documented_classes(), ids=lambda cls: cls.__name__)
def test_public_actions_say_their_arguments_and_results(cls: type) -> None:
    assert _doc_gaps(cls) == []


def test_the_docstring_check_finds_gaps() -> None:
    class Sample:
        def __init__(self, size: int) -> None:
            """Make one."""

        def run(self, seconds: float, *, speed: float = 1.0) -> bool:
            """Run.

            Args:
                seconds: virtual seconds.
            """
            return True

        def fine(self, n: int) -> int:
            """Fine.

            Args:
                n (int): a number.

            Returns:
                ``n``.
            """
            return n

        @staticmethod
        def make(name: str) -> str:
            """Make."""
            return name

        def _private(self, x: int) -> int:
            return x

    assert _doc_gaps(Sample) == [
        "Sample.__init__: no Args section",
        "Sample.run: Args misses speed",
        "Sample.run: returns bool but has no Returns section",
        "Sample.make: no Args section",
        "Sample.make: returns str but has no Returns section",
    ]


def _private_imports(path: Path) -> list[str]:
    """Names starting with one underscore that ``path`` imports from another project module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in (*PACKAGES, "benchmarks"):
            found += [f"{node.module}.{a.name}" for a in node.names if a.name.startswith("_") and a.name[:2] != "__"]
    return found


SOURCES = sorted([*MODULES.values(), *(ROOT / "benchmarks").glob("*.py"), *(ROOT / "examples").glob("*.py")], key=str)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_another_modules_private_name(path: Path) -> None:
    assert not _private_imports(path), path


def test_the_private_import_check_finds_one(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from harness.sweeps.update import MODES, _Cursor\nfrom __future__ import annotations\n")
    assert _private_imports(sample) == ["harness.sweeps.update._Cursor"]
