"""ablate's built-in plugins (installed as the package ``ablate_plugins``).

Each module holds one :class:`ablate.Plugin` subclass, written with the public
hooks and API only, so that each is also an example of how to write a plugin.
"""
