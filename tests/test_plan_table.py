"""The dry-run table fits an 80-column console: run names and numbers whole, plugin lists shortened."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from ablate.cli import cli
from ablate.execution.plan_table import plan_table
from ablate.report.value_text import format_number
from ablate.study.expansion import expand
from ablate.study.recipe_file import load_recipe


def dry_run(*args: str, columns: int = 80) -> str:
    result = CliRunner(env={"COLUMNS": str(columns)}).invoke(cli, ["recipe", *args, "--dry-run"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("value, text", [(1e-4, "1e-4"), (3e-3, "3e-3"), (2.5e-4, "2.5e-4"), (0.015, "0.015"),
                                         (0.0075, "0.0075"), (0.5, "0.5"), (1.0, "1"), (1e6, "1e6"), (100, "100"),
                                         ("pool", "pool"), (False, "False")])
def test_numbers_read_as_people_write_them(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize("scale", ["paper", "smoke"])
def test_figure5_fits_80_columns_with_every_run_name_and_number_whole(scale):
    output = dry_run("figure5", "--scale", scale)
    assert "…" not in output
    assert max(len(line) for line in output.splitlines()) <= 80
    runs = expand(load_recipe("figure5"), scale)
    for run in runs:
        s = run.settings
        row = next(line for line in output.splitlines() if re.match(rf"\W*{run.name}\b", line))
        cells = [cell.strip() for cell in re.split(r"[│┃]", row)]
        assert cells[1] == run.name
        assert [str(s.epochs), str(s.batch_size), format_number(s.lr), run.short_hash] == \
               [cells[3], cells[4], cells[5], cells[8]]          # cells[6]: the radii
    # what every run shares is said once, under the table; the radii are not shared (the adversarial run
    # probes to 28, as the official adversarial script) and wrap between whole numbers
    text = " ".join(output.split())
    assert f"every run: dataset {runs[0].settings.dataset}" in text and "radii 4 8 12 16" not in text
    cells = [c.strip() for line in output.splitlines() for c in re.split(r"[│┃]", line)[6:7]]
    assert "28" in " ".join(cells).split() and not any(c.endswith((" 2", " 1")) for c in cells)


def test_plugins_show_only_values_that_differ_from_their_defaults_unless_wide():
    runs = expand(load_recipe("figure5"), "smoke")
    short = plan_table(runs).set_index("run")["plugins"]
    assert short["vanilla"] == "-" and short["dropout"] == "dropout"
    assert short["adversarial"] == "pgd(eps=0.01, steps=2, step_size=0.01)"
    wide = plan_table(runs, wide=True).set_index("run")["plugins"]
    assert wide["dropout"] == "dropout(p=0.5, where=pool)"
    assert wide["adversarial"].startswith("pgd(eps=0.01, steps=2, step_size=0.01, random_start=False")


def test_wide_shows_every_parameter_and_the_whole_folder_name_however_narrow_the_console():
    output = dry_run("figure5", "--scale", "smoke", "--wide")
    adversarial = next(r for r in expand(load_recipe("figure5"), "smoke") if r.name == "adversarial")
    assert "…" not in output
    assert "random_start=False" in output and adversarial.dir_name in output
    assert "synthetic" in output and "resnet18 x0.125" in output
