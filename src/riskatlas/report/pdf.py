"""HTML → PDF with the system's headless Chromium (Debian package ``chromium``), so the PDF
is exactly the page a browser shows, CJK fonts included."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from riskatlas.errors import ReportError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """$RISKATLAS_CHROMIUM, else the first Chromium on PATH."""
    explicit = os.environ.get("RISKATLAS_CHROMIUM")
    if explicit:
        return explicit
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def html_to_pdf(html: Path, pdf: Path, *, timeout: float = 180) -> Path:
    """Print ``html`` to ``pdf`` on the page's own ``@page`` size; raises ReportError
    without Chromium."""
    browser = find_chromium()
    if browser is None:
        raise ReportError("report.no_chromium")
    with tempfile.TemporaryDirectory(prefix="riskatlas-chromium-") as profile:
        done = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
             f"--user-data-dir={profile}", f"--print-to-pdf={pdf}",
             html.resolve().as_uri()],
            capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not pdf.exists():
        lines = [x for x in done.stderr.strip().splitlines() if x.strip()]
        raise ReportError("report.pdf_failed", reason=lines[-1] if lines else done.returncode)
    return pdf
