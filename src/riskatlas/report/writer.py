"""Write a report folder: HTML, PDF, CSV tables and the XLSX workbook.

The outputs of one or more languages are written side by side: the tables (CSV and XLSX,
the most work; a table every language shares written once) in a process of their own
(forked, so nothing is copied or imported again; in this process where the system cannot
fork), while this process renders each page and hands it to Chromium, which prints it
meanwhile (one browser for every page, started ahead by the caller or here:
:class:`~riskatlas.report.pdf.Browser`).
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from riskatlas.assessment.value import Assessment
from riskatlas.errors import ReportError
from riskatlas.report.html import render_html
from riskatlas.report.pdf import Browser, html_to_pdf
from riskatlas.report.tables import write_tables_of

# the steps of writing, as the ``progress`` callback names them (catalogue keys
# ``assess.step.<name>``)
WRITE_STEPS = ("html", "tables", "pdf")
T = TypeVar("T")


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    pdf: Path | None
    tables: Path
    workbook: Path
    pdf_error: str | None = None


def write_report(a: Assessment, out: Path, *, pdf: bool = True, paper: str = "a4",
                 progress: Callable[[str], None] | None = None,
                 browser: Browser | None = None) -> ReportFiles:
    """All outputs of one assessment in ``out`` (created if needed); the PDF on ``paper``
    (a4, letter)."""
    return write_reports([a], [out], pdf=pdf, paper=paper, progress=progress,
                         browser=browser)[0]


def write_reports(assessments: Sequence[Assessment], outs: Sequence[Path], *,
                  pdf: bool = True, paper: str = "a4",
                  progress: Callable[[str], None] | None = None,
                  browser: Browser | None = None) -> list[ReportFiles]:
    """The outputs of each assessment (one per language, say) in its folder of ``outs``:
    the tables in a process of their own, while the pages are rendered here and
    printed by ``browser`` (None: one started here for these pages, else a Chromium per
    page). ``progress`` is told each of :data:`WRITE_STEPS` as it starts."""
    step = progress or (lambda _name: None)
    with ExitStack() as stack:
        if pdf and browser is None and (browser := Browser.start()) is not None:
            stack.callback(browser.close)
        step("html")
        tables = forked(write_tables_of, assessments, outs)  # what they share written once
        pool = stack.enter_context(ThreadPoolExecutor(max(1, len(assessments))))
        pages: list[Path] = []
        printing: list[Future[Path] | None] = []
        for a, out in zip(assessments, outs, strict=True):  # each printed once rendered
            pages.append(_page(a, out, paper))
            printing.append(pool.submit(html_to_pdf, pages[-1], pages[-1].with_suffix(".pdf"),
                                        browser=browser) if pdf else None)
        step("tables")
        written = tables()
        if pdf:
            step("pdf")
        files = []
        for a, html, job, (folder, workbook) in zip(assessments, pages, printing, written,
                                                    strict=True):
            pdf_path, error = None, None
            if job is not None:
                try:
                    pdf_path = job.result()
                except ReportError as exc:  # the rest of the report stands without the PDF
                    error = exc.render(a.lang)
            files.append(ReportFiles(html, pdf_path, folder, workbook, error))
    return files


def forked(function: Callable[..., T], *args: Any) -> Callable[[], T]:
    """``function(*args)`` started in a forked process; the call returned waits for its
    result (or raises its exception). Where the system cannot fork, or the process dies
    without an answer, the function runs in this process instead."""
    try:
        context = multiprocessing.get_context("fork")
    except ValueError:
        return lambda: function(*args)
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_run, args=(send, function, args), daemon=True)
    child.start()
    send.close()

    def result() -> T:
        try:
            ok, value = receive.recv()
        except EOFError:  # killed: the work is done again here
            return function(*args)
        finally:
            receive.close()
            child.join()
        if ok:
            return value  # type: ignore[no-any-return]
        raise value

    return result


def _run(send: Connection, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """In the forked process: send back (True, result) or (False, exception)."""
    text = ""
    try:
        answer: tuple[bool, Any] = (True, function(*args))
    except BaseException as exc:
        answer, text = (False, exc), traceback.format_exc()
    try:
        send.send(answer)
    except Exception:
        send.send((False, RuntimeError(text or traceback.format_exc())))
    finally:
        send.close()


def _page(a: Assessment, out: Path, paper: str) -> Path:
    """The report's HTML page, written in ``out`` (created if needed)."""
    page = render_html(a, paper=paper)
    out.mkdir(parents=True, exist_ok=True)
    html = out / f"riskatlas-report-{a.lang}.html"
    html.write_text(page, encoding="utf-8")
    return html
