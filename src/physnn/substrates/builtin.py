"""Importing this module registers every built-in substrate: each subpackage of
:mod:`physnn.substrates` that exports a ``SUBSTRATE`` record. Nothing lists them by hand."""

import importlib
import pkgutil

import physnn.substrates as _home
from physnn.substrates import register

for _info in pkgutil.iter_modules(_home.__path__):
    if _info.ispkg:
        register(importlib.import_module(f"{_home.__name__}.{_info.name}").SUBSTRATE)
