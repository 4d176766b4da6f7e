"""The engine's foundation: errors, declared parameters, the hook specifications, the plugin registry,
the plain objects hooks receive and the names of what a study writes; and what every layer above
shares: writing and reading files, the device and a model's mode, progress reporting. It imports no
other part of ablate.
"""
