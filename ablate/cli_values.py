"""The text of command-line options turned into values, each refused in one line before anything runs."""

from __future__ import annotations

import re

from ablate.core.errors import AblateError
from ablate.study.overrides import parse_assignment
from ablate.study.settings import probe_radii, probe_radius


def parse_radii(text: str) -> list[float]:
    """``--radii 0:16`` (START:END, inclusive) or ``4,8,12`` -> the radii, by the rules of the ``radii``
    setting (:func:`ablate.study.settings.probe_radii`); a range's ends are checked before it is made."""
    try:
        ends = [float(v) for v in text.split(":")] if ":" in text else None
        values = None if ends else [float(v) for v in text.split(",") if v.strip()]
        if ends and len(ends) != 2:
            raise ValueError
    except ValueError:
        raise AblateError(f"--radii {text!r}: expected START:END or a comma-separated list, e.g. 0:16 or 4,8,12") from None
    if ends:
        start, end = (probe_radius(v, "--radii") for v in ends)
        values = [start + i for i in range(int(end - start) + 1)]
    return probe_radii(values, "--radii")


def parse_example_radius(value: float | None) -> float | None:
    """``--example-radius R``: one radius by the rules of the radii (None: the probe picks one)."""
    return None if value is None else probe_radius(value, "--example-radius")


def parse_formats(text: str) -> list[str]:
    """``--format png,svg`` -> ``["png", "svg"]``, refused before anything runs if matplotlib cannot write one."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    formats = [f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()]
    supported = FigureCanvasAgg.get_supported_filetypes()
    for fmt in formats:
        if fmt not in supported:
            raise AblateError(f"--format {fmt!r}: unknown plot format; choose from png, svg, pdf "
                              f"(or {', '.join(sorted(set(supported) - {'png', 'svg', 'pdf'}))})")
    return formats


BYTE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_bytes(text: str) -> int:
    """``--max-memory 512MB`` (or 512M, 1.5GiB, 1000000) -> bytes."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([KMGT]?)(I?B)?\s*", text.upper())
    if not match or float(match[1]) <= 0:
        raise AblateError(f"--max-memory {text!r}: expected a size such as 512MB or 4GB")
    return max(1, int(float(match[1]) * BYTE_UNITS[match[2]]))


def probe_overrides(overrides) -> dict[str, dict]:
    """``["fourier_heatmap.limit=100"]`` -> ``{"fourier_heatmap": {"limit": 100}}``."""
    params: dict[str, dict] = {}
    for text in overrides:
        key, value = parse_assignment(text)
        probe, dot, param = key.partition(".")
        if not dot or not param:
            raise AblateError(f"--set {text!r}: expected PROBE.PARAM=VALUE, e.g. --set fourier_heatmap.limit=100")
        params.setdefault(probe, {})[param] = value
    return params
