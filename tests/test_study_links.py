"""A shared study folder whose files are links to files elsewhere: report, status, compare and the leaderboard
refuse them in one line, and nothing of the linked file reaches a page, a table or a warning."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner
from test_zoo_leaderboard import probe_args, write_zoo

from ablate.cli import cli
from ablate.core.schema import MEASURED
from ablate.execution.runner import run_recipe

from conftest import TINY

MARKER = "leaked7f3a9c"          # in every linked file: it must not come out anywhere
NUMBER = 734501                  # where a number is what would be shown (epochs, counts)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One tiny trained recipe (one run, ``x``): its output folder."""
    root = tmp_path_factory.mktemp("study")
    path = root / "tiny.toml"
    path.write_text(TINY + '\n[[runs]]\nname = "x"\n')
    run_recipe(path, "smoke", out=root / "out", report=False)
    return root / "out" / "tiny"


def results_of_another_study(out) -> str:
    frame = pd.read_csv(out / "results.csv")
    frame["run"] = MARKER
    return frame.to_csv(index=False)


def json_with(out, name, **fields) -> str:
    return json.dumps({**json.loads((out / name).read_text()), **fields})


def run_file(out, name) -> str:
    return f"{next(out.glob('x-*')).name}/{name}"


# file of the study -> (the linked file's contents from the study folder, files removed first, layout, commands)
REPORT, HTML, STATUS, COMPARE = ["report"], ["report", "--html"], ["status"], ["compare"]
LINKS = {
    "results.csv": (results_of_another_study, [], None, [REPORT, HTML, COMPARE]),
    "results.csv (not a table)": (lambda out: f"{MARKER},secret\n1,2\n", [], None, [REPORT]),
    "recipe.json": (lambda out: json_with(out, "recipe.json", text=MARKER, description=MARKER),
                    [], None, [REPORT, HTML, STATUS, COMPARE]),
    "jobs.json": (lambda out: json.dumps({"x": MARKER}), [], None, [STATUS]),
    "RUN/config.json": (lambda out: json_with(out, run_file(out, "config.json"), host=MARKER),
                        [], None, [HTML]),
    "RUN/done.json": (lambda out: json.dumps({"finished": MARKER, "seconds": 1}), [], None, [HTML, STATUS]),
    "RUN/failed.json": (lambda out: json.dumps({"error": MARKER}), ["RUN/done.json"], None, [STATUS]),
    "RUN/running.json": (lambda out: json.dumps({"host": MARKER, "pid": 1, "started": MARKER}), ["RUN/done.json"],
                         None, [STATUS]),
    "RUN/metrics.csv": (lambda out: f"epoch\n{NUMBER}\n", [], None, [STATUS]),
    "RUN/checkpoint.pt": (lambda out: (out / run_file(out, "checkpoint.pt")).read_bytes(), [], "adversarial",
                          [REPORT, HTML]),
    "RUN/probe_report.csv": (lambda out: f"radius,lfc_only,hfc_only,both,neither\n4,{NUMBER},1,1,1\n", [], "figure1",
                             [REPORT, HTML]),
    "RUN/examples.png": (lambda out: (out.parent.parent / "marker.png").read_bytes(), [], "figure1", [HTML]),
}


def planted(out, tmp_path, name):
    """A copy of the study with ``name`` a link to a file outside it; the copy and the linked file."""
    make, removed, layout, _ = LINKS[name]
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    relative = name.split(" ")[0].replace("RUN/", run_file(out, ""))
    target = tmp_path / "elsewhere" / relative.replace("/", "-")
    target.parent.mkdir()
    content = make(out)
    target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
    for other in removed:
        (copy / other.replace("RUN/", run_file(out, ""))).unlink()
    if layout:
        plan = json.loads((copy / "recipe.json").read_text())
        (copy / "recipe.json").write_text(json.dumps({**plan, "report": layout}))
    (copy / relative).unlink(missing_ok=True)
    (copy / relative).symlink_to(target)
    return copy, target


@pytest.fixture(scope="module")
def marker_png(study):
    """An image elsewhere, standing for any picture of the user's (an examples.png link may point at it)."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 1))
    fig.text(0.1, 0.5, MARKER)
    fig.savefig(study.parent.parent / "marker.png")
    plt.close(fig)


@pytest.mark.parametrize("name", list(LINKS))
def test_a_link_out_of_the_study_is_refused_and_nothing_of_its_file_comes_out(name, study, marker_png, tmp_path):
    copy, target = planted(study, tmp_path, name)
    for command in LINKS[name][3]:
        page = tmp_path / "page.html"
        arguments = {"compare": ["compare", str(study), str(copy)]}.get(command[0], [command[0], str(copy)])
        if command == HTML:
            arguments = ["report", str(copy), "--html", str(page)]
        result = CliRunner().invoke(cli, arguments, terminal_width=400)
        said = result.output
        assert result.exit_code == 2, f"{command}: {said}"
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "leads outside" in lines[0] and str(target) in lines[0], f"{command}: {said}"
        assert MARKER not in said and str(NUMBER) not in said, f"{command}: {said}"
        assert not page.exists()


def test_a_link_that_stays_in_the_study_is_read(study, tmp_path):
    """The rule is where a file resolves, not whether it is a link: a link to a file of the same study is fine."""
    copy = tmp_path / "copy"
    shutil.copytree(study, copy)
    (copy / "results.csv").rename(copy / "kept.csv")
    (copy / "results.csv").symlink_to("kept.csv")
    result = CliRunner().invoke(cli, ["report", str(copy)], terminal_width=400)
    assert result.exit_code == 0, result.output
    assert "x" in result.output and "leads outside" not in result.output


def test_a_linked_measurement_or_example_grid_is_refused_by_the_leaderboard(tmp_path):
    zoo = write_zoo(tmp_path / "zoo.toml", ["low", "high"])
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    first = CliRunner().invoke(cli, probe_args(zoo, out, "--rank"))
    assert first.exit_code == 0, first.output
    elsewhere.mkdir()
    kept = next((out / MEASURED).iterdir())
    shutil.move(kept, elsewhere / kept.name)
    kept.symlink_to(elsewhere / kept.name)
    again = CliRunner().invoke(cli, probe_args(zoo, out, "--rank", "--html", str(tmp_path / "board.html")))
    assert again.exit_code == 2 and "leads outside" in again.stderr and "read back" not in again.output
    assert not (tmp_path / "board.html").exists()
    # an example grid linked to a file of the user's is neither overwritten nor put on the page
    kept.unlink()
    shutil.move(elsewhere / kept.name, kept)
    secret = elsewhere / "notes.txt"
    secret.write_text(MARKER)
    (out / "examples-low.png").unlink()
    (out / "examples-low.png").symlink_to(secret)
    third = CliRunner().invoke(cli, probe_args(zoo, out, "--rank", "--html", str(tmp_path / "board.html")))
    assert third.exit_code == 2 and "examples-low.png leads outside" in " ".join(third.stderr.split())
    assert secret.read_text() == MARKER and not (tmp_path / "board.html").exists()
