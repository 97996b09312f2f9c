"""Package names imported on first use: a package `__init__` stays light, its public names keep working."""

from __future__ import annotations

import importlib
from collections.abc import Mapping

__all__ = ["load_export"]


def load_export(package: str, exports: Mapping[str, str], name: str) -> object:
    """The value of `package.name`, imported from the module `exports` names for it.

    Called from a package's module `__getattr__`; the value is cached in the package so the
    next lookup is a plain attribute. A name that is a submodule maps to itself.
    """
    module_name = exports.get(name)
    if module_name is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name == f"{package}.{name}" else getattr(module, name)
    setattr(importlib.import_module(package), name, value)
    return value
