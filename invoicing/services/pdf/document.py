"""The page machinery shared by the invoice and the credit-note PDFs (fpdf2).

Text is placed with ``FPDF.text`` at computed positions (amounts right-aligned by their measured
width) rather than with ``cell``: the layout is a fixed table, and ``cell``'s line-breaking and
markup machinery was the largest single cost of rendering an invoice.

Fonts: DejaVu Sans (bundled, see ``fonts/README.md``) for everything it has glyphs for; a string
with characters DejaVu lacks (Chinese, Japanese, Korean) is drawn in runs, those runs in Droid
Sans Fallback, which is only loaded into a document that needs it. fpdf2 embeds the subset of
glyphs used, so a PDF stays small.

Every page has a footer with the document's title and "Page n of N"; a table continues on the
next page with its headings repeated.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fontTools import ttLib  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.fonts import TTFFont

FONTS = Path(__file__).resolve().parent / "fonts"
REGULAR, BOLD, FALLBACK = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DroidSansFallback.ttf"
LEFT, RIGHT = 15.0, 195.0  # mm on A4 (210 x 297)
TOP, BOTTOM = 18.0, 276.0  # the footer sits below BOTTOM
ROW = 5.0
GREY = (90, 90, 90)
# fontTools logs every subsetting step at INFO: one line per table per PDF in the app's logs.
logging.getLogger("fontTools").setLevel(logging.WARNING)


@lru_cache(maxsize=1)
def _fallback_coverage() -> frozenset[int]:
    font = ttLib.TTFont(FONTS / FALLBACK, lazy=True)
    try:
        return frozenset(font.getBestCmap())
    finally:
        font.close()


@dataclass(frozen=True)
class Column:
    """A table column: its heading and the x its text starts at (left) or ends at (right)."""

    heading: str
    x: float
    align: str = "left"


class Document(FPDF):
    """An A4 document with one running title, Unicode text and paged tables."""

    def __init__(self, title: str, page_note: str = "") -> None:
        super().__init__(format="A4")
        self.title_text = title
        self.page_note = page_note  # said in the footer instead of "Page n of N"
        self.set_auto_page_break(auto=False)
        self.set_creator("Tally")
        self.set_title(title)
        self.add_font("DejaVu", "", FONTS / REGULAR)
        self.add_font("DejaVu", "B", FONTS / BOLD)
        regular = self.fonts["dejavu"]
        assert isinstance(regular, TTFFont)
        self.covered = regular.cmap
        self.has_fallback = False
        self.size_pt = 9.0
        self.bold = False
        self.y_pos = TOP
        self.columns: Sequence[Column] = ()
        self.add_page()

    # --- text ----------------------------------------------------------------------------
    def style(self, size: float = 9.0, bold: bool = False) -> None:
        self.size_pt, self.bold = size, bold
        self.set_font("DejaVu", "B" if bold else "", size)

    def _runs(self, text: str) -> list[tuple[bool, str]]:
        """``text`` split into (needs the fallback font, part) runs."""
        covered = self.covered
        runs: list[tuple[bool, str]] = []
        for char in text:
            fallback = ord(char) not in covered and ord(char) in _fallback_coverage()
            if runs and runs[-1][0] == fallback:
                runs[-1] = (fallback, runs[-1][1] + char)
            else:
                runs.append((fallback, char))
        return runs

    def _run_font(self, fallback: bool) -> None:
        if not fallback:
            self.set_font("DejaVu", "B" if self.bold else "", self.size_pt)
            return
        if not self.has_fallback:
            self.add_font("DroidFallback", "", FONTS / FALLBACK)
            self.has_fallback = True
        self.set_font("DroidFallback", "", self.size_pt)

    def width(self, text: str) -> float:
        total = 0.0
        for fallback, part in self._runs(text):
            self._run_font(fallback)
            total += self.get_string_width(part)
        self._run_font(False)
        return total

    def put(self, x: float, text: str, align: str = "left", y: float | None = None) -> None:
        """Draw ``text`` starting at ``x`` (or ending at it, right-aligned) on the current row."""
        if not text:
            return
        runs = self._runs(text)
        if align == "right":
            x -= self.width(text)
        for fallback, part in runs:
            self._run_font(fallback)
            self.text(x, self.y_pos if y is None else y, part)
            x += self.get_string_width(part)
        self._run_font(False)

    def wrap(self, text: str, width: float, max_lines: int = 4) -> list[str]:
        """``text`` broken at spaces into lines no wider than ``width`` (long words are cut)."""
        lines: list[str] = []
        current = ""
        for word in text.split():
            candidate = f"{current} {word}" if current else word
            if self.width(candidate) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            while self.width(word) > width:
                cut = len(word)
                while cut > 1 and self.width(word[:cut]) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            current = word
        if current:
            lines.append(current)
        if len(lines) > max_lines:
            lines = [*lines[: max_lines - 1], lines[max_lines - 1] + " …"]
        return lines or [""]

    def down(self, mm: float = ROW) -> None:
        self.y_pos += mm

    def rule(self, x1: float = LEFT, x2: float = RIGHT, offset: float = 1.8) -> None:
        self.line(x1, self.y_pos + offset, x2, self.y_pos + offset)

    # --- pages and tables ----------------------------------------------------------------
    def finish(self) -> bytes:
        """The PDF bytes, each page's footer written once the number of pages is known."""
        last = self.page
        self.style(8)
        self.set_text_color(*GREY)
        for number in range(1, last + 1):
            self.page = number
            # set_font writes nothing when the font is unchanged, but each page's stream
            # needs its own font selection: switch away and back.
            self.set_font("DejaVu", "B", 8)
            self.style(8)
            self.put(LEFT, self.title_text, y=287.0)
            self.put(RIGHT, self.page_note or f"Page {number} of {last}", "right", 287.0)
        self.page = last
        return bytes(self.output())

    def room(self, mm: float) -> bool:
        return self.y_pos + mm <= BOTTOM

    def new_page(self) -> None:
        """A continuation page: the running title, then the table's headings if one is open."""
        self.add_page()
        self.y_pos = TOP
        self.style(9, bold=True)
        self.put(LEFT, f"{self.title_text} (continued)")
        self.down(8)
        if self.columns:
            self.headings()

    def start_table(self, columns: Sequence[Column]) -> None:
        self.columns = columns
        self.headings()

    def end_table(self) -> None:
        self.columns = ()

    def headings(self) -> None:
        self.style(9, bold=True)
        for column in self.columns:
            self.put(column.x, column.heading, column.align)
        self.rule()
        self.down(ROW + 1.5)
        self.style(9)

    def row(self, cells: Sequence[str | list[str]], bold: bool = False) -> None:
        """One table row; a cell given as a list of lines (a wrapped description) makes the row
        that many lines tall. The row moves to the next page whole when it does not fit."""
        height = max(len(cell) if isinstance(cell, list) else 1 for cell in cells)
        if not self.room(height * ROW):
            self.new_page()
        self.style(9, bold=bold)
        for column, cell in zip(self.columns, cells, strict=True):
            for offset, text in enumerate(cell if isinstance(cell, list) else [cell]):
                self.put(column.x, text, column.align, y=self.y_pos + offset * ROW)
        self.down(height * ROW)
        self.style(9)
