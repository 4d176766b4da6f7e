"""Plugins own their report features: layouts (a hook), variant labels and Table 1's "trained on" text
(class methods)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from test_report import ATTACKS, FINAL, attack_rows, header, metric_rows, recording_console, table_rows, write_study

import ablate
from ablate import AblateError
from ablate.cli import cli
from ablate.core.registry import PluginRegistry
from ablate.report import Labels, VariantLabel, print_report
from ablate_plugins.kernel_smoothing import KernelSmoothing
from ablate_plugins.reports import Reports


class Toy(ablate.Plugin):
    """A layout of its own, and names for its variants and for what its runs trained on."""

    name = "toy"
    seen = {}
    variant_heading = "precision"

    @ablate.hookimpl
    def ablate_register_reports(self, register):
        def toy_layout(study, console, labels, registry):
            Toy.seen = {"runs": study.runs, "registry": registry, "labels": labels}
            console.print(f"toy layout: {len(study.results)} numbers of {', '.join(study.runs)}")

        register("toy", toy_layout, help="a test layout")

    @classmethod
    def variant_label(cls, variant):
        if variant.startswith("quant"):
            bits = int(variant.removeprefix("quant"))
            return VariantLabel(f"{bits}-bit weights", f"{bits} bit", bits)
        return None

    @classmethod
    def trained_on(cls, values):
        return f"blurred σ={values['sigma']:g}"


def registry_of(*classes) -> PluginRegistry:
    """A registry holding only ``classes``, as built-in plugins."""
    registry = PluginRegistry()
    for cls in classes:
        registry.add(cls, "built-in")
    return registry


def test_a_plugins_layout_is_used_for_a_recipe_that_names_it(tmp_path, ablate_plugin):
    ablate_plugin(Toy)
    out = write_study(tmp_path / "study", metric_rows({"vanilla": FINAL["vanilla"]}), layout="toy")
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, ["report", str(out)])
    assert result.exit_code == 0, result.output
    assert "toy layout: 46 numbers of vanilla" in result.output
    assert Toy.seen["runs"] == ["vanilla"]
    assert Toy.seen["labels"].variant("smooth1.0") == "smoothing ρ=1"      # kernel_smoothing's, from the same registry


def test_print_report_uses_the_registry_it_is_given(tmp_path):
    out = write_study(tmp_path / "study", metric_rows({"vanilla": FINAL["vanilla"]}), layout="toy")
    registry = registry_of(Toy)
    console = recording_console()
    print_report(out, console, registry=registry)
    assert "toy layout: 46 numbers of vanilla" in console.export_text()
    assert Toy.seen["registry"] is registry and Toy.seen["labels"].plugins == {"toy": Toy}
    assert Toy.seen["labels"].variant("smooth1.0") == "smooth1.0"          # kernel_smoothing is not in it
    with pytest.raises(AblateError, match="unknown report layout 'figure5'; known layouts: toy$"):
        print_report(out, console, layout="figure5", registry=registry)


def test_a_layout_asking_for_an_argument_ablate_does_not_give_is_named(tmp_path):
    class Odd(ablate.Plugin):
        name = "odd"

        @ablate.hookimpl
        def ablate_register_reports(self, register):
            register("odd", lambda study, colour: None)

    out = write_study(tmp_path / "study", metric_rows({"vanilla": FINAL["vanilla"]}), layout="odd")
    with pytest.raises(AblateError, match="report layout 'odd' asks for 'colour', which ablate does not give"):
        print_report(out, recording_console(), registry=registry_of(Odd))


def test_registered_variant_labels_name_and_order_the_attack_table(tmp_path):
    quantised = {"final": ATTACKS["natural"]["final"], "quant8": ATTACKS["natural"]["smooth1.0"],
                 "quant4": ATTACKS["pgd"]["final"]}
    rows = metric_rows({"natural": FINAL["vanilla"]}) + attack_rows("natural", quantised)
    out = write_study(tmp_path / "study", rows, layout="generic")
    console = recording_console()
    print_report(out, console, formats=["svg"], registry=registry_of(Reports, Toy))
    text = console.export_text()
    assert header(text, "variant")[:3] == ["run", "variant", "clean"]   # "final" is not a quantised variant
    cells = [[c.strip() for c in line.strip("│").split("│")][:3] for line in text.splitlines()
             if line.startswith("│ natural ")]
    assert [row for row in cells if row[1] in ("final", "4 bit", "8 bit")] == [
        ["natural", "final", "80.0▲"], ["natural", "4 bit", "70.0"], ["natural", "8 bit", "60.0▼"]]

    labels = Labels.of(registry_of(Toy))
    assert labels.variant_heading(["quant4", "quant8"]) == "precision"
    assert labels.variant("quant8") == "8-bit weights" and labels.variant("smooth1.0") == "smooth1.0"


def test_kernel_smoothing_names_its_variants():
    labels = Labels.of(registry_of(KernelSmoothing))
    assert [labels.variant(v) for v in ("final", "smooth1.0", "smooth0.25")] == [
        "no smoothing", "smoothing ρ=1", "smoothing ρ=0.25"]
    assert [labels.variant(v, short=True) for v in ("final", "smooth1.0")] == ["none", "ρ=1"]
    assert sorted(["smooth1.0", "other", "smooth0.25", "final"], key=labels.variant_order) == [
        "final", "smooth0.25", "smooth1.0", "other"]
    assert labels.variant_heading(["final", "smooth1.0"]) == "smoothing"
    assert labels.variant_heading(["final", "other"]) == "variant"


def test_without_the_plugins_the_engine_shows_raw_names_and_original(tmp_path):
    rows = metric_rows({"natural": FINAL["vanilla"]}) + attack_rows("natural", ATTACKS["natural"])
    runs = [{"name": "natural", "plugins": {"frequency_filter": {"component": "low", "radius": 4}}}]
    out = write_study(tmp_path / "study", rows, layout="generic", runs=runs)
    console = recording_console()
    print_report(out, console, formats=["svg"], registry=registry_of(Reports))
    text = console.export_text()
    assert header(text, "variant")[:3] == ["run", "variant", "clean"]
    assert "│ natural │ final     │" in text and "│ natural │ smooth1.0 │" in text
    console = recording_console()
    print_report(out, console, formats=["svg"], layout="table1", registry=registry_of(Reports))
    assert table_rows(console.export_text())["natural"][0] == "original"


def test_table1_shows_what_a_plugin_says_its_runs_trained_on(tmp_path, ablate_plugin):
    ablate_plugin(Toy)
    runs = [{"name": "blurred", "plugins": {"toy": {"sigma": 2.0}}}, {"name": "plain"},
            {"name": "lfc", "plugins": {"frequency_filter": {"component": "low", "radius": 8.0, "test": False}}}]
    finals = {name: {("train", "original", None): 0.9, ("test", "original", None): 0.5}
              for name in ("blurred", "plain", "lfc")}
    out = write_study(tmp_path / "study", metric_rows(finals), layout="table1", runs=runs)
    console = recording_console()
    print_report(out, console, formats=["svg"])
    rows = table_rows(console.export_text())
    assert [rows[run][0] for run in ("blurred", "plain", "lfc")] == ["blurred σ=2", "original", "LFC r8"]


def test_training_accuracy_is_labelled_where_a_plugin_changes_the_training_batch(tmp_path):
    from ablate_plugins.mixup import Mixup
    from ablate_plugins.pgd import PGD

    runs = [{"name": "plain"}, {"name": "mixup", "plugins": {"mixup": {"alpha": 1.0}}},
            {"name": "adversarial", "plugins": {"pgd": {"eps": 0.03}}},
            {"name": "half", "plugins": {"pgd": {"clean_fraction": 0.5}}}]
    finals = {run["name"]: {("train", "original", None): 0.9, ("test", "original", None): 0.5} for run in runs}
    out = write_study(tmp_path / "study", metric_rows(finals), layout="figure5", runs=runs)
    registry = registry_of(Reports, Mixup, PGD)
    labels = Labels.of(registry)
    assert labels.train_label({}) == "train" and labels.train_label({"pgd": {}}) == "train (adversarial examples)"
    assert labels.train_label({"pgd": {"steps": 0}}) == "train"
    assert labels.train_label({"pgd": {}, "mixup": {}}) == "train (adversarial examples, mixed examples)"
    console = recording_console()
    print_report(out, console, formats=["png"], registry=registry)
    text = console.export_text()
    rows = table_rows(text)
    assert header(text, "train on")[:2] == ["run", "train on"]
    assert [rows[run][0] for run in ("mixup", "adversarial", "half")] == [
        "mixed examples", "adversarial examples", "50% adversarial examples"]
    assert "train on: what the train accuracy is measured on" in text


def test_no_train_on_column_when_no_plugin_changes_the_training_batch(tmp_path):
    finals = {"plain": {("train", "original", None): 0.9, ("test", "original", None): 0.5}}
    out = write_study(tmp_path / "study", metric_rows(finals), layout="figure5", runs=[{"name": "plain"}])
    console = recording_console()
    print_report(out, console, formats=["png"], registry=registry_of(Reports))
    assert "train on" not in console.export_text()
