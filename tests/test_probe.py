"""The probe on a tiny fixed model, checked against direct computations."""

import io

import matplotlib.image
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ablate
from ablate import AblateError, Data, Settings
from ablate.core.registry import get_registry
from ablate.core.schema import RESULT_COLUMNS, results_frame
from ablate.spectral.example_grid import Captions, save_example_grid
from ablate.spectral.frequency import split
from ablate.spectral.probe_report import hfc_only_examples, probe_report, report_table, write_probe_report
from ablate.spectral.prober import Prober, ProbeResult, planned_probers, split_probe
from ablate.spectral.probes import PlannedProbe, bind_probe
from ablate.spectral.scaling import model_input, to_float

RADII = [2, 4, 8]
N = 48


class BrightnessAndEdges(nn.Module):
    """Logits from two features: mean intensity (kept by the LFC) and edge energy (kept by the HFC)."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(2, 3)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[20.0, 0.0], [0.0, 40.0], [0.0, 0.0]]))
            self.head.bias.copy_(torch.tensor([-8.4, -2.8, 0.0]))
        self.modes_seen = []

    def forward(self, x):
        self.modes_seen.append(self.training)
        brightness = x.mean(dim=(1, 2, 3))
        edges = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3))
        return self.head(torch.stack([brightness, edges], dim=1))


@pytest.fixture(scope="module")
def data():
    gen = torch.Generator().manual_seed(0)
    smooth = F.interpolate(torch.rand(N, 3, 4, 4, generator=gen), size=16, mode="bilinear", align_corners=False)
    noise = torch.rand(N, 3, 16, 16, generator=gen) * torch.rand(N, 1, 1, 1, generator=gen)
    x = ((0.7 * smooth + 0.3 * noise) * 255).round().to(torch.uint8)
    y = torch.randint(0, 3, (N,), generator=gen)
    return x, y


def direct(model, images, y, normalize):
    """Correctness and mean loss of ``model`` on float images scaled like the probe does."""
    with torch.no_grad():
        logits = model(model_input(images, normalize))
    return logits.argmax(1) == y, float(F.cross_entropy(logits, y))


def row_value(rows, component, radius, metric):
    found = [r["value"] for r in rows if (r["component"], r["radius"], r["metric"]) == (component, radius, metric)]
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize("normalize", ["max", "none"])
def test_rows_match_a_direct_computation(data, normalize):
    x, y = data
    model = BrightnessAndEdges()
    result = Prober(x, y, split_probe(RADII), normalize=normalize, batch_size=10, split_name="val")(model)
    assert isinstance(result, ProbeResult)
    assert {r["split"] for r in result.rows} == {"val"}
    assert len(result.rows) == 2 * (1 + 2 * len(RADII))
    # a held-out split's originals are x / 255 under either normalize, as the official code fed its test set
    expected = {("original", None): direct(model, to_float(x), y, "none")}
    for r in RADII:
        low, high = split(to_float(x), r)
        expected[("low", r)] = direct(model, low, y, normalize)
        expected[("high", r)] = direct(model, high, y, normalize)
    for (component, radius), (correct, loss) in expected.items():
        assert torch.equal(result.correct[(component, radius)], correct)
        assert row_value(result.rows, component, radius, "accuracy") == pytest.approx(correct.float().mean().item())
        assert row_value(result.rows, component, radius, "loss") == pytest.approx(loss, rel=1e-5)
    accuracies = {row_value(result.rows, c, r, "accuracy") for c, r in expected}
    assert len(accuracies) >= 2                                  # the components really differ


def test_chunked_path_equals_cached_path(data):
    x, y = data
    model = BrightnessAndEdges()
    cached = Prober(x, y, split_probe(RADII), batch_size=16)
    chunked = Prober(x, y, split_probe(RADII), batch_size=16, max_bytes=5 * 3 * 16 * 16 * 4 * len(RADII) * 2)
    one_by_one = Prober(x[:12], y[:12], split_probe(RADII), batch_size=16, max_bytes=1)
    assert cached.cached and not chunked.cached and not one_by_one.cached
    reference, other, small = cached(model), chunked(model), one_by_one(model)
    assert other.correct.keys() == reference.correct.keys() == small.correct.keys()
    for key in reference.correct:
        assert torch.equal(other.correct[key], reference.correct[key])
        assert torch.equal(small.correct[key], reference.correct[key][:12])
    for a, b in zip(reference.rows, other.rows):
        assert a.keys() == b.keys() and a["value"] == pytest.approx(b["value"], rel=1e-5)


def test_model_runs_in_eval_mode_and_modes_are_restored(data):
    x, y = data
    model = nn.Sequential(BrightnessAndEdges(), nn.Dropout(0.5))
    model.train()
    model[1].eval()                                              # a mixed state must survive too
    inner = model[0]
    Prober(x, y, split_probe(RADII), batch_size=N)(model)
    assert inner.modes_seen and not any(inner.modes_seen)
    assert model.training and inner.training and not model[1].training
    model.eval()
    Prober(x, y, split_probe(RADII))(model)
    assert not model.training and not inner.training


def test_without_variants_only_the_originals_are_evaluated(data):
    x, y = data
    model = BrightnessAndEdges()
    result = Prober(x, y, split_probe(RADII))(model, with_variants=False)
    assert set(result.correct) == {("original", None)}
    assert {(r["component"], r["metric"]) for r in result.rows} == {("original", "accuracy"), ("original", "loss")}


def test_autocast_runs_and_agrees(data):
    x, y = data
    model = BrightnessAndEdges()
    plain = Prober(x, y, split_probe(RADII))(model)
    mixed = Prober(x, y, split_probe(RADII))(model, autocast_dtype=torch.bfloat16)
    agree = (mixed.correct[("original", None)] == plain.correct[("original", None)]).float().mean()
    assert agree > 0.9


def test_report_cells_match_per_example_correctness(data):
    x, y = data
    result = Prober(x, y, split_probe(RADII))(BrightnessAndEdges())
    report = probe_report(result.correct, RADII)
    assert list(report.columns) == ["radius", "lfc_only", "hfc_only", "both", "neither", "lfc_total", "hfc_total"]
    assert list(report["radius"]) == RADII
    for _, row in report.iterrows():
        low = result.correct[("low", row["radius"])].tolist()
        high = result.correct[("high", row["radius"])].tolist()
        pairs = list(zip(low, high))
        assert row["lfc_only"] == pairs.count((True, False))
        assert row["hfc_only"] == pairs.count((False, True))
        assert row["both"] == pairs.count((True, True))
        assert row["neither"] == pairs.count((False, False))
        assert row["lfc_only"] + row["hfc_only"] + row["both"] + row["neither"] == N
        assert row["lfc_total"] == sum(low) and row["hfc_total"] == sum(high)
        examples = hfc_only_examples(result.correct, row["radius"])
        assert examples.dtype == torch.long
        assert examples.tolist() == [i for i, p in enumerate(pairs) if p == (False, True)]
    assert report[["lfc_only", "hfc_only"]].to_numpy().sum() > 0


def test_report_needs_the_radius_and_renders(data):
    x, y = data
    result = Prober(x, y, split_probe([4]))(BrightnessAndEdges())
    with pytest.raises(AblateError, match="radius 8"):
        probe_report(result.correct, [4, 8])
    report = probe_report(result.correct, [4])
    from rich.console import Console
    console = Console(file=io.StringIO(), width=120)
    console.print(report_table(report, title="probe of a tiny model"))
    text = console.file.getvalue()
    assert "probe of a tiny model" in text and "hfc only" in text
    assert str(int(report["lfc_total"][0])) in text


def test_example_grid_is_a_png(data, tmp_path):
    x, y = data
    low, high = split(x, 4)
    path = save_example_grid(x, low, high, torch.tensor([3, 1, 7]), tmp_path / "grid.png",
                             Captions(classes=["a", "b", "c"], labels=y), n=2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    picture = matplotlib.image.imread(path)
    assert picture.ndim == 3 and picture.shape[0] > picture.shape[1] * 0.5   # two rows of three panels
    empty = save_example_grid(x, low, high, [], tmp_path / "none.png")
    assert empty.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(AblateError, match="same shape"):
        save_example_grid(x, *split(x, [4, 8]), [0], tmp_path / "bad.png")


def test_write_probe_report(data, tmp_path):
    x, y = data
    data_set = Data(x, y, x, y, ["a", "b", "c"])
    settings = Settings(report_radii=[1, 4, 8], eval_batch_size=20)
    model = BrightnessAndEdges()
    report = write_probe_report(model, data_set, settings, tmp_path / "out")
    assert (tmp_path / "out" / "examples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    import pandas as pd
    on_disk = pd.read_csv(tmp_path / "out" / "probe_report.csv")
    assert on_disk.to_dict("list") == report.to_dict("list")
    expected = probe_report(Prober(x, y, split_probe([1, 4, 8]), batch_size=20)(model).correct, [1, 4, 8])
    assert report.equals(expected)


def test_rejects_bad_arguments(data):
    x, y = data
    with pytest.raises(AblateError, match="labels"):
        Prober(x, y[:-1], split_probe(RADII))
    with pytest.raises(AblateError, match="normalize"):
        Prober(x, y, split_probe(RADII), normalize="std")
    with pytest.raises(AblateError, match="batch_size"):
        Prober(x, y, split_probe(RADII), batch_size=0)
    with pytest.raises(AblateError, match="radi"):
        Prober(x, y, split_probe([4, -1]))


# --------------------------------------------------------------------------
# The probe seam: probes registered by plugins (ablate_register_probes)
# --------------------------------------------------------------------------

def rings(images, radii, width):
    """Band-pass rings [r, r + width): a probe with an extra label column, as a later plugin would add."""
    variants = []
    for r in radii:
        inner, outer = split(images, r)[0], split(images, r + width)[0]
        variants.append(ablate.Variant({"component": "band", "radius": r, "outer_radius": r + width}, outer - inner))
    return variants


class RingsPlugin(ablate.Plugin):
    name = "rings_test"

    @ablate.hookimpl
    def ablate_register_probes(self, register):
        register("rings", ablate.Probe(rings, params=[
            ablate.Param("radii", list, [0, 4], "inner radii"),
            ablate.Param("width", float, 4.0, "ring width", minimum=1),
        ]), help="band-pass rings")


def probes():
    return get_registry().registry("probes")


def test_a_plugin_probe_is_evaluated_with_its_own_label_columns(data, ablate_plugin):
    ablate_plugin(RingsPlugin)
    x, y = data
    model = BrightnessAndEdges()
    bound = bind_probe(probes(), "rings", {"width": 2}, "test")
    result = Prober(x, y, bound, normalize="max", batch_size=10)(model)
    assert set(result.correct) == {("original", None), ("band", 0, 2.0), ("band", 4, 6.0)}
    for r in (0, 4):
        band = split(to_float(x), r + 2.0)[0] - split(to_float(x), r)[0]
        correct, loss = direct(model, band, y, "max")
        assert torch.equal(result.correct[("band", r, r + 2.0)], correct)
        (row,) = [row for row in result.rows if row["radius"] == r and row["metric"] == "loss"]
        assert row["component"] == "band" and row["outer_radius"] == r + 2.0
        assert row["value"] == pytest.approx(loss, rel=1e-5)
    frame = results_frame([{**row, "run": "a", "epoch": 1} for row in result.rows])
    assert list(frame.columns) == RESULT_COLUMNS + ["outer_radius"]
    assert frame["outer_radius"].isna().sum() == 2                 # the originals' two rows have none
    chunked = Prober(x, y, bound, normalize="max", batch_size=10, max_bytes=1)(model)
    assert not Prober(x, y, bound, max_bytes=1).cached
    for key, correct in result.correct.items():
        assert torch.equal(chunked.correct[key], correct)


def test_probe_parameters_are_checked_by_their_params(ablate_plugin):
    ablate_plugin(RingsPlugin)
    with pytest.raises(AblateError, match=r"probe rings\.width: found 0\.5, must be >= 1"):
        bind_probe(probes(), "rings", {"width": 0.5}, "run a")
    with pytest.raises(AblateError, match="unknown parameter 'depth'; allowed: radii, width"):
        bind_probe(probes(), "rings", {"depth": 1}, "run a")
    with pytest.raises(AblateError, match="no probe named 'ringz'"):
        bind_probe(probes(), "ringz", {}, "run a")
    assert bind_probe(probes(), "rings", {}, "run a").keywords == {"radii": [0, 4], "width": 4.0}


def test_split_through_the_registry_gives_the_split_rows(data):
    x, y = data
    model = BrightnessAndEdges()
    assert probes()["split"][2] == "probes"                          # registered by the built-in plugin
    for inclusive in (False, True):
        bound = bind_probe(probes(), "split", {"radii": RADII, "inclusive": inclusive}, "test")
        through_registry = Prober(x, y, bound)(model)
        direct_split = Prober(x, y, split_probe(RADII, inclusive))(model)
        assert through_registry.rows == direct_split.rows
        assert [(r["component"], r["radius"]) for r in through_registry.rows[::2]] == (
            [("original", None)] + [("low", r) for r in RADII] + [("high", r) for r in RADII])
        assert all(row.keys() == {"split", "component", "radius", "metric", "value"} for row in through_registry.rows)
    defaults = bind_probe(probes(), "split", {}, "test").keywords
    assert defaults == {"radii": Settings().radii, "inclusive": Settings().inclusive}


def test_a_probe_limit_on_class_sorted_data_holds_every_class(data):
    x, y = data[0], torch.arange(N) // (N // 3)                       # class 0, then 1, then 2, like an image folder
    planned = [PlannedProbe("split", split_probe(RADII), "epochs", limit) for limit in (12, N + 1)]
    (_, limited), (_, whole) = planned_probers(planned, {"test": (x, y)})
    assert torch.bincount(limited.y).tolist() == [4, 4, 4]
    assert torch.equal(whole.y, y)                                  # a limit past the split takes all of it


class Recorder(nn.Module):
    """Keeps every batch it is given; answers class 0."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x.clone())
        return torch.zeros(len(x), 3)


def dimmed(images):
    """One tensor twice: as a component the run's scaling applies to, and as the model's input already."""
    made = images * 0.6
    return [ablate.Variant({"component": "scaled"}, made), ablate.Variant({"component": "as_is"}, made, rescale=False)]


def test_a_variant_made_with_rescale_false_reaches_the_model_as_it_is(data):
    x, y = data
    made = to_float(x) * 0.6
    assert not torch.allclose(model_input(made, "max"), made)          # "max" would change it
    for normalize in ("max", "none"):
        recorder = Recorder()
        Prober(x, y, dimmed, normalize=normalize, batch_size=N, originals=False)(recorder)
        assert len(recorder.seen) == 2, normalize             # the shared tensor is evaluated once per flag
        assert torch.allclose(recorder.seen[0], model_input(made, normalize), atol=1e-6)
        assert torch.allclose(recorder.seen[1], made, atol=1e-6)


@pytest.mark.parametrize("function, message", [
    (lambda images: images, "must return a list of ablate.Variant"),
    (lambda images: [ablate.Variant({"radius": 1}, images)], "need a 'component'"),
    (lambda images: [ablate.Variant({"component": "c", "metric": "x"}, images)], "may not use"),
    (lambda images: [ablate.Variant({"component": "c"}, images[:, :1])], "must have the shape"),
    (lambda images: [ablate.Variant({"component": "c", "n": len(images)}, images)], "same variants for every chunk"),
])
def test_a_probe_that_breaks_the_contract_is_refused(data, function, message):
    x, y = data
    with pytest.raises(AblateError, match=message):
        Prober(x, y, function, max_bytes=4 * x[0].numel() * 4)(BrightnessAndEdges())   # uncached, 4 a chunk
    with pytest.raises(AblateError, match=message):
        Prober(x, y, function)                                          # cached: checked when made
