"""Headless Chromium driven over the DevTools protocol on a pipe: no extra package needed.

``--remote-debugging-pipe`` makes Chromium read protocol commands from its fd 3 and write
replies and events to its fd 4, each message a JSON object ended by a NUL byte. That is all a
test needs to open a page, collect console errors and requests, evaluate JavaScript and take a
full-page screenshot, with nothing but the standard library and Debian's ``chromium``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

# The machine's network is closed: keep Chromium from trying to reach anything on its own.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
WIDTH, HEIGHT = 1200, 900
PHONE = 390  # CSS px: a phone's width (an iPhone 12 to 15); narrower than this is a "mobile" view
MOBILE_BELOW = 700


class BrowserError(Exception):
    """Chromium did not start, answer, or do what it was asked."""


def find_chromium() -> str | None:
    """``$TAIEX_CHROMIUM``, Debian's ``/usr/bin/chromium``, or a chromium on the PATH."""
    candidates = [
        os.environ.get("TAIEX_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


class Chromium:
    """One headless Chromium with one page. ``errors`` and ``requests`` fill as the page runs."""

    def __init__(self, executable: str, profile: Path, timeout: float = 20.0) -> None:
        self.executable = executable
        self.profile = profile
        self.timeout = timeout
        self.errors: list[str] = []  # console errors, uncaught exceptions, failed requests
        self.requests: list[str] = []  # every URL the page asked for, data: URLs aside
        self._events: list[dict[str, Any]] = []
        self._buffer = b""
        self._next_id = 0
        self._session: str | None = None

    # ------------------------------------------------------------ lifetime

    def __enter__(self) -> Chromium:
        self.profile.mkdir(parents=True, exist_ok=True)
        to_browser, self._write = os.pipe()  # Chromium reads commands on its fd 3
        self._read, from_browser = os.pipe()  # and writes replies on its fd 4

        def wire_fds() -> None:  # runs in the child between fork and exec
            command_fd, reply_fd = os.dup(to_browser), os.dup(from_browser)
            os.dup2(command_fd, 3)
            os.dup2(reply_fd, 4)

        # A home of its own too: nothing read from or left in the user's (or CI's) home.
        env = {**os.environ, "HOME": str(self.profile)}
        try:
            self._process = subprocess.Popen(
                [self.executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=(self.profile / "chromium.log").open("wb"),
                preexec_fn=wire_fds,
                close_fds=False,
            )
        except OSError as exc:
            os.close(self._write)
            os.close(self._read)
            raise BrowserError(f"cannot start {self.executable}: {exc}") from exc
        finally:
            os.close(to_browser)
            os.close(from_browser)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with contextlib.suppress(BrowserError, OSError):  # it is going away either way
            self._send("Browser.close")
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._write)
        os.close(self._read)

    # ------------------------------------------------------------ what a test does

    def open(self, url: str, width: int = WIDTH, *, scripts: bool = True) -> None:
        """Open ``url`` in a new page ``width`` CSS px wide (a phone's view below 700: its
        viewport meta applies) and wait for its load event (images included). ``scripts``
        False: the page's scripts do not run (a reader who turned them off)."""
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self._session = attached["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self._send(f"{domain}.enable")
        self._metrics(width)
        if not scripts:
            self._send("Emulation.setScriptExecutionDisabled", {"value": True})
        seen = len(self._events)
        result = self._send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"cannot open {url}: {result['errorText']}")
        self._wait_for("Page.loadEventFired", since=seen)

    def resize(self, width: int, height: int = HEIGHT) -> None:
        """The open page at another width; returns once its images (a ``<picture>`` may pick
        another source at this width) are decoded."""
        self._metrics(width, height)
        self.evaluate(
            "Promise.all([...document.images].map(i => i.decode().catch(() => null)))"
            ".then(() => new Promise(r => requestAnimationFrame(() => r(true))))"
        )

    def _metrics(self, width: int, height: int = HEIGHT) -> None:
        metrics = {
            "width": width,
            "height": height,
            "deviceScaleFactor": 1,
            "mobile": width < MOBILE_BELOW,
        }
        self._send("Emulation.setDeviceMetricsOverride", metrics)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self._send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def mouse(self, kind: str, x: float, y: float, buttons: int = 0) -> None:
        """A real mouse event at ``(x, y)`` CSS px in the window: ``mouseMoved`` (a hover),
        ``mousePressed`` or ``mouseReleased`` (of the left button)."""
        params: dict[str, Any] = {"type": kind, "x": x, "y": y, "buttons": buttons}
        if kind != "mouseMoved":
            params.update(button="left", clickCount=1)
        self._send("Input.dispatchMouseEvent", params)

    def touch(self) -> None:
        """A touch screen from now on (the page may lay itself out again: wait for it)."""
        self._send("Emulation.setTouchEmulationEnabled", {"enabled": True, "maxTouchPoints": 1})

    def tap(self, x: float, y: float) -> None:
        """A finger's tap at ``(x, y)`` CSS px in the window (after :meth:`touch`)."""
        self._send(
            "Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]}
        )
        self._send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})

    def drag(self, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
        """Press the left button at ``start``, move to ``end`` in ``steps``, release."""
        self.mouse("mouseMoved", *start)
        self.mouse("mousePressed", *start, buttons=1)
        for step in range(1, steps + 1):
            x = start[0] + (end[0] - start[0]) * step / steps
            y = start[1] + (end[1] - start[1]) * step / steps
            self.mouse("mouseMoved", x, y, buttons=1)
        self.mouse("mouseReleased", *end)

    def screenshot(self, path: Path) -> Path:
        """The whole page (not only the window) as a PNG."""
        size = self._send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self._send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": clip},
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    # ------------------------------------------------------------ the protocol

    def _send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self._session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self._session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._receive(deadline, f"the reply to {method}")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method} failed: {reply['error']}")
                return dict(reply.get("result", {}))

    def _wait_for(self, event: str, since: int = 0) -> None:
        deadline = time.monotonic() + self.timeout
        while not any(e.get("method") == event for e in self._events[since:]):
            self._receive(deadline, event)

    def _receive(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._read], [], [], max(left, 0))
            if not ready:
                raise BrowserError(f"chromium sent nothing for {self.timeout} s ({waiting_for})")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise BrowserError(f"chromium closed the pipe ({waiting_for}): {self._log()}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        if "method" in message:
            self._events.append(message)
            self._note(message["method"], message.get("params", {}))
        return message

    def _note(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(details.get("exception", {}).get("description") or details["text"])
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            args = [str(a.get("value", a.get("description", ""))) for a in params["args"]]
            self.errors.append("console: " + " ".join(args))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.errors.append(f"log: {entry['text']} {entry.get('url', '')}".strip())
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            self.errors.append(f"request failed: {params.get('errorText')} ({params['requestId']})")
        elif method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith("data:"):
                self.requests.append(url)

    def _log(self) -> str:
        try:
            return (self.profile / "chromium.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""
