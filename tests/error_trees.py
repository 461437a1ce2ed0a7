"""One check for every package's exception tree (``<package>/errors.py``): every
exception class the package defines derives from the package's root, carries a code of
its own, unique in the package, and the errors module's docstring names it with that
code and the finer codes its instances may carry."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Collection
from types import ModuleType


def exception_classes(package: str) -> list[type[BaseException]]:
    """Every exception class defined in ``package`` and its modules, but the private
    ones (``_Closed``, ``_Stop``: control flow inside one module, never raised out of it)."""
    root = importlib.import_module(package)
    modules: list[ModuleType] = [root]
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        modules.append(importlib.import_module(info.name))
    found: dict[str, type[BaseException]] = {}
    for module in modules:
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[key] for key in sorted(found)]


def check_tree(package: str, root: type[BaseException], signals: Collection[str] = ()) -> None:
    """Check ``package``'s tree under ``root``. ``signals`` names (module.Class) the
    exceptions that only carry control flow between a package's modules (a response
    decided deep in a handler): they are not errors, have no code, and are left out."""
    classes = [
        cls
        for cls in exception_classes(package)
        if f"{cls.__module__}.{cls.__qualname__}" not in signals
    ]
    assert root in classes
    codes: dict[str, str] = {}
    documented = inspect.getdoc(importlib.import_module(root.__module__)) or ""
    for cls in classes:
        name = cls.__qualname__
        assert issubclass(cls, root), f"{name} does not derive from {root.__qualname__}"
        code = cls.__dict__.get("code")
        assert isinstance(code, str) and code, f"{name} has no code of its own"
        assert code not in codes, f"{name} and {codes[code]} share the code {code!r}"
        codes[code] = name
        assert f"{name}" in documented and code in documented, f"{name} ({code}) undocumented"
        for finer in getattr(cls, "codes", ()):
            assert finer in documented, f"{name}'s code {finer!r} undocumented"
