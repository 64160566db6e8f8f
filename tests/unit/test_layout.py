"""The package's shape holds: no import cycle, small modules, domain code on the public API only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import data_mesh

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "plugins" / "data_mesh"
MAX_LINES = 450


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_time_imports(path: Path, name: str, known: set[str]) -> set[str]:
    """data_mesh modules imported when `name` is imported (module level, not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    body = list(tree.body)
    while body:
        node = body.pop(0)
        if isinstance(node, ast.If) and not _is_type_checking(node):
            body += node.body + node.orelse
        elif isinstance(node, ast.Try):
            body += node.body
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    found.add(f"{base}.{alias.name}")
                elif base in known:
                    found.add(base)
    found.discard(name)
    return found


def test_no_import_cycle() -> None:
    modules = _modules()
    graph = {name: _import_time_imports(path, name, set(modules)) for name, path in modules.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_cycle_check_finds_a_cycle(tmp_path: Path) -> None:
    """The checker itself can fail: two modules importing each other are reported."""
    (tmp_path / "a.py").write_text("from data_mesh import b\n")
    known = {"data_mesh", "data_mesh.a", "data_mesh.b"}
    assert _import_time_imports(tmp_path / "a.py", "data_mesh.a", known) == {"data_mesh.b"}


@pytest.mark.parametrize("name", sorted(_modules()))
def test_modules_stay_small(name: str) -> None:
    lines = len(_modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by concept (limit {MAX_LINES})"


def _data_mesh_imports(path: Path) -> list[tuple[str, list[str]]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("data_mesh"):
            out.append((node.module or "", [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.startswith("data_mesh")]
    return out


@pytest.mark.parametrize(
    "path", sorted([*REPO.glob("domains/**/*.py"), *REPO.glob("dags/*.py")]), ids=lambda p: p.name
)
def test_domain_code_uses_only_the_public_api(path: Path) -> None:
    for module, names in _data_mesh_imports(path):
        assert module == "data_mesh", f"{path.name} imports {module}; import from data_mesh only"
        public = set(data_mesh.__all__)
        assert set(names) <= public, f"{path.name} imports {names}; public: {sorted(public)}"


def test_public_api_resolves() -> None:
    for name in data_mesh.__all__:
        assert getattr(data_mesh, name) is not None
    with pytest.raises(AttributeError):
        data_mesh.not_a_thing  # noqa: B018
