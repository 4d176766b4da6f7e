"""The engine's foundation: errors, declared parameters, the hook specifications, the plugin registry,
the plain objects hooks receive and the names of what a study writes. It imports no other part of ablate.
"""
