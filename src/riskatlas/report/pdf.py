"""HTML → PDF with the system's headless Chromium (Debian package ``chromium``), so the PDF
is exactly the page a browser shows, CJK fonts included.

Two ways: :func:`html_to_pdf` alone runs ``chromium --print-to-pdf`` once per page (about
a second of Chromium starting before it prints); a :class:`Browser` is one Chromium
started ahead (``assess`` starts it before its analyses) that prints every page it is
given, each in a tab of its own, through the DevTools protocol over a pipe (Chromium's
``--remote-debugging-pipe``: JSON messages ended by NUL on file descriptors 3 and 4), with
the settings of ``--print-to-pdf`` (the page's ``@page`` size, backgrounds, no header or
footer).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from riskatlas.errors import ReportError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# no startup window: its tab and the GPU process it starts cost about a second of CPU
# (0.3 s to start instead of 1.2-1.9 s; tabs opened for printing work as before)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--no-default-browser-check", "--no-startup-window", "--disable-extensions",
         "--disable-background-networking", "--disable-component-update")
READY_WAIT = 60.0  # seconds a started browser has to answer its first command
# what ``--print-to-pdf --no-pdf-header-footer`` asks of Page.printToPDF
PRINT = {"printBackground": True, "preferCSSPageSize": True, "displayHeaderFooter": False}


def find_chromium() -> str | None:
    """$RISKATLAS_CHROMIUM, else the first Chromium on PATH."""
    explicit = os.environ.get("RISKATLAS_CHROMIUM")
    if explicit:
        return explicit
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def html_to_pdf(html: Path, pdf: Path, *, timeout: float = 180,
                browser: Browser | None = None) -> Path:
    """Print ``html`` to ``pdf`` on the page's own ``@page`` size, by ``browser`` when it
    is given and running (else a Chromium of its own); raises ReportError without
    Chromium."""
    if browser is not None and browser.alive:
        try:
            return browser.print_pdf(html, pdf, timeout=timeout)
        except BrowserError:  # the browser is gone: one of its own says why, if it fails
            pass
    chromium = find_chromium()
    if chromium is None:
        raise ReportError("report.no_chromium")
    profile = Path(tempfile.mkdtemp(prefix="riskatlas-chromium-"))
    log = profile / "stderr.txt"
    try:
        try:
            with log.open("wb") as err:
                process = subprocess.Popen(
                    [chromium, "--headless", "--no-sandbox", "--disable-gpu",
                     "--no-pdf-header-footer", f"--user-data-dir={profile}",
                     f"--print-to-pdf={pdf}", html.resolve().as_uri()],
                    stdout=subprocess.DEVNULL, stderr=err, **OWN_GROUP)
        except OSError as exc:
            raise ReportError("report.pdf_failed", reason=exc.strerror or exc) from None
        try:
            ended = _ended(process, timeout)
        finally:
            code = _end(process)
        stderr = log.read_text(encoding="utf-8", errors="replace")
    finally:
        _remove(profile)
    if not ended:
        raise ReportError("report.pdf_failed", reason=f"{timeout:g} s")
    if code != 0 or not pdf.exists():
        lines = [x for x in stderr.strip().splitlines() if x.strip()]
        raise ReportError("report.pdf_failed", reason=lines[-1] if lines else code)
    return pdf


# Chromium runs in a process group of its own where the system has them, so that what is
# left of it can be killed at once; its leader is reaped only after that (a group's id,
# the leader's, is not given to another process while the leader is unreaped)
GROUPS = hasattr(os, "killpg") and hasattr(os, "waitid")
OWN_GROUP: dict[str, Any] = {"process_group": 0} if GROUPS else {}


def _ended(process: subprocess.Popen[Any], timeout: float) -> bool:
    """Whether ``process`` ends within ``timeout`` seconds, left unreaped where the system
    has process groups."""
    if not GROUPS:
        try:
            process.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = time.monotonic() + timeout
    while process.returncode is None:  # else reaped already
        try:
            if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                break
        except ChildProcessError:  # reaped elsewhere
            break
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _end(process: subprocess.Popen[Any]) -> int:
    """Kill ``process`` and what is left of its group (its helpers outlive it a moment),
    then reap it; its exit code. Once it is reaped its group's id may be another's: then
    nothing is killed."""
    if not GROUPS:
        process.kill()
    elif process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    return process.wait()


def _remove(profile: Path) -> None:
    """Remove a Chromium's profile, again until it is gone (2 s at most): its crash
    handler (in a group of its own, ending by itself) can still write there a moment."""
    for _ in range(20):
        shutil.rmtree(profile, ignore_errors=True)
        if not profile.exists():
            return
        time.sleep(0.1)


class BrowserError(Exception):
    """The browser did not answer (not started, gone, or timed out)."""


class Browser:
    """One headless Chromium printing pages over the DevTools pipe; thread-safe (each
    page in a tab of its own). Start with :meth:`start`, end with :meth:`close` (or use
    it as a context manager)."""

    def __init__(self, process: subprocess.Popen[bytes], commands: int, answers: int,
                 profile: Path) -> None:
        self._process = process
        self._commands, self._answers = commands, answers
        self._profile = profile
        self._lock = threading.Lock()  # guards the ids, the waiters and the pipe's writes
        self._next = 0
        self._calls: dict[int, Future[dict[str, Any]]] = {}
        self._events: dict[tuple[str, str], Future[dict[str, Any]]] = {}
        self._closed = False
        self._reader = threading.Thread(target=self._read, daemon=True,
                                        name="riskatlas-chromium")
        self._reader.start()

    @classmethod
    def start(cls) -> Browser | None:
        """A Chromium starting in the background (it answers once ready); None without
        one on this machine or where it cannot be started."""
        chromium = find_chromium()
        if chromium is None or os.name != "posix":
            return None
        profile = Path(tempfile.mkdtemp(prefix="riskatlas-chromium-"))
        to_browser, commands = os.pipe()
        answers, from_browser = os.pipe()
        try:
            # the shell gives Chromium the pipe's ends as descriptors 3 and 4
            with (profile / "stderr.txt").open("wb") as log:
                process = subprocess.Popen(
                    ["/bin/sh", "-c", 'exec "$@" 3<&0 4>&1 </dev/null >/dev/null', "sh",
                     chromium, *FLAGS, "--remote-debugging-pipe",
                     f"--user-data-dir={profile}"],
                    stdin=to_browser, stdout=from_browser, stderr=log, close_fds=True,
                    **OWN_GROUP)
        except OSError:
            for fd in (to_browser, commands, answers, from_browser):
                os.close(fd)
            _remove(profile)
            return None
        os.close(to_browser)
        os.close(from_browser)
        return cls(process, commands, answers, profile)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return not self._closed and not _ended(self._process, 0)

    def print_pdf(self, html: Path, pdf: Path, *, timeout: float = 180) -> Path:
        """Print ``html`` to ``pdf`` in a new tab (as ``--print-to-pdf`` does: once the page
        and its fonts have loaded). ReportError when the page cannot be printed,
        BrowserError when the browser does not answer."""
        # a Chromium that never answers (one without the pipe, say) is given up sooner
        target = self.call("Target.createTarget", min(timeout, READY_WAIT),
                           url="about:blank")["targetId"]
        session = ""
        try:
            session = self.call("Target.attachToTarget", timeout, targetId=target,
                                flatten=True)["sessionId"]
            self.call("Page.enable", timeout, session=session)
            loaded = self._expect(session, "Page.loadEventFired")
            went = self.call("Page.navigate", timeout, session=session,
                             url=html.resolve().as_uri())
            if went.get("errorText"):
                raise ReportError("report.pdf_failed", reason=went["errorText"])
            self._wait(loaded, timeout)
            self.call("Runtime.evaluate", timeout, session=session,
                      expression="document.fonts.ready.then(() => true)", awaitPromise=True)
            data = self.call("Page.printToPDF", timeout, session=session, **PRINT)["data"]
        finally:
            with self._lock:
                self._events.pop((session, "Page.loadEventFired"), None)
            if self.alive:
                with contextlib.suppress(BrowserError):
                    self.call("Target.closeTarget", 10, targetId=target)
        pdf.write_bytes(base64.b64decode(data))
        return pdf

    def call(self, method: str, timeout: float, *, session: str | None = None,
             **params: Any) -> dict[str, Any]:
        """The result of one DevTools command; ReportError for an error answer."""
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            if self._closed:
                raise BrowserError(method)
            self._next += 1
            message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
            if session is not None:
                message["sessionId"] = session
            self._calls[self._next] = future
            try:
                os.write(self._commands, json.dumps(message).encode() + b"\0")
            except OSError as exc:
                raise BrowserError(method) from exc
        answer = self._wait(future, timeout)
        if "error" in answer:
            raise ReportError("report.pdf_failed", reason=answer["error"].get("message", method))
        return answer.get("result", {})  # type: ignore[no-any-return]

    def _expect(self, session: str, event: str) -> Future[dict[str, Any]]:
        future: Future[dict[str, Any]] = Future()
        with self._lock:
            self._events[(session, event)] = future
        return future

    def _wait(self, future: Future[dict[str, Any]], timeout: float) -> dict[str, Any]:
        try:
            return future.result(timeout)
        except TimeoutError as exc:
            raise BrowserError("timeout") from exc

    def _read(self) -> None:
        """Hand each message to the call or event that waits for it, until the pipe ends
        (every Chromium process is gone)."""
        pending = b""
        while True:
            try:
                chunk = os.read(self._answers, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                break
            pending += chunk
            *messages, pending = pending.split(b"\0")
            for raw in messages:
                try:
                    message = json.loads(raw)
                except ValueError:  # not the protocol's: nobody waits for it
                    continue
                with self._lock:
                    if "id" in message:
                        waiter = self._calls.pop(message["id"], None)
                    else:
                        waiter = self._events.pop(
                            (message.get("sessionId", ""), message.get("method", "")), None)
                if waiter is not None:
                    waiter.set_result(message)
        os.close(self._answers)
        with self._lock:  # nobody waits for the browser any longer
            self._closed = True
            waiting = [*self._calls.values(), *self._events.values()]
            self._calls.clear()
            self._events.clear()
        for waiter in waiting:
            waiter.set_exception(BrowserError("closed"))

    def close(self) -> None:
        """End the browser (SIGTERM, which it obeys at once; it and its helpers killed
        after 5 s) and remove its profile."""
        with self._lock:
            if self._commands < 0:
                return
            self._closed = True
            os.close(self._commands)
            self._commands = -1
        if not _ended(self._process, 0):  # not terminate(), which would reap it
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._process.pid, signal.SIGTERM)
        _ended(self._process, 5)
        _end(self._process)
        self._reader.join(5)
        _remove(self._profile)
