"""The dataset schemas section of ``docs/exports.md``, generated from the registry, so the doc
cannot drift: ``manage.py export_schema_doc`` rewrites it, a test compares it."""

from __future__ import annotations

from pathlib import Path

from billingsite.exports import Dataset, registered_datasets

BEGIN = "<!-- BEGIN GENERATED SCHEMAS (manage.py export_schema_doc) -->"
END = "<!-- END GENERATED SCHEMAS -->"


def _dataset_section(dataset: Dataset) -> list[str]:
    lines = [
        f"### `{dataset.name}` (version {dataset.version})",
        "",
        dataset.description,
        "",
        f"Order and incremental cursor: `{dataset.cursor}`. Registered by `{dataset.owner}`.",
        "",
        "| column | Arrow type | null | description |",
        "| --- | --- | --- | --- |",
    ]
    for col in dataset.columns:
        text = col.description.replace("|", "\\|")
        if col.is_money:
            text += f" Money: currency in `{col.currency_column}`."
        null = "yes" if col.nullable else "no"
        lines.append(f"| `{col.name}` | `{col.type}` | {null} | {text} |")
    return [*lines, ""]


def schemas_markdown() -> str:
    lines = [BEGIN, ""]
    for dataset in registered_datasets():
        lines.extend(_dataset_section(dataset))
    lines.append(END)
    return "\n".join(lines)


def doc_path() -> Path:
    return Path(__file__).resolve().parent.parent / "docs" / "exports.md"


def current_section(text: str) -> str:
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < 0:
        return ""
    return text[start : end + len(END)]


def rewrite(text: str) -> str:
    """``text`` with its generated section replaced (or appended when missing)."""
    section = current_section(text)
    if not section:
        return text.rstrip("\n") + "\n\n" + schemas_markdown() + "\n"
    return text.replace(section, schemas_markdown())
