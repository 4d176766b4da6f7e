"""Discovery, loading, blocking and ordering of plugins."""

from __future__ import annotations

import textwrap

import pytest

import ablate
import ablate.testing
from ablate.core.registry import Plugin, call_attributed, check_plugin_class, get_registry, new_manager, reset_registry

BUILTINS = {"batchnorm", "dropout", "mixup", "pgd", "batch_size", "shuffle_labels",
            "frequency_filter", "kernel_smoothing", "attacks"}


def install_distribution(root, dist, version, entry_points: dict[str, str], modules: dict[str, str]):
    """Install a real (if minimal) distribution into ``root``: a dist-info folder and its modules."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"      # as wheels name it
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[ablate]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


GOOD = """
    import ablate

    class Blur(ablate.Plugin):
        '''Blurs nothing; proves discovery.'''
        name = "blur"
        params = [ablate.Param("sigma", float, 1.0, "width")]

        @ablate.hookimpl
        def ablate_loss(self, logits, targets):
            return None
"""


def test_builtins_are_registered_by_default():
    names = set(get_registry().plugins)
    assert BUILTINS <= names
    assert all(get_registry().plugins[n].source == "built-in" for n in BUILTINS)


def test_entry_point_from_an_installed_distribution(tmp_path, monkeypatch):
    install_distribution(tmp_path, "ablate-blur", "1.2.3", {"blur": "ablate_blur:Blur"}, {"ablate_blur": GOOD})
    monkeypatch.syspath_prepend(str(tmp_path))
    info = get_registry().get("blur", "test")
    assert info.source == "ablate-blur 1.2.3"
    assert info.hooks() == ["ablate_loss"]
    assert info.cls.validate({"sigma": 2}, "x") == {"sigma": 2.0}


def test_a_broken_plugin_warns_and_the_others_still_load(tmp_path, monkeypatch, capsys):
    install_distribution(tmp_path, "ablate-broken", "0.1", {"broken": "ablate_broken:Broken", "blur": "ablate_blur:Blur"},
                         {"ablate_broken": "import does_not_exist\n", "ablate_blur": GOOD})
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = get_registry()
    assert "blur" in registry.plugins and "broken" not in registry.plugins
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if "broken" in line]
    assert len(warning) == 1
    assert "ablate-broken 0.1" in warning[0] and "ModuleNotFoundError" in warning[0]
    assert "ABLATE_DISABLE_PLUGINS=broken" in warning[0]


def test_strict_mode_turns_a_broken_plugin_into_an_error(tmp_path, monkeypatch):
    install_distribution(tmp_path, "ablate-broken", "0.1", {"broken": "ablate_broken:Broken"},
                         {"ablate_broken": "raise RuntimeError('boom')\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ABLATE_STRICT_PLUGINS", "1")
    with pytest.raises(ablate.AblateError, match="broken.*ablate-broken 0.1.*boom"):
        get_registry()


def test_disabled_plugins_are_not_even_imported(tmp_path, monkeypatch):
    install_distribution(tmp_path, "ablate-broken", "0.1", {"broken": "ablate_broken:Broken"},
                         {"ablate_broken": "raise RuntimeError('must not be imported')\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ABLATE_STRICT_PLUGINS", "1")
    monkeypatch.setenv("ABLATE_DISABLE_PLUGINS", "broken, mixup")
    registry = get_registry()
    assert "broken" not in registry.plugins and "mixup" not in registry.plugins
    assert "dropout" in registry.plugins


def test_misspelt_hook_is_caught():
    class Typo(Plugin):
        name = "typo"

        @ablate.hookimpl
        def ablate_trian_batch(self, batch):
            pass

    with pytest.raises(TypeError, match="does not exist"):
        check_plugin_class(Typo, "typo")


def test_two_plugins_with_one_name_are_refused():
    class Again(Plugin):
        name = "dropout"

    with pytest.raises(ablate.AblateError, match="two plugins are named 'dropout'"):
        get_registry().add(Again, "test")


def order_plugins(calls):
    made = []
    for letter in "abc":
        class Recorder(Plugin):
            name = letter
            params = []

            @ablate.hookimpl
            def ablate_train_batch(self, batch):
                calls.append(self.name)

            @ablate.hookimpl
            def ablate_loss(self, logits):
                calls.append(f"loss-{self.name}")
                return self.name
        made.append(Recorder)
    return made


@pytest.mark.parametrize("registration", ["abc", "cba", "bca"])
def test_hooks_run_in_recipe_order_whatever_the_registration_order(registration):
    calls = []
    classes = {c.name: c for c in order_plugins(calls)}
    registry = get_registry()
    for letter in registration:
        registry.add(classes[letter], "test")
    hook = registry.run_manager([("b", {}), ("c", {}), ("a", {})]).hook
    hook.ablate_train_batch(batch=None, model=None, state=None)
    assert calls == ["b", "c", "a"]
    calls.clear()
    # first-result hooks: the first listed plugin wins and later ones are not called
    assert hook.ablate_loss(logits=None, targets=None, state=None) == "b"
    assert calls == ["loss-b"]


def test_autoload_plugins_join_every_run_after_the_listed_ones(write_recipe):
    from ablate.study.expansion import expand
    from ablate.study.recipe_file import load_recipe

    calls = []

    class Logger(Plugin):
        name = "zz-logger"
        autoload = True

        @ablate.hookimpl
        def ablate_train_batch(self, batch):
            calls.append("logger")

    registry = get_registry()
    registry.add(Logger, "test")
    (run,) = expand(load_recipe(write_recipe('[[runs]]\nname = "x"\nplugins = ["dropout"]\n')))
    assert run.plugin_names() == ["dropout", "zz-logger"]
    registry.run_manager(run.plugins).hook.ablate_train_batch(batch=None, model=None, state=None)
    assert calls == ["logger"]


def test_reset_registry_rediscovers(monkeypatch):
    assert "mixup" in get_registry().plugins
    monkeypatch.setenv("ABLATE_DISABLE_PLUGINS", "mixup")
    assert "mixup" in get_registry().plugins      # cached
    reset_registry()
    assert "mixup" not in get_registry().plugins


def test_wrapper_implementations_of_configure_and_registration_hooks_work(write_recipe, ablate_plugin):
    """`wrapper=True` marks are honoured: pluggy calls the hook, ablate still knows who returned what."""
    from ablate.study.expansion import expand
    from ablate.study.recipe_file import load_recipe

    seen = []

    class Watcher(Plugin):
        name = "watcher"

        @ablate.hookimpl(wrapper=True)
        def ablate_configure(self, settings):
            changes = yield
            seen.append([dict(c) for c in changes])
            return changes + [{"eval_batch_size": 60}]

        @ablate.hookimpl(wrapper=True)
        def ablate_register_models(self, register):
            register("watched-net", ablate.testing.tiny_model, help="registered from a wrapper")
            return (yield)

    ablate_plugin(Watcher)
    path = write_recipe('[[runs]]\nname = "x"\nplugins = ["batch_size", "watcher"]\n')
    (run,) = expand(load_recipe(path))
    assert seen == [[{"batch_size": 100}]]
    assert run.settings.eval_batch_size == 60 and run.settings.batch_size == 100
    assert get_registry().registry("models")["watched-net"].owner == "watcher"


def test_conflicts_name_both_plugins_when_called_through_pluggy(write_recipe, ablate_plugin):
    from ablate.study.expansion import expand
    from ablate.study.recipe_file import load_recipe

    class Early(Plugin):
        name = "early"

        @ablate.hookimpl(tryfirst=True)
        def ablate_configure(self):
            return {"lr": 0.5}

    ablate_plugin(Early)
    path = write_recipe('[[runs]]\nname = "x"\n[runs.plugins.batch_size]\nscale_lr = true\n[runs.plugins.early]\n')
    with pytest.raises(ablate.AblateError, match="plugins 'early' and 'batch_size' both set 'lr'"):
        expand(load_recipe(path))


def test_attributed_results_are_a_plain_pluggy_calls_results_in_its_order():
    """tryfirst/trylast and a wrapper act as in a plain call; each result names the plugin that gave it."""
    def configurer(key, **marks):
        class Configurer(Plugin):
            name = key

            @ablate.hookimpl(**marks)
            def ablate_configure(self, run_name):
                return {key: run_name}
        return Configurer

    class Wrapper(Plugin):
        name = "wrap"

        @ablate.hookimpl(wrapper=True)
        def ablate_configure(self):
            return (yield) + [{"added": True}]

    pm = new_manager()
    for cls in (configurer("a"), configurer("b", tryfirst=True), configurer("c"), configurer("d", trylast=True),
                Wrapper):
        pm.register(cls(), name=cls.name)
    plain = pm.hook.ablate_configure(settings=None, run_name="x")
    attributed = call_attributed(pm, "ablate_configure", settings=None, run_name="x")
    assert [result for _, result in attributed] == plain
    assert [owner for owner, _ in attributed] == ["b", "c", "a", "d", "wrap"]


# A third-party plugin that misbehaves: a one-line warning naming it and its distribution,
# the built-in (or first registered) name wins, the others load; strict mode makes it exit 2.
MISBEHAVING = {
    "named like a built-in": ("dropout", """
        import ablate

        class Dropout(ablate.Plugin):
            name = "dropout"
     """, "the built-in plugin 'dropout' has that name and is kept"),
    "sys.exit at import": ("quitter", "import sys\nsys.exit(3)\n", "failed to load: SystemExit: 3"),
    "a registration hook that raises": ("raiser", """
        import ablate

        class Raiser(ablate.Plugin):
            name = "raiser"

            @ablate.hookimpl
            def ablate_register_datasets(self, register):
                register("raised", print)
                raise ValueError("no datasets today")
     """, "ablate_register_datasets hook raised ValueError: no datasets today"),
    "a dataset name registered twice": ("imposter", """
        import ablate

        class Imposter(ablate.Plugin):
            name = "imposter"

            @ablate.hookimpl
            def ablate_register_datasets(self, register):
                register("cifar10", print)
     """, "dataset 'cifar10' is registered by both 'datasets' and 'imposter' (from ablate-bad 0.3)"),
}


@pytest.mark.parametrize("case", list(MISBEHAVING))
def test_a_misbehaving_plugin_warns_once_and_the_builtin_wins(case, tmp_path, monkeypatch, capsys):
    from ablate.data.cifar import load_cifar10

    name, source, message = MISBEHAVING[case]
    install_distribution(tmp_path, "ablate-bad", "0.3", {name: f"ablate_bad_{name}:{name.title()}", "blur": "ablate_blur:Blur"},
                         {f"ablate_bad_{name}": source, "ablate_blur": GOOD})
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = get_registry()
    datasets = registry.registry("datasets")
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(warnings) == 1 and message in warnings[0] and "ablate-bad" in warnings[0], warnings
    assert "blur" in registry.plugins and registry.plugins["dropout"].source == "built-in"
    assert datasets["cifar10"].function is load_cifar10 and "raised" not in datasets


@pytest.mark.parametrize("case", list(MISBEHAVING))
def test_strict_plugins_turn_a_misbehaving_plugin_into_exit_2(case, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from ablate.cli import cli

    name, source, message = MISBEHAVING[case]
    install_distribution(tmp_path, "ablate-bad", "0.3", {name: f"ablate_bad_{name}:{name.title()}"},
                         {f"ablate_bad_{name}": source})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("ABLATE_STRICT_PLUGINS", "1")
    result = CliRunner().invoke(cli, ["recipe", "figure5", "--dry-run", "--dataset", "cifar10"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "ABLATE_STRICT_PLUGINS=1" in lines[0], result.stderr
