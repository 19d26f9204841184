"""Keep the three implementations honest: the same names, signatures and sections everywhere.

Like httpcore's ``unasync.py --check``, this compares the packages by machine and reports
the first place where they drift. It checks, for every module in ``shared.MIRRORED``:

- ``impl_asyncio``, ``impl_trio`` and ``impl_anyio`` hold the same modules, private ones
  included;
- its ``__all__`` lists exactly the contract's functions, in the contract's order;
- every public function has the contract's parameters (names, kinds, defaults, annotations),
  and all three agree on the return annotation;
- the section banners (``# --- Title ---``) come in the same order. A banner whose title
  starts with ``Only in`` holds a helper one library needs and the others don't, and is
  left out of the comparison. The bodies under the banners, line by line, are the job of
  :mod:`triptych.mirror`;
- each package imports only its own async library, and ``shared`` imports none.

Run ``python -m triptych.parity``: it prints the first mismatch and exits 1, or prints a
summary and exits 0.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import shared

__all__ = ["IMPL_PACKAGES", "check", "main"]

IMPL_PACKAGES = ("impl_asyncio", "impl_trio", "impl_anyio")
ASYNC_LIBRARIES = {"asyncio", "trio", "anyio", "uvloop", "sniffio"}
ALLOWED_IMPORTS = {
    "impl_asyncio": {"asyncio"},
    "impl_trio": {"trio"},
    "impl_anyio": {"anyio"},
    "shared": set(),
}
_BANNER = re.compile(r"^# --- (.+?) -*$")


def _contract(workload: str) -> type[Any]:
    module = importlib.import_module(f"shared.{workload}")
    protocols = [
        value
        for value in vars(module).values()
        if inspect.isclass(value) and getattr(value, "_is_protocol", False) and value.__module__ == module.__name__
    ]
    if len(protocols) != 1:
        raise LookupError(f"shared/{workload}.py must define exactly one Protocol, found {len(protocols)}")
    return protocols[0]


def _public_functions(contract: type[Any]) -> list[str]:
    return [name for name, value in vars(contract).items() if inspect.isfunction(value) and not name.startswith("_")]


def _parameters(function: Any, *, drop_self: bool) -> list[tuple[str, str, str, str]]:
    signature = inspect.signature(function)
    params = list(signature.parameters.values())[1 if drop_self else 0 :]
    return [(p.name, p.kind.name, repr(p.default), str(p.annotation)) for p in params]


def _outline(path: Path) -> list[str]:
    """The titles of the banners of ``path`` in order, but the ``Only in ...`` ones."""
    titles = (banner.group(1) for line in path.read_text().splitlines() if (banner := _BANNER.match(line)))
    return [title for title in titles if not title.startswith("Only in")]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def _check_workload(workload: str) -> Iterator[str]:
    contract = _contract(workload)
    names = _public_functions(contract)
    modules = {}
    for package in IMPL_PACKAGES:
        try:
            modules[package] = importlib.import_module(f"{package}.{workload}")
        except ModuleNotFoundError as exc:
            yield f"{package}/{workload}.py: cannot import it ({exc})"
            return
    for package, module in modules.items():
        where = f"{package}/{workload}.py"
        if list(getattr(module, "__all__", [])) != names:
            yield f"{where}: __all__ is {getattr(module, '__all__', None)!r}, the contract says {names!r}"
            continue
        for name in names:
            expected = _parameters(getattr(contract, name), drop_self=True)
            actual = _parameters(getattr(module, name), drop_self=False)
            if actual != expected:
                first = next(
                    (f"{a} != {e}" for a, e in zip(actual, expected, strict=False) if a != e),
                    f"{len(actual)} parameters, the contract has {len(expected)}",
                )
                yield f"{where}: {name}() differs from {contract.__name__}.{name}: {first}"
    returns = {
        package: [str(inspect.signature(getattr(module, name)).return_annotation) for name in names]
        for package, module in modules.items()
    }
    reference_package, reference = next(iter(returns.items()))
    for package, returned in returns.items():
        for name, mine, theirs in zip(names, returned, reference, strict=True):
            if mine != theirs:
                yield f"{package}/{workload}.py: {name}() returns {mine}, {reference_package} returns {theirs}"
    outlines = {package: _outline(Path(module.__file__ or "")) for package, module in modules.items()}
    reference_package, reference_outline = next(iter(outlines.items()))
    for package, outline in outlines.items():
        for position, (section, wanted) in enumerate(zip(outline, reference_outline, strict=False)):
            if section != wanted:
                yield f"{package}/{workload}.py: section {position} is {section!r}, {reference_package} has {wanted!r}"
                break
        else:
            if len(outline) != len(reference_outline):
                yield (
                    f"{package}/{workload}.py: {len(outline)} sections, "
                    f"{reference_package} has {len(reference_outline)}"
                )


def _check_imports() -> Iterator[str]:
    root = Path(shared.__file__).parent.parent
    for package, allowed in ALLOWED_IMPORTS.items():
        for path in sorted((root / package).glob("*.py")):
            wrong = (_imports(path) & ASYNC_LIBRARIES) - allowed
            if wrong:
                yield f"{package}/{path.name}: imports {', '.join(sorted(wrong))}; it may use only {allowed or 'none'}"


def _check_modules(root: Path) -> Iterator[str]:
    held = {package: {path.name for path in (root / package).glob("*.py")} for package in IMPL_PACKAGES}
    everywhere = set.intersection(*held.values())
    for package, names in held.items():
        for name in sorted(names - everywhere):
            yield (
                f"{package}/{name}: the other packages have no such module; a helper belongs in the module "
                "using it (or, if several use it, in the one whose job it is)"
            )


def check() -> list[str]:
    """Every mismatch between the three packages and the contract, most basic first."""
    problems = [*_check_modules(Path(shared.__file__).parent.parent), *_check_imports()]
    for module in shared.MIRRORED:
        problems.extend(_check_workload(module))
    return problems


def main() -> int:
    problems = check()
    if problems:
        print(f"parity: {problems[0]}")
        if len(problems) > 1:
            print(f"parity: ... and {len(problems) - 1} more")
        return 1
    print(f"parity: {', '.join(IMPL_PACKAGES)} match the contract for {', '.join(shared.MIRRORED)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
