"""Values as tables show them: numbers as people write them, and plugins with the parameters that differ
from their defaults. The dry-run table (:mod:`ablate.execution.plan_table`) and the HTML report label runs
with the same functions."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ablate.core.registry import PluginRegistry


def plugins_label(plugins, registry: PluginRegistry | None = None) -> str:
    """``dropout, pgd(steps=2, step_size=0.015)``: each plugin (``(name, values)`` pairs or a dict) and its
    values, only those that differ from the defaults the ``registry`` declares; all of them without one."""
    labels = []
    for name, values in (plugins.items() if isinstance(plugins, dict) else plugins):
        defaults = {p.name: p.default for p in registry.plugins[name].cls.params} if registry else {}
        shown = [f"{key}={format_value(value)}" for key, value in values.items()
                 if key not in defaults or value != defaults[key]]
        labels.append(f"{name}({', '.join(shown)})" if shown else name)
    return ", ".join(labels)


def format_value(value: Any) -> str:
    """A parameter's value for a table: numbers via :func:`format_number`, lists item by item."""
    if isinstance(value, (list, tuple)):
        return f"[{', '.join(format_value(v) for v in value)}]"
    return format_number(value)


def format_number(value: Any) -> str:
    """A number as people write it: the shorter of ``0.015`` and ``1e-4`` (``100`` for a whole float)."""
    if not isinstance(value, float) or not math.isfinite(value):
        return str(value)
    decimal = np.format_float_positional(value, trim="-")
    scientific = np.format_float_scientific(value, trim="-", exp_digits=1).replace("e+", "e")
    return scientific if len(scientific) < len(decimal) else decimal
