"""From a recipe to runs: settings, recipe files, their expansion into runs (with each run's identity)
and seeds.
"""
