"""Headless Chromium driven over the DevTools protocol on a pipe.

``--remote-debugging-pipe`` makes Chromium read protocol commands from file descriptor 3 and
write answers and events to descriptor 4, each message NUL-terminated JSON. That needs no
Python driver package and opens no port; the browser is Debian's ``chromium``
(``scripts/install-tools.sh``), started with a fresh profile and with every background
network feature switched off, so opening a local report touches no network.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import queue
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)

# What the page reports about itself once loaded.
_INSPECT = """JSON.stringify({
  images: [...document.images].map(i => ({
    classes: i.className, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
    scheme: i.src.split(':', 1)[0]})),
  runbooks: [...document.querySelectorAll('a.runbook')].map(a => a.href),
  pages: document.querySelectorAll('section.page').length,
  spans: document.querySelectorAll('tr.span-row').length,
  resources: performance.getEntriesByType('resource').map(e => e.name),
})"""


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Opened:
    """What a user would notice when opening a page: errors, images, links, the picture."""

    console_errors: list[str]
    facts: dict[str, Any]
    screenshot: bytes
    size: tuple[int, int]


@dataclass
class _Pipe:
    process: subprocess.Popen[bytes]
    commands: int  # our end of Chromium's fd 3
    answers: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    events: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 0

    def read_forever(self, fd: int) -> None:
        buffer = b""
        with os.fdopen(fd, "rb", buffering=0) as stream:
            while chunk := stream.read(65536):
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self.answers.put(message)
                    else:
                        self.events.append(message)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self.commands, json.dumps(message).encode() + b"\0")
        except BrokenPipeError as exc:
            msg = f"{method}: chromium exited with {self.process.poll()}"
            raise RuntimeError(msg) from exc
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answer = self.answers.get(timeout=max(deadline - time.monotonic(), 0.01))
            if answer["id"] == self.next_id:
                if "error" in answer:
                    msg = f"{method}: {answer['error']}"
                    raise RuntimeError(msg)
                return dict(answer.get("result", {}))
        msg = f"{method}: no answer from chromium"
        raise TimeoutError(msg)

    def wait_event(self, method: str, session: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            time.sleep(0.05)
        msg = f"no {method} event within {timeout}s"
        raise TimeoutError(msg)


def _errors(events: list[dict[str, Any]]) -> list[str]:
    """Console errors, uncaught exceptions and browser log errors (failed loads among them)."""
    out = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.append(" ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            out.append(str(params.get("exceptionDetails", {}).get("text", "exception")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            out.append(
                f"{params['entry'].get('source')}: {params['entry'].get('text')} {params['entry'].get('url', '')}"
            )
    return out


def _high_pipe() -> tuple[int, int]:
    """A pipe whose ends sit above descriptor 9, so the shell's ``3<&r 4>&w`` cannot overwrite
    one end with the other."""
    ends = []
    for fd in os.pipe():
        ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD, 10))
        os.close(fd)
    return ends[0], ends[1]


def open_page(path: Path, binary: str, *, width: int = 1280) -> Opened:
    """Load ``path`` in a fresh headless Chromium; report errors, page facts and a full-page
    screenshot."""
    profile = tempfile.mkdtemp(prefix="drill-chromium-")
    to_chromium_r, to_chromium_w = _high_pipe()
    from_chromium_r, from_chromium_w = _high_pipe()
    log = (Path(profile) / "chromium.log").open("wb")
    process = subprocess.Popen(
        # The shell puts our pipe ends on the descriptor numbers Chromium expects, then execs it.
        [
            "/bin/bash",  # dash only redirects descriptors 0-9
            "-c",
            f'exec "$0" "$@" 3<&{to_chromium_r} 4>&{from_chromium_w}',
            binary,
            *FLAGS,
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        pass_fds=(to_chromium_r, from_chromium_w),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    os.close(to_chromium_r)
    os.close(from_chromium_w)
    pipe = _Pipe(process, to_chromium_w)
    threading.Thread(target=pipe.read_forever, args=(from_chromium_r,), daemon=True).start()
    try:
        target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            pipe.send(f"{domain}.enable", session=session)
        pipe.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        pipe.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        pipe.wait_event("Page.loadEventFired", session)
        facts = json.loads(
            pipe.send("Runtime.evaluate", {"expression": _INSPECT, "returnByValue": True}, session=session)["result"][
                "value"
            ]
        )
        content = pipe.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
        size = (int(content["width"]), int(content["height"]))
        shot = pipe.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1},
            },
            session=session,
        )
        time.sleep(0.2)  # let late log events arrive
        return Opened(_errors(pipe.events), facts, base64.b64decode(shot["data"]), size)
    finally:
        try:
            pipe.send("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            process.kill()
        os.close(to_chromium_w)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()
        shutil.rmtree(profile, ignore_errors=True)


def runbook_anchors(runbooks: Path) -> set[str]:
    """Anchors a Markdown renderer (GitHub's) gives ``runbooks``: explicit ``<a id>`` tags and
    one per heading."""
    text = runbooks.read_text(encoding="utf-8")
    anchors = set(re.findall(r'<a id="([^"]+)"', text))
    anchors |= {
        re.sub(r"[^a-z0-9-]", "", line.lstrip("#").strip().lower().replace(" ", "-"))
        for line in text.splitlines()
        if line.startswith("#")
    }
    return anchors


def not_blank(png: bytes) -> tuple[int, float]:
    """(distinct colours, share of non-white pixels) of a screenshot."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20) or []
        white = next((count for count, colour in colours if colour == (255, 255, 255)), 0)
        return len(colours), 1 - white / (rgb.width * rgb.height)


def check_report_in_chromium(report: Path, *, pages: int, runbooks: Path) -> Opened:
    """Open ``report`` as a user would and assert what they would notice: no console error,
    nothing fetched, every image loaded, the timeline plus one chart per page, runbook links
    whose anchors exist, and a full-page screenshot with something on it."""
    binary = chromium_binary()
    assert binary is not None
    opened = open_page(report, binary)
    facts = opened.facts
    assert opened.console_errors == []
    assert facts["resources"] == []
    assert [image["classes"] for image in facts["images"]] == ["chart timeline"] + ["chart page-chart"] * pages
    assert [(image["complete"], image["scheme"]) for image in facts["images"]] == [(True, "data")] * (pages + 1)
    assert all(image["width"] > 0 and image["height"] > 0 for image in facts["images"]), facts["images"]
    assert facts["pages"] == pages
    assert len(facts["runbooks"]) == pages
    anchors = runbook_anchors(runbooks)
    assert [link.split("#", 1)[1] in anchors for link in facts["runbooks"]] == [True] * pages, facts["runbooks"]
    assert opened.screenshot[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", opened.screenshot[16:24]) == opened.size  # the whole page, not the viewport
    assert opened.size[1] > 2000, opened.size
    colours, inked = not_blank(opened.screenshot)
    assert colours > 50, colours
    assert inked > 0.05, inked
    return opened
