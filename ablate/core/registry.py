"""Finding, loading and calling plugins.

Built-in plugins are the modules of the ``ablate_plugins`` package (the ``plugins/``
folder of the source tree); third-party plugins are entry points in the group
``ablate``, each naming a :class:`Plugin` subclass (:mod:`ablate.core.plugin_base`).
``ABLATE_DISABLE_PLUGINS=a,b`` skips plugins by name before they are imported.

A broken third-party plugin never takes the others down: one that fails to import
(or calls ``sys.exit``), one named like a plugin already loaded, a registration hook
that raises, or a name registered twice each become a one-line warning naming the
plugin and its distribution; the built-in (or first registered) one wins and the
rest load. ``ABLATE_STRICT_PLUGINS=1`` makes each of these an error (exit 2).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect
import os
import pkgutil
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterable, NamedTuple

import pluggy

from ablate.core import hookspecs
from ablate.core.errors import AblateError
from ablate.core.plugin_base import Plugin

ENTRY_POINT_GROUP = "ablate"
REGISTER = "ablate_register_"
BUILTIN = "built-in"


@dataclass
class PluginInfo:
    """A plugin that was found: its class and where it came from."""

    name: str
    cls: type[Plugin]
    source: str              # "built-in" or "distribution version"

    def hooks(self) -> list[str]:
        return sorted(n for n, member in inspect.getmembers(self.cls)
                      if n.startswith("ablate_") and hasattr(member, "ablate_impl"))

    def describe(self) -> dict:
        return {"name": self.name, "source": self.source, "hooks": self.hooks(),
                "params": [p.describe() for p in self.cls.params],
                "help": (inspect.getdoc(self.cls) or "").split("\n")[0]}


class RegistryEntry(NamedTuple):
    """One name a registration hook gave: what it names, its help text and the plugin that registered it."""

    function: Any            # a model factory, dataset loader, report layout, Launcher or Probe
    help: str
    owner: str               # the registering plugin's name


class PluginRegistry:
    """All plugins found in this process, and the names they registered."""

    def __init__(self) -> None:
        self.plugins: dict[str, PluginInfo] = {}
        self.warnings: list[str] = []
        self.strict = os.environ.get("ABLATE_STRICT_PLUGINS", "") not in ("", "0")
        self._registries: dict[str, dict[str, RegistryEntry]] | None = None

    # -- discovery ---------------------------------------------------------

    def load(self) -> "PluginRegistry":
        disabled = disabled_names()
        for name, cls in builtin_plugins():
            if name not in disabled:
                self.add(cls, BUILTIN)
        for ep in sorted(entry_points(), key=lambda e: e.name):
            if ep.name in disabled:
                continue
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "unknown distribution"
            try:
                cls = ep.load()
                check_plugin_class(cls, ep.name)
            except (Exception, SystemExit) as exc:  # a broken plugin must not take the others down
                self.problem(f"plugin {ep.name!r} from {dist} failed to load: {describe(exc)} "
                             f"(fix or uninstall it, or set ABLATE_DISABLE_PLUGINS={ep.name})", exc)
                continue
            if ep.name in self.plugins:
                kept = self.plugins[ep.name].source
                self.problem(f"plugin {ep.name!r} from {dist} is not loaded: the {kept} plugin {ep.name!r} has "
                             f"that name and is kept (rename the entry point, or uninstall {dist.split()[0]})")
                continue
            if cls.name != ep.name:
                cls.name = ep.name
            self.add(cls, dist)
        return self

    def problem(self, message: str, cause: BaseException | None = None) -> None:
        """A plugin that misbehaves: a one-line warning, or an error under ABLATE_STRICT_PLUGINS=1."""
        if self.strict:
            raise AblateError(f"{message} [ABLATE_STRICT_PLUGINS=1]") from cause
        self.warnings.append(message)
        print(f"ablate: warning: {message}", file=sys.stderr)

    def source(self, name: str) -> str:
        """Where plugin ``name`` comes from: ``built-in`` or its distribution and version."""
        return self.plugins[name].source if name in self.plugins else "unknown distribution"

    def add(self, cls: type[Plugin], source: str) -> None:
        check_plugin_class(cls, cls.name)
        if cls.name in self.plugins:
            raise AblateError(f"two plugins are named {cls.name!r} ({self.plugins[cls.name].source} "
                              f"and {source}); uninstall one or set ABLATE_DISABLE_PLUGINS")
        self.plugins[cls.name] = PluginInfo(cls.name, cls, source)
        self._registries = None

    def remove(self, name: str) -> None:
        self.plugins.pop(name, None)
        self._registries = None

    def get(self, name: str, where: str) -> PluginInfo:
        if name not in self.plugins:
            known = ", ".join(sorted(self.plugins))
            raise AblateError(f"{where}: unknown plugin {name!r}; installed plugins: {known} "
                              f"(see `ablate plugins`)")
        return self.plugins[name]

    # -- models, datasets, report layouts ------------------------------------

    def registry(self, kind: str) -> dict[str, RegistryEntry]:
        """``{name: RegistryEntry}`` of one kind (``models``, ``datasets``, ``reports``...)."""
        if self._registries is None:
            self._registries = self._collect()
        return self._registries[kind]

    def _collect(self) -> dict[str, dict[str, RegistryEntry]]:
        pm = new_manager()
        for info in self.plugins.values():
            pm.register(info.cls(), name=info.name)
        owners = [name for name, _ in pm.list_name_plugin()]
        found: dict[str, dict[str, RegistryEntry]] = {}
        for kind in registration_kinds():
            table: dict[str, RegistryEntry] = {}
            implementers = {impl.plugin_name for impl in getattr(pm.hook, REGISTER + kind).get_hookimpls()}
            for owner in (o for o in owners if o in implementers):
                # One call through pluggy per plugin (so its wrappers and marks apply), each with a
                # register callback that knows who is registering.
                others = [pm.get_plugin(o) for o in owners if o != owner]
                try:
                    pm.subset_hook_caller(REGISTER + kind, remove_plugins=others)(
                        register=functools.partial(self.add_entry, table, kind, owner))
                except (Exception, SystemExit) as exc:
                    if self.strict and isinstance(exc, AblateError):
                        raise                       # a problem() already made into an error
                    for name in [n for n, entry in table.items() if entry.owner == owner]:
                        del table[name]
                    self.problem(f"plugin {owner!r} from {self.source(owner)}: its {REGISTER + kind} hook raised "
                                 f"{describe(exc)}; its {kind} are left out (fix or uninstall it, or set "
                                 f"ABLATE_DISABLE_PLUGINS={owner})", exc)
            found[kind] = table
        return found

    def add_entry(self, table: dict[str, RegistryEntry], kind: str, owner: str, name: str, function: Callable,
                  help: str = "") -> None:
        """The ``register`` callback of registration hooks: one name, one owner; the first one wins."""
        if name in table:
            first = table[name].owner
            self.problem(f"{kind.removesuffix('s')} {name!r} is registered by both {first!r} and {owner!r} "
                         f"(from {self.source(owner)}); the one from {first!r} is kept (disable one with "
                         f"ABLATE_DISABLE_PLUGINS)")
            return
        table[name] = RegistryEntry(function, help, owner)

    # -- one run -----------------------------------------------------------

    def run_manager(self, plugins: Iterable[tuple[str, dict]]) -> pluggy.PluginManager:
        """A plugin manager holding the run's plugins (as expansion resolved them), instantiated
        with their values.

        Plugins are registered in reverse so that pluggy (which calls the last
        registered first) calls them in the recipe's order.
        """
        pm = new_manager()
        for name, values in reversed(list(plugins)):
            pm.register(self.get(name, "run").cls(**values), name=name)
        return pm

    def autoloaded(self) -> list[str]:
        """The plugins that join every run (``autoload = True``), sorted by name."""
        return sorted(name for name, info in self.plugins.items() if info.cls.autoload)


def describe(exc: BaseException) -> str:
    """``TypeName: first line of the message``: an exception in one line."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def registration_kinds() -> list[str]:
    """``models``, ``datasets``...: one kind per ``ablate_register_<kind>`` hook in the specification."""
    return [name.removeprefix(REGISTER) for name in dir(hookspecs) if name.startswith(REGISTER)]


def new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("ablate")
    pm.add_hookspecs(hookspecs)
    return pm


def check_plugin_class(cls: Any, name: str) -> None:
    """Reject an entry point that is not a Plugin subclass, or hooks that do not exist."""
    if not (inspect.isclass(cls) and issubclass(cls, Plugin)):
        raise TypeError(f"entry point {name!r} must name an ablate.Plugin subclass, not {cls!r}")
    if not cls.name:
        raise TypeError(f"plugin class {cls.__qualname__} sets no `name`")
    pm = new_manager()
    pm.register(cls(), name=f"check-{name}")
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise TypeError(f"plugin {name!r} implements a hook that does not exist: {exc}") from None


def builtin_plugins() -> list[tuple[str, type[Plugin]]]:
    """Every Plugin subclass defined in a module of the ``ablate_plugins`` package."""
    import ablate_plugins  # noqa: PLC0415 (the plugins import ablate.api: a cycle)

    found = []
    for module_info in sorted(pkgutil.iter_modules(ablate_plugins.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"ablate_plugins.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Plugin) and cls is not Plugin and cls.__module__ == module.__name__:
                found.append((cls.name, cls))
    return found


def entry_points() -> list[importlib.metadata.EntryPoint]:
    return list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))


def disabled_names() -> set[str]:
    return {n.strip() for n in os.environ.get("ABLATE_DISABLE_PLUGINS", "").split(",") if n.strip()}


_registry: PluginRegistry | None = None


def get_registry() -> PluginRegistry:
    """The process-wide registry, loaded on first use."""
    global _registry
    if _registry is None:
        _registry = PluginRegistry().load()
    return _registry


def reset_registry() -> None:
    """Forget loaded plugins (tests, or after changing ABLATE_DISABLE_PLUGINS)."""
    global _registry
    _registry = None


def call_attributed(pm: pluggy.PluginManager, hook_name: str, **kwargs) -> list[tuple[str, Any]]:
    """Call a hook through pluggy and say which plugin gave each result: ``[(plugin, result), ...]``.

    Used where ablate must know who returned what (``ablate_configure`` conflicts). The
    plugins' implementations are called in pluggy's order (``tryfirst``/``trylast`` marks
    included) as extra methods of one call (``call_extra``) of the hook's wrappers, so each
    wrapper wraps the whole call, as a plain call would, and sees every result; each
    implementation notes what it returned. A result that a wrapper added is attributed
    to the hook's wrappers.
    """
    impls = getattr(pm.hook, hook_name).get_hookimpls()
    plain = [impl for impl in impls if not (impl.wrapper or impl.hookwrapper)]
    returned: list[tuple[str, Any]] = []

    def traced(impl):
        def call():
            result = impl.function(*(kwargs[name] for name in impl.argnames))
            returned.append((impl.plugin_name, result))
            return result
        return call

    wrappers_only = pm.subset_hook_caller(hook_name, remove_plugins=[impl.plugin for impl in plain])
    results = wrappers_only.call_extra([traced(impl) for impl in plain], kwargs)
    wrappers = " / ".join(impl.plugin_name for impl in impls if impl.wrapper or impl.hookwrapper)
    return [(next((owner for owner, given in returned if given is result), wrappers), result) for result in results]
