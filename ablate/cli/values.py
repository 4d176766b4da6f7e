"""The text of command-line options turned into values, each refused in one line before anything runs. (Values
that layers below the command line parse too live with them: sizes in :func:`ablate.core.device.parse_bytes`,
plot formats in :func:`ablate.report.plots.parse_formats`.)"""

from __future__ import annotations

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
