"""What a report prints, as HTML: the same rich tables and lines the console shows, and the figures inline.

A layout prints to a console and hands its figures to
:func:`ablate.report.tables.print_figure`. Given a :class:`PageConsole`, it prints
exactly the same objects, which the console keeps instead of showing, and its
figures are kept as PNG images instead of written to disk. :func:`to_html` then
turns each kept object into HTML: a rich ``Table`` into a ``<table>`` with the
same header and cells (the ``±`` and the best / worst marks included, their
colours as inline styles), markup into styled spans. So the page and the console
share one table logic: the layouts'. Every text is escaped: run names, plugin
parameters and recipe text come from users.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass

from PIL import Image as PILImage
from rich.console import Console, Group
from rich.errors import MarkupError
from rich.style import Style
from rich.table import Table
from rich.text import Text

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")      # what a page cannot hold as it is
WIDE = 100_000             # the page scrolls sideways: no table is split to fit a width
FIGURE_DPI = 96            # figures on the page: a screen's resolution (files on disk keep theirs)
MAX_IMAGE_WIDTH = 1600     # pixels; larger images (example grids) are scaled down for the page


def page_text(text: str) -> str:
    """Text escaped for the page: HTML's own characters, and control characters (a NUL, a terminal's escape
    sequence; a page cannot hold them) shown as their ``\\xNN`` codes, so a name reads as it was given."""
    return CONTROL.sub(lambda found: f"\\x{ord(found[0]):02x}", html.escape(text))


@dataclass
class Image:
    """An image for the page: PNG bytes and what it shows."""

    png: bytes
    caption: str

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class Printed:
    """One ``console.print`` call: its objects, and whether strings among them are markup."""

    objects: tuple
    markup: bool = True


class PageConsole(Console):
    """A console that keeps what a report prints, and its figures, for a page; it shows nothing."""

    def __init__(self) -> None:
        super().__init__(file=io.StringIO(), width=WIDE, color_system="truecolor", force_terminal=False)
        self.items: list = []
        self.captions: set[str] = set()       # of every image offered, shown or not (damaged)

    def print(self, *objects, markup: bool | None = None, **_) -> None:     # noqa: A003 (Console's name)
        self.items.append(Printed(objects, markup is not False))

    def keep_figure(self, fig, name: str) -> None:
        """Called by :func:`ablate.report.tables.print_figure` instead of writing the figure's files."""
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=FIGURE_DPI)
        self.items.append(Image(compact_png(buffer.getvalue()), name))

    def keep_image(self, png: bytes, caption: str) -> None:
        """Called by :func:`ablate.report.tables.print_image` (an image file a run wrote, such as its examples)."""
        self.captions.add(caption)
        try:
            self.items.append(Image(compact_png(png), caption))
        except (OSError, ValueError):                   # PIL's UnidentifiedImageError is an OSError
            self.items.append(Printed((Text(f"{caption}: not shown, the image file is damaged"),)))


def compact_png(png: bytes) -> bytes:
    """The image at most MAX_IMAGE_WIDTH wide, in at most 256 colours (plots and grids lose nothing visible;
    the page is several times smaller)."""
    picture = PILImage.open(io.BytesIO(png)).convert("RGB")
    if picture.width > MAX_IMAGE_WIDTH:
        picture = picture.resize((MAX_IMAGE_WIDTH, round(picture.height * MAX_IMAGE_WIDTH / picture.width)),
                                 PILImage.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.quantize(colors=256, method=PILImage.Quantize.MEDIANCUT).save(out, format="PNG", optimize=True)
    smaller = out.getvalue()
    return smaller if len(smaller) < len(png) else png


def as_text(value, markup: bool = True) -> Text:
    """A table cell or printed string as rich Text, read the way the console reads it."""
    if isinstance(value, Text):
        return value
    if markup and isinstance(value, str):
        try:
            return Text.from_markup(value)
        except MarkupError:
            pass
    return Text(str(value))


_SEGMENTS = Console(file=io.StringIO(), width=WIDE, color_system="truecolor")


def text_html(text: Text) -> str:
    """Text as escaped HTML, each styled run of it in a span with the style's CSS (colour, bold, italic)."""
    if text.style:                        # the text's own style (a title's italics) under its spans' styles
        text = text.copy()
        text.stylize_before(text.style)
        text.style = ""
    parts = []
    for segment in text.render(_SEGMENTS, end=""):
        content = page_text(segment.text)
        css = style_css(segment.style)
        parts.append(f'<span style="{css}">{content}</span>' if css else content)
    return "".join(parts)


def style_css(style: Style | None) -> str:
    return html.escape(style.get_html_style()) if style else ""


def table_html(table: Table) -> str:
    """A rich Table as an HTML table: the same title, headers, cells, alignment and sections."""
    columns = table.columns
    align = ['' if c.justify in ("left", "default") else f' class="{c.justify}"' for c in columns]
    caption = f"<caption>{text_html(as_text(table.title))}</caption>" if table.title else ""
    head = "".join(f"<th{a}>{text_html(as_text(c.header))}</th>" for c, a in zip(columns, align))
    cells = [list(c.cells) for c in columns]
    bodies, rows = [], []
    for i in range(table.row_count):
        rows.append("<tr>" + "".join(f"<td{a}>{text_html(as_text(column[i]) if i < len(column) else Text())}</td>"
                                     for column, a in zip(cells, align)) + "</tr>")
        if table.rows[i].end_section or i == table.row_count - 1:
            bodies.append("<tbody>" + "".join(rows) + "</tbody>")
            rows = []
    return f'<div class="scroll"><table>{caption}<thead><tr>{head}</tr></thead>{"".join(bodies)}</table></div>'


def plain_text(renderable) -> str:
    """Anything else rich can print, as the console would print it, without colours."""
    console = Console(file=io.StringIO(), width=120, color_system=None, record=True)
    console.print(renderable)
    return console.export_text()


def to_html(item, markup: bool = True) -> str:
    """HTML of what a PageConsole kept (or of one rich renderable)."""
    if isinstance(item, Printed):
        strings = [o for o in item.objects if isinstance(o, (str, Text))]
        if len(strings) == len(item.objects):          # one printed line: its parts joined as the console joins them
            return "<p>" + text_html(Text(" ").join(as_text(o, item.markup) for o in item.objects)) + "</p>"
        return "".join(to_html(o, item.markup) for o in item.objects)
    if isinstance(item, Image):
        return (f'<figure><img src="{item.data_uri()}" alt="{page_text(item.caption)}">'
                f"<figcaption>{page_text(item.caption)}</figcaption></figure>")
    if isinstance(item, Group):
        return "".join(to_html(r, markup) for r in item.renderables)
    if isinstance(item, Table):
        return table_html(item)
    if isinstance(item, (str, Text)):
        return f"<p>{text_html(as_text(item, markup))}</p>"
    return f"<pre>{page_text(plain_text(item))}</pre>"
