"""The core's layers are one-way, and its own protocols use only its public surface.

Read from the source with ``ast``, so a new import that points back up, a new import
inside a function, or HTTP/WebSocket code reaching into a connection's private state
fails here, with the line that does it.

Layers, bottom up (a module imports only from its own layer or below):

0. base: errors, counters, reporting callback errors, connection states;
1. the event loop and its drivers, timers;
2. protocol contracts (Codec, StreamProtocol), the built-in codecs and the registry;
3. connections (TCP, outgoing, UDP) and the per-message hot path;
4. protocol implementations: HTTP and WebSocket, on the public surface only;
5. workers;
6. supervisor, command line, status, the pytest plugin, and the package's facade.

Names imported from the facade (``from workerman.core import X``) count as imports of the
module that defines ``X``. Imports under ``if TYPE_CHECKING:`` are for the type checker
only and are not counted.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

import workerman.core
from workerman.core import AsyncTcpConnection, EventLoop, TcpConnection, Worker
from workerman.core._asyncio_loop import AsyncioLoop
from workerman.core._trio_loop import TrioLoop

ROOT = Path(workerman.core.__file__).parent

LAYERS: list[tuple[str, set[str]]] = [
    (
        "base",
        {"_exceptions", "_statistics", "_callbacks", "_status_codes", "_extensions", "compiled"},
    ),
    ("loop", {"_loop", "_timer", "_asyncio_loop", "_trio_loop", "_trio_transport"}),
    (
        "contracts",
        {
            "_stream",
            "protocols",
            "protocols._codec",
            "protocols._text",
            "protocols._frame",
            "protocols._registry",
        },
    ),
    ("connections", {"_connection", "_async_connection", "_udp", "_parsing", "_address"}),
    ("protocols", {"http", "websocket"}),  # and every module inside them
    ("workers", {"_worker", "_bind"}),
    (
        "supervisor",
        {
            "_supervisor",
            "_cli",
            "_process",
            "_status",
            "_runtime",
            "_pytest_plugin",
            "__main__",
            "",
        },
    ),
]

# Imports inside functions that are allowed: the driver chosen at run time, and
# optional extras probed when used.
LATE_IMPORTS = {
    ("_loop", "._asyncio_loop"),
    ("_loop", "._trio_loop"),
    ("_asyncio_loop", "uvloop"),
    ("_runtime", "setproctitle"),
    ("http._head", "._scan"),  # the compiled build's C kernels, where the build has them
    ("http._cookies", "._scan"),
    ("websocket._frames", "._mask"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    for index, (_, members) in enumerate(LAYERS):
        top = module.partition(".")[0]
        if module in members or top in members & {"http", "websocket"}:
            return index
    raise AssertionError(f"module {module!r} has no layer in {__name__}.LAYERS")


def sources() -> Iterator[tuple[str, Path, ast.Module]]:
    for path in sorted(ROOT.rglob("*.py")):
        yield module_name(path), path, ast.parse(path.read_text(), str(path))


def _type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def runtime_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that runs, at module level or in a function."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skipped:
            yield node


def targets(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The core modules an import statement uses ("" for the facade's own names)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.startswith("workerman.core"):
                yield alias.name.removeprefix("workerman.core").lstrip(".")
        return
    if node.level:
        parts = module.split(".") if module else []
        package = parts if (ROOT.joinpath(*parts)).is_dir() else parts[:-1]
        base = package[: len(package) - (node.level - 1)]
        name = ".".join([*base, node.module] if node.module else base)
    elif node.module and node.module.startswith("workerman.core"):
        name = node.module.removeprefix("workerman.core").lstrip(".")
    else:
        return
    if name == "":  # the facade: each name counts as the module that defines it
        for alias in node.names:
            yield FACADE[alias.name]
        return
    yield name


def _facade() -> dict[str, str]:
    """Where each name the facade re-exports is defined, from its ``from ._x import``."""
    tree = ast.parse((ROOT / "__init__.py").read_text())
    return {
        alias.asname or alias.name: node.module or ""
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names
    }


FACADE = _facade()


def test_every_module_has_a_layer() -> None:
    for module, _, _ in sources():
        layer_of(module)


def test_no_import_points_back_up() -> None:
    wrong = []
    for module, path, tree in sources():
        mine = layer_of(module)
        for node in runtime_imports(tree):
            for target in targets(module, node):
                theirs = layer_of(target)
                if theirs > mine:
                    wrong.append(
                        f"{path.name}:{node.lineno} {module} ({LAYERS[mine][0]}) imports "
                        f"{target} ({LAYERS[theirs][0]})"
                    )
    assert wrong == []


def test_imports_inside_functions_only_choose_drivers_and_extras() -> None:
    wrong = []
    for module, path, tree in sources():
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    names = (
                        [alias.name for alias in node.names]
                        if isinstance(node, ast.Import)
                        else ["." * node.level + (node.module or "")]
                    )
                    wrong += [
                        f"{path.name}:{node.lineno} {function.name}: {name}"
                        for name in names
                        if (module, name) not in LATE_IMPORTS
                    ]
    assert wrong == []


def _private_names(*classes: type) -> set[str]:
    names: set[str] = set()
    for cls in classes:
        for klass in inspect.getmro(cls):
            if klass.__module__.startswith("workerman.core"):
                names.update(vars(klass))
                names.update(getattr(klass, "__slots__", ()))
        names.update(vars(Worker("")) if cls is Worker else ())
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


# What the protocols call connections, workers and loops they are handed.
RECEIVERS = {
    "conn",
    "connection",
    "self.conn",
    "self.connection",
    "state.connection",
    "worker",
    "conn.worker",
    "connection.worker",
    "loop",
}


# The facades a built-in protocol may import from. WebSocket's opening handshake is an HTTP
# request, so it shares HTTP's head parser and error answers (and the connection sweeps of
# heartbeat and idle deadline): the same layer, one package.
PUBLIC_MODULES = {
    "http": {"workerman.core", "workerman.core.protocols"},
    "websocket": {
        "workerman.core",
        "workerman.core.protocols",
        "workerman.core.http",
        "workerman.core.http._head",
        "workerman.core.http._machine",
        "workerman.core.http._protocol",
        "workerman.core.http._sweep",
    },
}


@pytest.mark.parametrize("package", ["http", "websocket"])
def test_the_builtin_protocols_use_only_public_names_of_the_core(package: str) -> None:
    private = _private_names(TcpConnection, AsyncTcpConnection, Worker, AsyncioLoop, TrioLoop)
    private |= _private_names(EventLoop)
    wrong = []
    for module, path, tree in sources():
        if module.split(".")[0] != package:
            continue
        for node in runtime_imports(tree):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if not node.level
                else []
            )
            wrong += [
                f"{path.name}:{node.lineno} imports {name}"
                for name in names
                if name.startswith("workerman.core") and name not in PUBLIC_MODULES[package]
            ]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level > 1:
                wrong.append(f"{path.name}:{node.lineno} imports the core by a relative path")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in private
                and ast.unparse(node.value) in RECEIVERS
            ):
                wrong.append(f"{path.name}:{node.lineno} uses {ast.unparse(node)}")
    assert wrong == []


def test_the_private_name_check_would_see_a_private_use() -> None:
    """The check above is not vacuous: the names it looks for are the ones the protocols
    used before they moved onto the published seam."""
    private = _private_names(TcpConnection, Worker)
    assert {"_pstate", "_recv", "_want", "_batch", "_transport", "_status"} <= private
    assert "_codec" in private
    code = ast.parse("conn._recv = None")
    used = [n for n in ast.walk(code) if isinstance(n, ast.Attribute)]
    assert used[0].attr in private and ast.unparse(used[0].value) in RECEIVERS
