"""Write a report folder: HTML, PDF, CSV tables and the XLSX workbook."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from riskatlas.assessment.value import Assessment
from riskatlas.errors import ReportError
from riskatlas.report.html import render_html
from riskatlas.report.pdf import html_to_pdf
from riskatlas.report.tables import write_tables


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    pdf: Path | None
    tables: Path
    workbook: Path
    pdf_error: str | None = None


def write_report(a: Assessment, out: Path, *, pdf: bool = True,
                 paper: str = "a4") -> ReportFiles:
    """All outputs of one assessment in ``out`` (created if needed); the PDF on ``paper``
    (a4, letter)."""
    page = render_html(a, paper=paper)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"riskatlas-report-{a.lang}"
    html = out / f"{stem}.html"
    html.write_text(page, encoding="utf-8")
    with ThreadPoolExecutor(1) as pool:  # Chromium prints while the tables are written
        printing = pool.submit(html_to_pdf, html, out / f"{stem}.pdf") if pdf else None
        tables, workbook = write_tables(a, out)
        pdf_path, error = None, None
        if printing is not None:
            try:
                pdf_path = printing.result()
            except ReportError as exc:  # the rest of the report stands without the PDF
                error = exc.render(a.lang)
    return ReportFiles(html, pdf_path, tables, workbook, error)
