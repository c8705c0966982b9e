"""The package's layers (``multibuild.LAYERS``, lowest first): every import of every module, at
the top or inside a function, goes to its own layer or a lower one; each stage subpackage says
what belongs in it; no module sits loose in ``multibuild/`` beside the front door."""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from conftest import REPO_ROOT

from multibuild import LAYERS

PACKAGE = "multibuild"
# Modules of multibuild/ itself: the errors (below every layer) and the ./wheels front door
# (above every layer).
BELOW = "below every layer"
TOP = "the front door"
FRONT_DOOR = ("__main__", "cli")


@dataclass(frozen=True)
class Import:
    module: str  # dotted name of the importing module
    line: int
    target: str  # dotted name of what it imports (a module, or a package's name)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> Iterator[Import]:
    """Every import of ``multibuild`` in the module at ``path``, wherever it is in the file;
    ``from P import X`` counts as importing ``P.X`` (X may be a module or a name of P)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the importing module's package upwards
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target == PACKAGE or target.startswith(f"{PACKAGE}."):
                yield Import(name, node.lineno, target)


def layer_of(dotted: str, layers: Sequence[str]) -> str:
    """The layer of a module (or of a name imported from one): a stage subpackage, the package's
    own ``__init__`` (BELOW) or the front door (TOP)."""
    parts = dotted.split(".")
    if len(parts) == 1:
        return BELOW
    if parts[1] in layers:
        return parts[1]
    return TOP if parts[1] in FRONT_DOOR else BELOW  # multibuild.MultibuildError and friends


def rank(layer: str, layers: Sequence[str]) -> int:
    return -1 if layer == BELOW else len(layers) if layer == TOP else layers.index(layer)


def upward_imports(root: Path, layers: Sequence[str]) -> list[str]:
    """One line per import of a higher layer, naming the module, the import and both layers."""
    found = []
    for path in sorted((root / PACKAGE).rglob("*.py")):
        for imp in imports_of(path, root):
            own, theirs = layer_of(imp.module, layers), layer_of(imp.target, layers)
            if rank(theirs, layers) > rank(own, layers):
                found.append(f"{imp.module} (layer {own}) imports {imp.target} (layer {theirs}) "
                             f"at {path.relative_to(root)}:{imp.line}")
    return found


def test_no_module_imports_a_higher_layer() -> None:
    assert upward_imports(REPO_ROOT, LAYERS) == []


def test_the_check_sees_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    package = tmp_path / PACKAGE
    for layer in ("low", "high"):
        (package / layer).mkdir(parents=True)
        (package / layer / "__init__.py").write_text(f'"""The {layer} layer."""\n')
    (package / "__init__.py").write_text("")
    (package / "high" / "top.py").write_text("from multibuild.low import base\n")
    (package / "low" / "base.py").write_text(
        "from multibuild import UsageError\n\n\ndef later():\n"
        "    from multibuild.high.top import thing\n    from ..high import top\n"
        "    import multibuild.cli\n")
    assert upward_imports(tmp_path, ("low", "high")) == [
        f"multibuild.low.base (layer low) imports multibuild.high.top.thing (layer high) "
        f"at {Path('multibuild/low/base.py')}:5",
        f"multibuild.low.base (layer low) imports multibuild.high.top (layer high) "
        f"at {Path('multibuild/low/base.py')}:6",
        f"multibuild.low.base (layer low) imports multibuild.cli (layer {TOP}) "
        f"at {Path('multibuild/low/base.py')}:7",
    ]


def test_every_layer_is_a_subpackage_saying_what_belongs_there() -> None:
    library = REPO_ROOT / PACKAGE
    packages = sorted(p.parent.name for p in library.glob("*/__init__.py"))
    assert packages == sorted(LAYERS)
    for layer in LAYERS:
        init = library / layer / "__init__.py"
        docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert docstring and len(docstring.split()) >= 8, f"{init}: no docstring saying what " \
            "belongs in this package"
        # Nothing heavy on import: a stage's modules are imported where they are used.
        body = ast.parse(init.read_text(encoding="utf-8")).body
        assert all(isinstance(node, ast.Expr) for node in body), f"{init}: more than a docstring"


def test_no_module_is_loose_beside_the_front_door() -> None:
    loose = sorted(p.stem for p in (REPO_ROOT / PACKAGE).glob("*.py"))
    assert loose == sorted(["__init__", *FRONT_DOOR]), \
        "a module of multibuild/ belongs in one of the stage subpackages " + ", ".join(LAYERS)
