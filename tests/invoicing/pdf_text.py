"""Read a rendered PDF back as text, page by page and line by line (pdfplumber), the way a
reader of the invoice sees it; and what the invoice record says each line should read."""

from __future__ import annotations

import io
from pathlib import Path

import pdfplumber

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "pdf"


def pdf_lines(data: bytes) -> list[list[str]]:
    """Each page's text lines, top to bottom."""
    assert data.startswith(b"%PDF")
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return [(page.extract_text() or "").splitlines() for page in pdf.pages]


def pdf_fonts(data: bytes) -> set[str]:
    """The base names of the fonts the pages use (without the subset prefix)."""
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        return {char["fontname"].split("+")[-1] for page in pdf.pages for char in page.chars}


def row_of(lines: list[str], description: str) -> str:
    """The one text line that starts with ``description`` (a table row)."""
    found = [line for line in lines if line.startswith(f"{description} ")]
    assert len(found) == 1, (description, found)
    return found[0]


def save_artifact(name: str, data: bytes) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(data)
    return path
