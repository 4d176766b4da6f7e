"""The text of command-line options turned into values, each refused in one line before anything runs."""

from __future__ import annotations

import re

from ablate.core.errors import AblateError
from ablate.study.overrides import parse_assignment


def parse_radii(text: str) -> list[float]:
    """``--radii 0:16`` (START:END, inclusive) or ``4,8,12`` -> the radii."""
    try:
        if ":" in text:
            start, end = (float(v) for v in text.split(":"))
            values = [start + i for i in range(int(end - start) + 1)]
        else:
            values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise AblateError(f"--radii {text!r}: expected START:END or a comma-separated list, e.g. 0:16 or 4,8,12") from None
    if not values or min(values) < 0:
        raise AblateError(f"--radii {text!r}: radii must be numbers >= 0")
    return values


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
