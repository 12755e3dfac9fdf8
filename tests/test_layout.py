"""The layering rules of docs/architecture.md, checked on the source with ``ast`` (nothing is imported):

- no private name (``_name``) of one module is used by another, neither imported
  (``from api.accounts.store import _chunks``) nor reached through an imported module
  (``store._chunks(...)``);
- ``config/`` is a leaf: it imports neither ``matcher/`` nor ``api/``;
- ``matcher/`` is the pure core: no ``api/``, no web framework, database or cache client;
- stores, services and the ledger reader never commit, roll back or open a transaction: the
  request (``api.deps.get_session``), the command (``api.db.session_scope``) or the bulk recompute
  owns it (api/db/engine.py);
- no import cycles between modules. Every import counts, wherever it is written: at the top,
  inside a function (an import moved into a function to break a cycle still is one) or under
  ``if TYPE_CHECKING:`` (the dependency is there, only its execution is put off).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("api", "config", "matcher")
# what the pure core must not depend on: the edges, and I/O and web libraries
CORE_FORBIDDEN = ("api", "fastapi", "starlette", "sqlalchemy", "psycopg", "redis", "httpx", "uvicorn")


@dataclass(frozen=True)
class Use:
    """Module ``source`` uses ``target`` (a module of ours or any dotted name) at ``line``; ``name``
    is the name taken from it, if any."""

    source: str
    target: str
    line: int
    name: str | None = None

    def where(self) -> str:
        return f"{MODULES[self.source].relative_to(REPO)}:{self.line}"


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def _uses(module: str) -> tuple[list[Use], list[Use]]:
    """(imports, private attributes reached through an imported module of ours)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    imports: list[Use] = []
    bound: dict[str, str] = {}  # local name -> module of ours it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                imports.append(Use(module, alias.name, node.lineno))
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    bound[top] = top
        elif isinstance(node, ast.ImportFrom):
            origin = _absolute(module, node)
            for alias in node.names:
                sub = f"{origin}.{alias.name}"
                if sub in MODULES:  # ``from api.qualification import store``: the module itself
                    imports.append(Use(module, sub, node.lineno))
                    bound[alias.asname or alias.name] = sub
                else:
                    imports.append(Use(module, origin, node.lineno, alias.name))
    reached: list[Use] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = _dotted(node.value)
            if owner is None or owner.split(".")[0] not in bound:
                continue
            head, _, rest = owner.partition(".")
            target = bound[head] + (f".{rest}" if rest else "")
            if target in MODULES and target != module:
                reached.append(Use(module, target, node.lineno, node.attr))
    return imports, reached


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _ours(target: str) -> bool:
    return target.split(".")[0] in PACKAGES


USES = {m: _uses(m) for m in MODULES}


def _within(package: str) -> list[Use]:
    return [u for m, (imports, _) in USES.items() if m.split(".")[0] == package for u in imports]


def test_no_private_name_is_used_across_modules() -> None:
    found = [f"{u.where()}: {u.target}.{u.name}" for imports, reached in USES.values()
             for u in [*imports, *reached]
             if u.name and _private(u.name) and _ours(u.target) and u.target != u.source]
    assert not found, "private names used outside their module:\n" + "\n".join(found)


def test_config_is_a_leaf() -> None:
    found = [f"{u.where()}: imports {u.target}" for u in _within("config")
             if u.target.split(".")[0] in ("api", "matcher")]
    assert not found, "\n".join(found)


def test_the_core_does_no_io() -> None:
    found = [f"{u.where()}: imports {u.target}" for u in _within("matcher")
             if u.target.split(".")[0] in CORE_FORBIDDEN]
    assert not found, "\n".join(found)


# modules that work in a transaction someone else opened
TRANSACTION_USERS = ("store", "service", "ledger_reader")
TRANSACTION_CALLS = ("commit", "rollback", "begin", "begin_nested", "session_scope")


def test_stores_and_services_never_own_a_transaction() -> None:
    found = []
    for module, path in MODULES.items():
        if module.split(".")[-1] not in TRANSACTION_USERS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                if name in TRANSACTION_CALLS:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {name}()")
    assert not found, "transactions are their caller's:\n" + "\n".join(found)


def _graph() -> dict[str, dict[str, Use]]:
    """module -> {module of ours it imports: the first such import}."""
    graph: dict[str, dict[str, Use]] = {m: {} for m in MODULES}
    for m, (imports, _) in USES.items():
        for u in imports:
            if u.target in MODULES and u.target != m:
                graph[m].setdefault(u.target, u)
    return graph


def _cycles(graph: dict[str, dict[str, Use]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    graph = _graph()
    found = []
    for component in _cycles(graph):
        members = set(component)
        edges = [f"  {u.where()}: {u.source} -> {u.target}" for m in component for t, u in sorted(graph[m].items())
                 if t in members]
        found.append(" <-> ".join(component) + "\n" + "\n".join(edges))
    assert not found, "import cycles:\n" + "\n".join(found)


def test_the_checks_see_what_they_check() -> None:
    """The parser finds the imports it is meant to judge (a check that sees nothing passes)."""
    imports, _ = USES["api.qualification.recompute"]
    assert any(u.target == "matcher.qualification.ledger" for u in imports)  # from matcher.qualification import ledger
    imports, _ = USES["api.matching.commands"]
    assert any(u.target == "api.matching.index_snapshot" for u in imports)  # imported inside a function
    graph = _graph()
    assert "api.db" in graph["api.deps"] and len(MODULES) > 40
    assert {"api.accounts.store", "api.qualification.store", "api.qualification.service",
            "api.qualification.ledger_reader"} <= {m for m in MODULES if m.split(".")[-1] in TRANSACTION_USERS}
    assert _cycles({"a": {"b": None}, "b": {"c": None}, "c": {"a": None}, "d": {"a": None}}) == [["a", "b", "c"]]  # type: ignore[dict-item]
