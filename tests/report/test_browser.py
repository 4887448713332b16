"""The report of a real tiny run, rendered by headless Chromium.

Chromium is driven through the DevTools protocol over ``--remote-debugging-pipe`` (fd 3 and
4, NUL-separated JSON): no websocket library, no port, no browser download. Skipped where no
Chromium is installed (``apt-get install chromium``).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from biozoo.report import latent_map_data, write_report

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
EXE = next((p for p in map(shutil.which, CANDIDATES) if p), None)

pytestmark = pytest.mark.skipif(
    EXE is None, reason="chromium not found; install it with apt-get install chromium"
)

FIGURES_JS = """JSON.stringify([...document.querySelectorAll('figure.plot')].map(f => {
  const r = f.getBoundingClientRect();
  const g = f.querySelector('svg, img');
  const gr = g ? g.getBoundingClientRect() : {width: 0, height: 0};
  const decoded = !g || g.tagName.toLowerCase() !== 'img' || g.naturalWidth > 0;
  return {plot: f.dataset.plot, w: r.width, h: r.height, gw: gr.width, gh: gr.height,
          marks: g ? g.querySelectorAll('path, use, text, rect').length : 0, decoded};
}))"""


class Chromium:
    """A headless Chromium and a minimal DevTools-protocol client over its debugging pipe."""

    def __init__(self, exe: str, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def as_fd3_fd4() -> None:
            # in the child, before exec: Chromium reads commands on fd 3, writes on fd 4
            # (copied above 10 first, so neither dup2 clobbers the other's source)
            a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)  # dup2 targets are inheritable
            os.dup2(b, 4)

        args = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--disable-component-update",
            "--hide-scrollbars",
            "--mute-audio",
            "--disable-dev-shm-usage",
            "about:blank",
        ]
        self.log = profile / "chromium.log"
        profile.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(
                # close_fds=False keeps fd 3 and 4; the parent's own pipe ends are
                # non-inheritable (PEP 446), so Chromium does not hold them open
                args,
                close_fds=False,
                preexec_fn=as_fd3_fd4,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.messages: queue.Queue = queue.Queue()
        self.events: list[dict] = []
        self._next = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buf = b""
        while chunk := os.read(self._from_chrome, 1 << 16):
            buf += chunk
            *whole, buf = buf.split(b"\0")
            for raw in whole:
                self.messages.put(json.loads(raw))

    def send(
        self,
        method: str,
        params: dict | None = None,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict:
        self._next += 1
        msg = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._get(deadline, method)
            if reply.get("id") == self._next:
                assert "error" not in reply, f"{method}: {reply['error']}"
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict:
        seen = [e for e in self.events if e.get("method") == method]
        deadline = time.monotonic() + timeout
        while not seen:
            event = self._get(deadline, method)
            self.events.append(event)
            if event.get("method") == method:
                seen.append(event)
        return seen[0]

    def _get(self, deadline: float, what: str) -> dict:
        while True:
            try:
                return self.messages.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    log = self.log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"chromium exited ({self.proc.returncode}): {log}") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no answer from chromium to {what}") from None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # it may already be gone
            self.send("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self._to_chrome)
        self._reader.join(timeout=5)  # ends at end of file, once Chromium has exited
        if not self._reader.is_alive():
            os.close(self._from_chrome)


def _errors(events: list[dict]) -> list[str]:
    found = []
    for e in events:
        p = e.get("params", {})
        if e.get("method") == "Runtime.exceptionThrown":
            found.append(json.dumps(p.get("exceptionDetails", {}))[:300])
        elif e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            found.append(json.dumps(p.get("args", []))[:300])
        elif e.get("method") == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            found.append(p["entry"].get("text", "")[:300])
    return found


CONFUSION_JS = """JSON.stringify((() => {
  const f = document.querySelector('figure.plot[data-plot="confusion"]');
  const box = e => { const r = e.getBoundingClientRect();
                     return {x: r.left, y: r.top, w: r.width, h: r.height}; };
  const ticks = f.querySelectorAll('g[id^="xtick_"] text, g[id^="ytick_"] text');
  return {figure: box(f.querySelector('svg')),
          cells: [...f.querySelectorAll('g[id^="cell-"]')].map(box),
          labels: [...ticks].map(e => ({...box(e), text: e.textContent}))};
})())"""


def _render(report: Path, profile: Path, expression: str) -> tuple[object, bytes, list[dict]]:
    """Load ``report`` at 1280 x 800 and return the value of ``expression``, a full-page
    screenshot and the browser's events."""
    browser = Chromium(EXE, profile)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable", session=session)
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        browser.send("Page.navigate", {"url": report.as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired")
        value = json.loads(
            browser.send(
                "Runtime.evaluate",
                {"expression": expression, "returnByValue": True},
                session=session,
            )["result"]["value"]
        )
        shot = browser.send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True},
            session=session,
        )
        browser.send("Runtime.evaluate", {"expression": "0"}, session=session)  # flush events
        events = list(browser.events)
    finally:
        browser.close()
    return value, base64.b64decode(shot["data"]), events


def test_report_renders_in_headless_chromium(explained_run, tmp_path):
    report = write_report(explained_run)
    expected = (
        4  # paired comparison, ROC/PR, confusion matrices, calibration
        + len(list((explained_run / "history").iterdir()))  # training curves per deep model
        + len(latent_map_data(explained_run, umap=False))
        + len(list((explained_run / "attributions").rglob("*.csv")))
        + len(list((explained_run / "attention").rglob("*.csv")))
        + len(list((explained_run / "attention_maps").rglob("*.csv")))
        + len(list((explained_run / "explanations").rglob("*.svg")))
        + len(list((explained_run / "image_maps").rglob("*.npz")))  # overlays per model
    )
    figures, png, events = _render(report, tmp_path / "profile", FIGURES_JS)

    assert _errors(events) == []
    requested = [
        e["params"]["request"]["url"]
        for e in events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert requested, "the page load was not observed"
    assert all(u.startswith(("file:", "data:")) for u in requested), requested
    assert len(figures) == expected, [f["plot"] for f in figures]
    for f in figures:
        assert f["w"] > 50 and f["h"] > 50, f
        assert f["gw"] > 50 and f["gh"] > 50 and f["decoded"], f
        assert f["marks"] > 0 or f["plot"].startswith("explanation"), f
    training = [f for f in figures if f["plot"].startswith("training-")]
    assert len(training) == 2  # one figure per deep model, a whole row wide
    assert all(f["w"] > 1000 and f["gh"] > 200 for f in training), training
    (overlays,) = [f for f in figures if f["plot"].startswith("image-maps-")]
    assert overlays["gh"] > 2 * 100  # two images, each beside its rollout and Grad-CAM
    (tmp_path / "report.png").write_bytes(png)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 50_000


CURVES_JS = """JSON.stringify([...document.querySelectorAll('figure.plot[data-plot^="training-"]')]
  .map(f => [...f.querySelectorAll('g[id^="line2d_"] path')]
    .filter(p => p.getBoundingClientRect().width > 40).length))"""


def test_the_training_curves_render(run_dirs, tmp_path):
    """Every member's training loss, validation loss and validation ROC AUC is a drawn line."""
    run = run_dirs["binary"]
    report = write_report(run, umap=False)
    curves, png, events = _render(report, tmp_path / "profile", CURVES_JS)
    (tmp_path / "report.png").write_bytes(png)
    assert _errors(events) == []
    expected = [
        sum(len(pd.read_csv(f)) // (pd.read_csv(f)["epoch"].max() + 1) * 3 for f in files)
        for files in (sorted(d.glob("*.csv")) for d in sorted((run / "history").iterdir()))
    ]
    assert sorted(curves) == sorted(expected) and min(expected) > 0, (curves, expected)


def _overlap(a: dict, b: dict) -> float:
    """Area (px²) shared by two boxes."""
    w = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
    return max(w, 0.0) * max(h, 0.0)


def test_ten_long_class_names_keep_the_confusion_matrix_readable(ten_class_run, tmp_path):
    report = write_report(ten_class_run, umap=False)
    seen, png, events = _render(report, tmp_path / "profile", CONFUSION_JS)
    (tmp_path / "report.png").write_bytes(png)
    assert _errors(events) == []
    cells, labels, svg = seen["cells"], seen["labels"], seen["figure"]
    assert len(cells) == 2 * 10 * 10  # two panels of 10 x 10 cells, each drawn
    assert min(c["w"] for c in cells) >= 14 and min(c["h"] for c in cells) >= 14, cells[:3]
    # every class name is a tick label on both axes of both panels (colour bar ticks too)
    texts = [t["text"] for t in labels]
    for name in ("CD34+", "Dendritic", "CD56+ NK"):
        assert texts.count(name) == 4, texts
    for i, a in enumerate(labels):
        assert a["w"] > 0 and a["h"] > 0, a
        inside = svg["x"] - 1 <= a["x"] and a["x"] + a["w"] <= svg["x"] + svg["w"] + 1
        assert inside and svg["y"] - 1 <= a["y"] <= svg["y"] + svg["h"], (a, svg)  # not cut
        for b in labels[i + 1 :]:
            assert _overlap(a, b) < 1.0, (a, b)
        for c in cells:
            assert _overlap(a, c) < 1.0, (a, c)
