"""The engine's own launchers, registered as a built-in plugin like any other.

The launchers live in :mod:`ablate.execution.launchers`; this plugin only names them, so a
third-party launcher (Ray, a Kubernetes job...) registers exactly the same way
(``ablate_register_launchers``) and ``--launcher NAME`` picks it.
"""

from __future__ import annotations

import ablate
from ablate.api import ProcessPoolLauncher, SequentialLauncher, SubmititLauncher


class Launchers(ablate.Plugin):
    """The built-in launchers: local (one run after the other), processes (--jobs N) and slurm (submitit)."""

    name = "launchers"

    @ablate.hookimpl
    def ablate_register_launchers(self, register):
        register("local", SequentialLauncher(), help="every run in this process, one after the other (default)")
        register("processes", ProcessPoolLauncher(), help="up to `jobs` runs at once in worker processes, "
                                                          "one device each (what --jobs N picks)")
        register("slurm", SubmititLauncher(), help="one cluster job per run through submitit; "
                                                  "cluster=local uses submitit's local executor")
