"""The engine's own report layouts, registered as a built-in plugin like any other.

The layouts live in :mod:`ablate.report.layouts`; this plugin only names them, so
a third-party layout registers exactly the same way (``ablate_register_reports``).
Layouts that belong to one plugin are registered by that plugin (``adversarial``
by ``kernel_smoothing``).
"""

from __future__ import annotations

import ablate
from ablate.api import figure1_layout, figure3_layout, figure4_layout, figure5_layout, generic_layout, table1_layout


class Reports(ablate.Plugin):
    """The built-in report layouts: generic, Figures 1, 3, 4 and 5, Table 1."""

    name = "reports"

    @ablate.hookimpl
    def ablate_register_reports(self, register):
        register("generic", generic_layout, help="final accuracy table and curves per run, plus any attack results")
        register("figure5", figure5_layout, help="Figure 5: train/test and test LFC/HFC accuracy per heuristic")
        register("figure4", figure4_layout, help="Figure 4: Figure 5's table and curves per batch size")
        register("figure3", figure3_layout, help="Figure 3: true vs shuffled labels, LFC of the training set")
        register("table1", table1_layout, help="Table 1: trained on LFC/HFC, accuracy on the original test set")
        register("figure1", figure1_layout, help="Figures 1-2: LFC-only / HFC-only / both / neither per radius")
