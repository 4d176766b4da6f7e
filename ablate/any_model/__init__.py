"""Probing image classifiers of any origin (``ablate probe MODEL ...``): the model zoo, :func:`probe_model`,
the comparison of several models, class maps, HFC reliance and its leaderboard.
"""
