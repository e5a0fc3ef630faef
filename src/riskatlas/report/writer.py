"""Write a report folder: HTML, PDF, CSV tables and the XLSX workbook.

The outputs of one or more languages are written side by side: each page is rendered and
handed to Chromium at once (each PDF prints in a Chromium process of its own), and the
tables are written while the PDFs print.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from riskatlas.assessment.value import Assessment
from riskatlas.errors import ReportError
from riskatlas.report.html import render_html
from riskatlas.report.pdf import html_to_pdf
from riskatlas.report.tables import write_tables

# the steps of writing, as the ``progress`` callback names them (catalogue keys
# ``assess.step.<name>``)
WRITE_STEPS = ("html", "tables", "pdf")


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    pdf: Path | None
    tables: Path
    workbook: Path
    pdf_error: str | None = None


def write_report(a: Assessment, out: Path, *, pdf: bool = True, paper: str = "a4",
                 progress: Callable[[str], None] | None = None) -> ReportFiles:
    """All outputs of one assessment in ``out`` (created if needed); the PDF on ``paper``
    (a4, letter)."""
    return write_reports([a], [out], pdf=pdf, paper=paper, progress=progress)[0]


def write_reports(assessments: Sequence[Assessment], outs: Sequence[Path], *,
                  pdf: bool = True, paper: str = "a4",
                  progress: Callable[[str], None] | None = None) -> list[ReportFiles]:
    """The outputs of each assessment (one per language, say) in its folder of ``outs``:
    every page is rendered first and printed by Chromium in the background while the
    tables are written. ``progress`` is told each of :data:`WRITE_STEPS` as it starts."""
    step = progress or (lambda _name: None)
    step("html")
    pages = [_page(a, out, paper) for a, out in zip(assessments, outs, strict=True)]
    with ThreadPoolExecutor(max(1, len(pages))) as pool:  # each waits on its Chromium
        printing: list[Future[Path] | None] = [
            pool.submit(html_to_pdf, html, html.with_suffix(".pdf")) if pdf else None
            for html in pages]
        step("tables")
        tables = [write_tables(a, out) for a, out in zip(assessments, outs, strict=True)]
        if pdf:
            step("pdf")
        files = []
        for a, html, job, (folder, workbook) in zip(assessments, pages, printing, tables,
                                                    strict=True):
            pdf_path, error = None, None
            if job is not None:
                try:
                    pdf_path = job.result()
                except ReportError as exc:  # the rest of the report stands without the PDF
                    error = exc.render(a.lang)
            files.append(ReportFiles(html, pdf_path, folder, workbook, error))
    return files


def _page(a: Assessment, out: Path, paper: str) -> Path:
    """The report's HTML page, written in ``out`` (created if needed)."""
    page = render_html(a, paper=paper)
    out.mkdir(parents=True, exist_ok=True)
    html = out / f"riskatlas-report-{a.lang}.html"
    html.write_text(page, encoding="utf-8")
    return html
