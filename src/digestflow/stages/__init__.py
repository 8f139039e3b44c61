"""Stage recipes: read → transform → publish, one module per stage, registered with ``@stage``.

Importing this package registers every stage that exists; a stage whose optional dependency is
missing raises only when it runs.
"""

from __future__ import annotations

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
