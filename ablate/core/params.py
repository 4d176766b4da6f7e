"""Declared parameters: what a setting or a plugin accepts, checked before any training starts.

One validation system for everything a recipe or ``--set`` may change: the
settings of :class:`ablate.Settings` and the parameters of every plugin are
:class:`Param` declarations, and :meth:`Param.check` is the only place that
converts and checks a value. Checked values are canonical (``1`` for a float
parameter becomes ``1.0``; whole numbers in a list of :class:`Number` stay
ints), so equal values written differently name the same run.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from ablate.core.errors import AblateError


class Required:
    """The default of a parameter that has none: the recipe or ``--set`` must give it (see :data:`REQUIRED`)."""

    def __repr__(self) -> str:
        return "required"


REQUIRED = Required()        # Param(..., default=REQUIRED): no value is assumed for the user


class Number:
    """Item type of a list of plain numbers (radii): whole values are kept as int (4.0 -> 4), others as
    float, so that ``[4, 8]`` and ``[4.0, 8.0]`` are one value and one run hash."""


_TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "str", list: "list", Number: "number"}
_ITEM_NAMES = {int: "an integer", float: "a number", Number: "a number", str: "a string", bool: "true or false"}


@dataclass(frozen=True)
class Param:
    """One parameter of a plugin, or one setting.

    ``type`` is bool, int, float, str or list. Rules, each optional:

    * ``choices``: the allowed values (of each item, for a list);
    * the domain of a number (or of each item of a list of numbers): ``minimum`` /
      ``maximum`` are closed bounds, ``greater_than`` / ``less_than`` open ones, so that
      ``greater_than=0`` is "positive", ``minimum=0`` "non-negative" and ``minimum=0,
      less_than=1`` is [0, 1); declare the value's real domain, the one outside which the
      run would fail or mean nothing (:meth:`domain` says it in words);
    * ``items``: the type of a list's items (int, float, str, bool or :class:`Number`);
    * ``nonempty`` / ``unique``: a list holds at least one value, and each value once (a
      repeat would be computed and counted twice). Both are on by default: the one rule for
      every list; a parameter where an empty list or a repeat means something says so with
      ``nonempty=False`` / ``unique=False``;
    * ``pattern``: a regular expression a string must match in full (``help`` then
      says in words what is allowed);
    * ``finite``: NaN and infinity are refused unless this is False.

    ``default = REQUIRED`` declares a parameter with no default: where the source a
    value would come from has not been read (or gives none), ablate asks rather than
    assumes.

    Identity (docs/recipes.md): ``affects_results = False`` keeps a parameter that
    cannot change results (a device, a log folder) out of a run's hash; ``since``
    names the release that added a parameter, which is then hashed only when it
    differs from its default, so adding it does not rename existing run folders;
    ``only_when = {"optimizer": ("sgd",)}`` says the run uses the value only while each
    named sibling (a setting, or a parameter of the same plugin) holds one of those
    values: otherwise the hash records the default, so an ignored value names no other run.
    """

    name: str
    type: type
    default: Any
    help: str = ""
    choices: tuple = field(default=())
    minimum: float | None = None
    maximum: float | None = None
    greater_than: float | None = None
    less_than: float | None = None
    items: type | None = None
    nonempty: bool = True
    unique: bool = True
    pattern: str | None = None
    finite: bool = True
    affects_results: bool = True
    since: str | None = None
    only_when: dict[str, tuple] | None = None

    def applies(self, values: dict[str, Any]) -> bool:
        """Whether a run with these sibling ``values`` uses this parameter (``only_when``)."""
        return all(values.get(name) in allowed for name, allowed in (self.only_when or {}).items())

    def type_name(self) -> str:
        name = _TYPE_NAMES.get(self.type, self.type.__name__)
        return f"list of {_TYPE_NAMES[self.items]}" if self.type is list and self.items else name

    def describe(self) -> dict:
        info = {"name": self.name, "type": self.type_name(),
                "default": "required" if self.default is REQUIRED else self.default, "help": self.help}
        if self.choices:
            info["choices"] = list(self.choices)
        bounds = {"minimum": self.minimum, "maximum": self.maximum, "greater_than": self.greater_than,
                  "less_than": self.less_than}
        info.update({k: v for k, v in bounds.items() if v is not None})
        if self.domain():
            info["domain"] = self.domain()
        if self.only_when:
            info["only_when"] = {name: list(allowed) for name, allowed in self.only_when.items()}
        return info

    def domain(self) -> str | None:
        """The declared bounds as an interval, ``(0, 1]`` (None when the parameter declares none)."""
        low, high = (self.greater_than, self.minimum), (self.less_than, self.maximum)
        if all(bound is None for bound in low + high):
            return None
        left = f"({shown(low[0])}" if low[0] is not None else f"[{shown(low[1])}" if low[1] is not None else "(-inf"
        right = f"{shown(high[0])})" if high[0] is not None else f"{shown(high[1])}]" if high[1] is not None else "inf)"
        return f"{left}, {right}"

    def check(self, value: Any, where: str) -> Any:
        """Return ``value`` converted to this parameter's type and canonical form, or raise AblateError.

        ``where`` names the place the value came from (``recipe.toml: runs[2].plugins.pgd.eps``).
        """
        value = coerce(value, self.type, where)
        if self.type is not list:
            self.check_one(value, where)
            return value
        if self.nonempty and not value:
            raise AblateError(f"{where}: the list is empty; give at least one value")
        checked = []
        for i, item in enumerate(value):
            if self.items is not None:
                item = coerce_item(item, self.items, f"{where}[{i}]")
            self.check_one(item, f"{where}[{i}]")
            if self.unique and item in checked:
                raise AblateError(f"{where}[{i}]: {item!r} is given twice; give each value once")
            checked.append(item)
        return checked

    def check_one(self, value: Any, where: str) -> None:
        if self.choices and value not in self.choices:
            raise AblateError(f"{where}: found {value!r}, allowed: {', '.join(map(str, self.choices))}")
        if self.pattern is not None and not (isinstance(value, str) and re.fullmatch(self.pattern, value)):
            raise AblateError(f"{where}: found {value!r}, allowed: {self.help or self.pattern}")
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if is_number and self.finite and not math.isfinite(value):
            raise AblateError(f"{where}: found {value!r}; give a finite number")
        for bound, fails, words in ((self.minimum, lambda v, b: v < b, ">="), (self.maximum, lambda v, b: v > b, "<="),
                                    (self.greater_than, lambda v, b: v <= b, ">"),
                                    (self.less_than, lambda v, b: v >= b, "<")):
            if bound is not None and is_number and fails(value, bound):
                raise AblateError(f"{where}: found {value!r}, must be {words} {shown(bound)}; give a value in "
                                  f"{self.domain()}")


def shown(bound: float) -> str:
    """A bound as the messages write it: ``0`` for 0.0, ``1e-06``, ``10000``."""
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


def coerce(value: Any, expected: type, where: str) -> Any:
    """Convert ``value`` to ``expected`` where that is lossless; strings from the CLI are parsed."""
    if isinstance(value, str) and expected is not str:
        value = parse_text(value)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is list and isinstance(value, tuple):
        return list(value)
    if expected is list and not isinstance(value, list):
        value = [value]
    if expected is int and isinstance(value, bool) or not isinstance(value, expected):
        raise AblateError(f"{where}: expected {_TYPE_NAMES.get(expected, expected.__name__)}, found {value!r}")
    return value


def coerce_item(value: Any, expected: type, where: str) -> Any:
    """One item of a list, converted to ``expected`` (see :class:`Number` for its canonical form)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is Number and number:
        whole = isinstance(value, float) and value.is_integer() and abs(value) < 2**53     # exactly an int
        return int(value) if whole else value
    if expected is float and number:
        return float(value)
    if expected is not Number and isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return value
    raise AblateError(f"{where}: found {value!r}; each item must be {_ITEM_NAMES.get(expected, expected.__name__)}")


def parse_text(text: str) -> Any:
    """Parse a command-line value the way TOML would: 3, 0.5, true, [4, 8], or a bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def identity_values(params: dict[str, Param], values: dict[str, Any]) -> dict[str, Any]:
    """The part of checked ``values`` that names a run: every value that can change results, except
    parameters added after the identity policy (``since``) while they hold their default; a value the
    run ignores (``only_when``) counts as its default."""
    kept = {}
    for name, value in values.items():
        param = params.get(name)
        if param is not None and not param.applies(values):
            value = param.default
        if param is not None and (not param.affects_results or (param.since and value == param.default)):
            continue
        kept[name] = value
    return kept
