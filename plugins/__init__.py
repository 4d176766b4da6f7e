"""ablate's built-in plugins (installed as the package ``ablate_plugins``).

Each module holds one :class:`ablate.Plugin` subclass, written with the public
hooks and API only (``ablate`` and ``ablate.api``; no other plugin), so that each is
also an example of how to write a plugin. ``tests/test_public_api.py`` holds them to it.
"""
