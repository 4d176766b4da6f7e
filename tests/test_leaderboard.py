"""The leaderboard: planted preferences ranked, separated pairs marked, the CSV and the self-contained page."""

import math

import torch

from ablate.any_model import leaderboard
from ablate.any_model.reliance import Reliance

from planted_models import RADII


def entry(name, value, low, high):
    return leaderboard.RankedModel(name, 100, 0.9, Reliance(value, low, high, {}), Reliance(math.nan, math.nan, math.nan, {}))


def test_planted_models_rank_high_reader_first(planted):
    entries = leaderboard.rank([planted["low reader"], planted["high reader"]], RADII, resamples=200)
    assert [e.model for e in entries] == ["high reader", "low reader"]
    assert leaderboard.clearly_above(entries) == [[2], []]
    table = leaderboard.frame(entries, RADII)
    assert list(table["rank"]) == [1, 2]
    ratios = table.loc[0, [f"hfc_r{r}" for r in RADII]].astype(float)
    assert table.loc[0, "hfc_reliance"] == ratios.mean()      # the summary is the mean of the kept ratios


def test_only_pairs_with_disjoint_intervals_are_marked():
    entries = [entry("a", 0.9, 0.85, 0.95), entry("b", 0.8, 0.7, 0.86), entry("c", 0.5, 0.4, 0.6),
               entry("d", math.nan, math.nan, math.nan)]
    assert leaderboard.clearly_above(entries) == [[3], [3], [], []]


def test_models_without_a_value_rank_last():
    measured = []
    for name, right in (("none right", torch.zeros(20, dtype=torch.bool)), ("some right", torch.arange(20) % 2 == 0)):
        class M:           # the two fields rank() reads
            pass
        m = M()
        m.name, m.correct = name, {("original", None): right, ("high", 4): right, ("low", 4): right}
        measured.append(m)
    assert [e.model for e in leaderboard.rank(measured, [4], resamples=50)] == ["some right", "none right"]


def test_the_page_holds_the_table_figure_and_examples(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = [entry("<b>sneaky</b>", 0.9, 0.85, 0.95), entry("plain", 0.5, 0.4, 0.6)]
    figure = plt.figure()
    plt.plot([0, 1], [0, 1])
    with open(tmp_path / "x.png", "wb") as handle:
        figure.savefig(handle, format="png")
    page = leaderboard.write_page(tmp_path / "board.html", entries, [4, 8], "2 models", figure,
                                  {"plain": (tmp_path / "x.png").read_bytes()}).read_text()
    assert "&lt;b&gt;sneaky&lt;/b&gt;" in page and "<b>sneaky" not in page      # names are escaped
    assert page.count('<img src="data:image/png;base64,') == 2                   # self-contained
    assert not any(f'{attribute}="http' in page for attribute in ("src", "href"))
    assert "0.900 [0.850, 0.950]" in page and "#2" in page
    assert page.index("sneaky") < page.index(">plain<")                          # in rank order
