"""`ablate report DIR --html`: one self-contained page with the console's tables, the figures and provenance."""

from __future__ import annotations

import base64
import io
import json
import os
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from rich.console import Console
from test_report import FINAL, metric_rows, table_rows, write_study
from test_seeds import seeded_study

import ablate
from ablate import report
from ablate.cli import cli
from ablate.report.html import write_page
from ablate.spectral.example_grid import Captions, save_example_grid

from headless_chromium import Chromium, find_chromium

RUNS = ["vanilla", "dropout", "mixup", "batchnorm", "adversarial"]
HOSTILE = '<script>alert("run")'          # a run name (no slash: it names a folder too)


class Page(HTMLParser):
    """What a page holds: its tables (per section), images, every URL it names, tags, and its text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []           # {"section", "rows": [[cell text]]}, header row first
        self.images: list[dict] = []
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self.text: list[str] = []
        self.section = None
        self.cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        self.urls += [value for name, value in attrs.items() if name in ("src", "href", "srcset", "action")]
        if tag == "section":
            self.section = attrs.get("id")
        elif tag == "table":
            self.tables.append({"section": self.section, "rows": []})
        elif tag == "tr":
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "img":
            self.images.append(attrs)

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1]["rows"][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        self.text.append(data)
        if self.cell is not None:
            self.cell.append(data)

    def rows(self, section: str = "report") -> dict[str, list[str]]:
        """``{first cell: other cells}`` of every body row of the section's tables (as ``table_rows`` reads text)."""
        found = {}
        for table in self.tables:
            if table["section"] == section:
                for row in table["rows"][1:]:
                    found.setdefault(row[0], row[1:])
        return found


def decoded(image: dict) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert image["src"].startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(image["src"][len(prefix):], validate=True)))


def console_text(out: Path) -> str:
    """The report as the console prints it, wide enough that no table is split; the claims table, which the
    page shows in a section of its own, left out."""
    console = Console(record=True, width=1000, file=io.StringIO())
    report.print_report(out, console, claims=False)
    return console.export_text()


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    """figure5 trained at smoke scale and its page written by the CLI (default path)."""
    out = tmp_path_factory.mktemp("html")
    runner = CliRunner(env={"COLUMNS": "250"})
    trained = runner.invoke(cli, ["recipe", "figure5", "--scale", "smoke", "--out", str(out), "--quiet"])
    assert trained.exit_code == 0, trained.output
    written = runner.invoke(cli, ["report", str(out / "figure5"), "--html"])
    assert written.exit_code == 0, written.output
    assert "report.html" in written.output and "self-contained" in written.output
    return out / "figure5"


def test_a_smoke_run_page_is_small_self_contained_and_holds_the_study(smoke):
    path = smoke / "report.html"
    assert path.stat().st_size < 1_000_000                  # measured: about 0.07 MB
    text = path.read_text()
    page = Page(text)
    assert not {"script", "link", "iframe", "object", "embed"} & page.tags
    assert "url(" not in text and "@import" not in text
    assert all(url.startswith(("data:image/png;base64,", "#")) for url in page.urls), page.urls
    # the report's table: every run, its cells as the console prints them
    assert set(page.rows()) == set(RUNS)
    assert page.rows() == table_rows(console_text(smoke))
    claims = page.rows("claims")                           # the recipe's claims, checked, in their own section
    assert any(claim.startswith("Mix-up catches much more of the HFC") for claim in claims), list(claims)
    images = [decoded(image) for image in page.images]
    assert len(images) == 1 and images[0].width > 600            # figure5's curves, one panel per run
    assert np.asarray(images[0].convert("L")).std() > 10          # not blank
    # provenance per run, from the run folders
    plan = json.loads((smoke / "recipe.json").read_text())
    outcome = page.rows("runs")
    for entry in plan["runs"]:
        config = json.loads((smoke / entry["dir"] / "config.json").read_text())
        assert outcome[entry["name"]][:3] == ["finished", "0", config["hash"]]
        assert outcome[entry["name"]][3].endswith(" s")                   # wall time
    assert "pgd(eps=0.01, steps=2" in outcome["adversarial"][-1]          # every plugin parameter
    # the recipe as it was run, the settings, the versions
    words = " ".join(page.text)
    assert plan["text"] == Path(plan["source"]).read_text() and plan["text"].strip() in words
    assert page.rows("settings")["dataset"] == ["synthetic"]
    assert page.rows("versions")[ablate.__version__][:1] == [torch.__version__]


def test_seeded_tables_keep_the_consoles_intervals_and_marks(tmp_path):
    out = seeded_study(tmp_path / "study", {"vanilla": 0.0, "mixup": 0.05, "dropout": 0.0})
    page = Page(write_page(out).read_text())
    rows = page.rows()
    assert rows == table_rows(console_text(out))
    assert [t["rows"][0][:2] for t in page.tables if t["section"] == "report"] == [["run", "n"], ["run", "n"]]
    summary = page.rows()["mixup"]                      # the first table's row: n, train, test, gap
    assert summary[0] == "4" and " ± " in summary[2] and summary[2].endswith("▲")
    effects = [t for t in page.tables if t["section"] == "report"][1]["rows"]
    mixup = next(row for row in effects if row[0] == "mixup")
    assert mixup[3].startswith("+5.0 ± ") and mixup[3].endswith("*")      # a real effect on test, marked
    assert "Student t" in " ".join(page.text)


def test_marks_keep_their_colours(tmp_path):
    out = write_study(tmp_path / "study", metric_rows(FINAL))
    text = write_page(out).read_text()
    assert '<span style="color: #008000; text-decoration-color: #008000; font-weight: bold">78.0▲</span>' in text
    assert '<span style="color: #800000; text-decoration-color: #800000">70.0▼</span>' in text


def test_user_text_is_escaped(tmp_path):
    finals = {HOSTILE: FINAL["vanilla"], "mixup": FINAL["mixup"]}
    out = write_study(tmp_path / "study", metric_rows(finals),
                      runs=[{"name": HOSTILE, "plugins": {"mixup": {"note": "</pre><img src=x onerror=alert(1)>"}}},
                            {"name": "mixup", "status": "failed", "error": "<b>[red]boom[/]</b>"}])
    plan = json.loads((out / "recipe.json").read_text())
    plan |= {"description": "<iframe src=//evil>", "text": 'name = "</pre><script>alert(2)</script>"'}
    (out / "recipe.json").write_text(json.dumps(plan))
    text = write_page(out).read_text()
    page = Page(text)
    assert not {"script", "iframe", "b"} & page.tags
    assert len(page.images) == 1 and page.urls[-1].startswith("data:")    # the figure; no img from user text
    assert HOSTILE in page.rows() and HOSTILE in page.rows("runs")
    words = "".join(page.text)
    assert "</pre><img src=x onerror=alert(1)>" in words and "<b>[red]boom[/]</b>" in words
    assert '</pre><script>alert(2)</script>' in words and "<iframe src=//evil>" in words


def test_the_page_reads_no_file_outside_the_study_folder(tmp_path):
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN PRIVATE KEY----- s3cr3t")
    out = write_study(tmp_path / "study", metric_rows({"vanilla": FINAL["vanilla"]}))
    plan = json.loads((out / "recipe.json").read_text())
    (out / "recipe.json").write_text(json.dumps(plan | {"text": "", "source": str(secret)}))
    text = write_page(out).read_text()
    assert "s3cr3t" not in text and "PRIVATE KEY" not in text
    assert "the recipe's text is not available" in " ".join(Page(text).text)


def test_a_run_folder_outside_the_study_is_one_line(tmp_path):
    out = write_study(tmp_path / "study", metric_rows({"vanilla": FINAL["vanilla"]}))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "config.json").write_text(json.dumps({"hash": "s3cr3t"}))
    plan = json.loads((out / "recipe.json").read_text())
    plan["runs"][0]["dir"] = "../elsewhere"
    (out / "recipe.json").write_text(json.dumps(plan))
    result = CliRunner().invoke(cli, ["report", str(out), "--html"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'../elsewhere' would put files outside" in lines[0]
    assert not (out / "report.html").exists()


def test_probe_examples_are_embedded(tmp_path):
    out = write_study(tmp_path / "study", metric_rows({"vanilla": FINAL["vanilla"], "mixup": FINAL["mixup"]}))
    images = torch.rand(3, 3, 32, 32)
    save_example_grid(images, images / 2, images / 2, range(3), out / "vanilla-0123abcd" / "examples.png",
                      Captions(classes=[str(i) for i in range(10)], labels=torch.tensor([1, 2, 3])))
    (out / "mixup-0123abcd" / "examples.png").write_bytes(b"\x89PNG damaged")
    page = Page(write_page(out, tmp_path / "elsewhere" / "page.html").read_text())
    shown = [(image["alt"], decoded(image).size) for image in page.images]
    assert [alt for alt, _ in shown] == ["figure5", "vanilla: test images the HFC classifies right and the LFC wrong"]
    assert all(width > 100 and height > 100 for _, (width, height) in shown)
    assert "mixup: test images the HFC classifies right and the LFC wrong: not shown" in " ".join(page.text)


def test_an_unwritable_path_is_one_line(tmp_path):
    out = write_study(tmp_path / "study", metric_rows({"vanilla": FINAL["vanilla"]}))
    result = CliRunner().invoke(cli, ["report", str(out), "--html", str(tmp_path)])     # a folder
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert f"--html {tmp_path}: cannot write the page" in result.output


@pytest.mark.skipif(os.environ.get("ABLATE_REQUIRE_BROWSER") != "1",
                    reason="the headless-browser test runs with ABLATE_REQUIRE_BROWSER=1 (CI installs Chromium)")
def test_the_page_in_headless_chromium(smoke, tmp_path):
    executable = find_chromium()
    assert executable, "ABLATE_REQUIRE_BROWSER=1 but no Chromium found (apt-get install chromium, or ABLATE_CHROMIUM)"
    page = Page((smoke / "report.html").read_text())
    broken = tmp_path / "broken.html"           # the checks below can fail: a page that needs the network
    broken.write_text('<table><tr><td>x</td></tr></table><img src="http://example.com/a.png">')
    with Chromium(executable) as browser:
        browser.open(broken)
        assert browser.evaluate("document.images[0].naturalWidth") == 0
        assert browser.network_requests() == ["http://example.com/a.png"] and browser.console_errors()
    with Chromium(executable) as browser:
        browser.open(smoke / "report.html")
        tables = browser.evaluate("Array.from(document.querySelectorAll('table'), t => Array.from(t.rows, "
                                  "r => Array.from(r.cells, c => c.textContent.trim())))")
        assert tables == [table["rows"] for table in page.tables]
        assert {row[0] for row in tables[0][1:]} == set(RUNS)
        widths = browser.evaluate("Array.from(document.images, i => i.complete && i.naturalWidth)")
        assert len(widths) == len(page.images) and all(w > 0 for w in widths), widths
        assert browser.console_errors() == []
        assert browser.network_requests() == []
        shot = np.asarray(Image.open(io.BytesIO(browser.screenshot())).convert("L"), dtype=float)
    assert shot.shape[0] > 900 and shot.std() > 10           # the whole page, not a blank one
