"""Declared parameters: what a plugin accepts, checked before any training starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ablate.errors import AblateError

_TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "str", list: "list"}


@dataclass(frozen=True)
class Param:
    """One parameter of a plugin.

    ``type`` is one of bool, int, float, str or list; ``choices`` limits the
    allowed values; ``minimum`` rejects values below it (numbers only).
    """

    name: str
    type: type
    default: Any
    help: str = ""
    choices: tuple = field(default=())
    minimum: float | None = None

    def type_name(self) -> str:
        return _TYPE_NAMES.get(self.type, self.type.__name__)

    def describe(self) -> dict:
        info = {"name": self.name, "type": self.type_name(), "default": self.default, "help": self.help}
        if self.choices:
            info["choices"] = list(self.choices)
        return info

    def check(self, value: Any, where: str) -> Any:
        """Return ``value`` converted to this parameter's type, or raise AblateError.

        ``where`` names the place the value came from (``recipe.toml: runs[2].plugins.pgd.eps``).
        """
        value = coerce(value, self.type, where)
        if self.choices and value not in self.choices:
            raise AblateError(f"{where}: found {value!r}, allowed: {', '.join(map(repr, self.choices))}")
        if self.minimum is not None and value < self.minimum:
            raise AblateError(f"{where}: found {value!r}, must be >= {self.minimum}")
        return value


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


def parse_text(text: str) -> Any:
    """Parse a command-line value the way TOML would: 3, 0.5, true, [4, 8], or a bare string."""
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
