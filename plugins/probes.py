"""The engine's own probe, ``split``, registered as a built-in plugin like any other.

The study evaluates every model on the low- and high-frequency components of the
test images (paper, Section 3 and Figure 5); :func:`ablate.spectral.probes.lfc_hfc` makes
them. This plugin only names that probe and declares its parameters, so a
third-party probe (band-pass rings, a Fourier heat map) registers exactly the same
way (``ablate_register_probes``).
"""

from __future__ import annotations

import ablate
from ablate.api import lfc_hfc


class Probes(ablate.Plugin):
    """The built-in probe: split (LFC and HFC at every radius)."""

    name = "probes"

    @ablate.hookimpl
    def ablate_register_probes(self, register):
        shared = ("radii", "inclusive")           # the run's settings: one declaration, one value
        register("split", ablate.Probe(lfc_hfc, params=[ablate.Settings.params()[name] for name in shared],
                                       settings=shared),
                 help="the study's probe: the LFC (inside the disc) and the HFC (outside) at every radius")
