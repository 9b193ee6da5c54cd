"""Charts drawn by a real browser, offline: headless Chromium over the DevTools protocol.

Each test serves files (or JupyterLab) on loopback, points Chromium at them with
every host but 127.0.0.1 unresolvable, waits until the page holds drawn chart
marks (SVG mark elements, or canvas / image pixels that are not background),
and checks that no request went to a host other than loopback.

The report and JupyterLab tests open the checked-in notebooks of ``notebooks/``
(executed with :func:`nasxfer.figures.use_offline_renderer`);
``NASXFER_BROWSER_NOTEBOOKS`` points them at another folder of executed notebooks.
``NASXFER_BROWSER_SHOTS`` (a folder) keeps a screenshot of each page.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

websocket = pytest.importorskip(
    "websocket", reason="websocket-client is needed to drive Chromium (pip install websocket-client)"
)

ROOT = Path(__file__).resolve().parents[1]
LAPTOP = ROOT / "outputs" / "laptop"
NOTEBOOKS = ROOT / "notebooks"
VEGA_MIME = "application/vnd.vega.v5+json"


def find_chromium() -> str | None:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium found (looked for $CHROMIUM, chromium, chromium-browser, google-chrome): "
        "scripts/setup.sh installs Debian's chromium when run as root with apt-get; else install it and rerun",
    ),
]

# Counts what a page has drawn. In SVG: the elements of Vega's data marks (class role-mark; axes,
# legends and titles have other roles). In a canvas or an image: "colour" pixels, whose channels
# differ by more than 60 - axes, grid, text and frames are grey in Vega's default theme, so a
# chart with its axes but no marks has none, while every nasxfer chart draws its marks in colour.
MARKS_JS = r"""
(() => {
  const colour = (src, w, h) => {
    if (!w || !h) return 0;
    const c = document.createElement('canvas'); c.width = w; c.height = h;
    const ctx = c.getContext('2d'); ctx.drawImage(src, 0, 0, w, h);
    const d = ctx.getImageData(0, 0, w, h).data; let n = 0;
    for (let i = 0; i < d.length; i += 4)
      if (d[i + 3] > 0 && Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 60) n++;
    return n;
  };
  const out = {vega_views: 0, vega_views_drawn: 0, vega_svg_marks: 0, vega_canvas_colour: 0, image_colour: [], errors: []};
  for (const el of document.querySelectorAll('.vega-embed')) {
    out.vega_views++;
    const marks = el.querySelectorAll('svg g.role-mark > path, svg g.role-mark > text, svg g.role-mark > line').length;
    let px = 0;
    for (const c of el.querySelectorAll('canvas')) px += colour(c, c.width, c.height);
    out.vega_svg_marks += marks; out.vega_canvas_colour += px;
    if (marks >= 3 || px >= 300) out.vega_views_drawn++;
  }
  for (const img of document.querySelectorAll('img')) {
    if (img.complete && img.naturalWidth > 100) {
      try { out.image_colour.push(colour(img, img.naturalWidth, img.naturalHeight)); } catch (e) { out.errors.push(String(e)); }
    }
  }
  return JSON.stringify(out);
})()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _local(url: str) -> bool:
    u = urllib.parse.urlsplit(url)
    return u.scheme in ("data", "blob", "about", "chrome", "devtools") or u.hostname in ("127.0.0.1", "localhost")


class Browser:
    """One headless Chromium with a fresh profile, driven over the DevTools protocol."""

    def __init__(self, tmp: Path):
        self.profile = tmp / "chromium-profile"
        self.log = open(tmp / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--no-proxy-server",
                "--window-size=1280,1600",
                # every name resolves to nothing except loopback: a request that tries to leave fails (and is recorded)
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.time() + 60
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            if self.proc.poll() is not None or time.time() > deadline:
                self.close()
                raise RuntimeError(f"Chromium did not start: {(tmp / 'chromium.log').read_text()[-2000:]}")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        pages = [
            t for t in json.load(opener.open(f"http://127.0.0.1:{port}/json/list", timeout=10)) if t["type"] == "page"
        ]
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self.next_id, self.requests, self.failed, self.console, self.loaded = 0, [], [], [], False
        for domain in ("Network", "Page", "Runtime"):
            self.call(f"{domain}.enable")

    def _event(self, msg: dict) -> None:
        m, p = msg.get("method"), msg.get("params", {})
        if m == "Page.loadEventFired":
            self.loaded = True
        elif m == "Network.requestWillBeSent":
            self.requests.append(p["request"]["url"])
        elif m == "Network.loadingFailed":
            self.failed.append(p.get("errorText"))
        elif m == "Runtime.exceptionThrown":
            self.console.append(
                p["exceptionDetails"].get("exception", {}).get("description") or p["exceptionDetails"].get("text")
            )

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)

    def evaluate(self, expression: str):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return r.get("result", {}).get("value")

    def open(self, url: str, timeout: float = 60.0) -> None:
        """Navigate and wait for the new page's load event, so that nothing is read from the page before."""
        self.loaded = False
        self.call("Page.navigate", url=url)
        deadline = time.time() + timeout
        while not self.loaded:
            if time.time() > deadline:
                raise AssertionError(f"{url} did not load within {timeout:.0f} s")
            self._event(json.loads(self.ws.recv()))

    def wait_for(self, predicate, timeout: float = 60.0, poll: float = 0.5):
        """Evaluate MARKS_JS until `predicate(counts)` holds; returns the last counts (asserts on timeout)."""
        deadline = time.time() + timeout
        while True:
            counts = json.loads(self.evaluate(MARKS_JS) or "{}")
            if counts and predicate(counts):
                print(f"drawn: {counts}")
                return counts
            if time.time() > deadline:
                raise AssertionError(
                    f"no chart drawn within {timeout:.0f} s: {counts}; page errors {self.console}; "
                    f"requests {self.requests[:20]}"
                )
            time.sleep(poll)

    def screenshot(self, name: str) -> None:
        """Save a PNG of the page to $NASXFER_BROWSER_SHOTS/<name>.png when that folder is set (for a human look)."""
        folder = os.environ.get("NASXFER_BROWSER_SHOTS")
        if folder:
            import base64

            Path(folder).mkdir(parents=True, exist_ok=True)
            (Path(folder) / f"{name}.png").write_bytes(base64.b64decode(self.call("Page.captureScreenshot")["data"]))

    def external_requests(self) -> list[str]:
        return [u for u in self.requests if not _local(u)]

    def close(self) -> None:
        try:
            if getattr(self, "ws", None):
                self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.log.close()


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path)
    yield b
    b.close()


@pytest.fixture
def serve():
    """serve(folder) -> base URL of a loopback HTTP server of that folder (stopped after the test)."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def vega_drawn(counts) -> bool:
    return counts["vega_views"] > 0 and counts["vega_views_drawn"] == counts["vega_views"]


# ---- the figure files --------------------------------------------------------------------


def test_figure_html_draws_offline(browser, serve):
    """A figure's HTML page under outputs/laptop/figures draws its marks with the vendored JavaScript only."""
    page = LAPTOP / "figures" / "fig05_retrain_matrix.html"
    assert page.exists(), f"{page} is missing: run notebooks/03_rq1_pretraining.ipynb"
    base = serve(page.parent)
    browser.open(f"{base}/{page.name}")
    counts = browser.wait_for(vega_drawn)
    # the 4 x 4 matrix: 16 rects, 16 means, 16 markers (empty ones included)
    assert counts["vega_svg_marks"] >= 48, counts
    assert browser.external_requests() == [], browser.external_requests()
    assert any(u.endswith(".js") for u in browser.requests), "the page loaded no JavaScript"


# ---- the report --------------------------------------------------------------------------


def test_report_pages_draw_offline(browser, serve, tmp_path):
    """`nasxfer report` of the laptop run: the index states the run and links every notebook page,
    and each page draws every chart of its notebook from the report's own JavaScript."""
    from nasxfer.report import build_report

    notebooks = notebooks_under_test()
    require_offline_notebooks(notebooks)
    index = build_report(LAPTOP, notebooks=notebooks, out_dir=tmp_path / "report")
    base = serve(index.parent)
    browser.open(f"{base}/index.html")
    browser.wait_for(lambda c: True)
    links = json.loads(
        browser.evaluate("JSON.stringify([...document.querySelectorAll('ol a')].map(a => a.getAttribute('href')))")
    )
    text = browser.evaluate("document.body.innerText")
    config = json.loads((LAPTOP / "config.json").read_text())
    for fact in (
        config["grid"]["run_name"],
        config["grid"]["agent"]["preset"],
        str(config["grid"]["train_steps"]),
        str(config["grid"]["finetune_steps"]),
        ", ".join(map(str, config["grid"]["seeds"])),
        config["nasxfer_version"],
    ):
        assert fact in text, f"the index does not state {fact!r}: {text}"
    assert sorted(links) == sorted(f"{p.stem}.html" for p in notebooks)
    drawn = {}
    for p in notebooks:
        n = _count_offline_charts(p)
        browser.open(f"{base}/{p.stem}.html")
        # every chart drawn by vega from the page's local JavaScript, which then removes the PNG fallback
        drawn[p.stem] = browser.wait_for(
            lambda c, n=n: c["vega_views_drawn"] >= n and len(c["image_colour"]) == 0, timeout=60
        )
        browser.screenshot(f"report-{p.stem}")
    assert browser.external_requests() == [], browser.external_requests()
    assert sum(c["vega_views_drawn"] for c in drawn.values()) >= 10, drawn


# ---- the notebooks under test -----------------------------------------------------------


def notebooks_dir() -> Path:
    return Path(os.environ.get("NASXFER_BROWSER_NOTEBOOKS") or NOTEBOOKS).resolve()


def notebooks_under_test() -> list[Path]:
    """The executed notebooks the report and JupyterLab tests open: notebooks/ or $NASXFER_BROWSER_NOTEBOOKS."""
    return sorted(notebooks_dir().glob("*.ipynb"))


# ---- a notebook in nbconvert's stock HTML (what nbviewer shows; GitHub shows the same PNG) ------


def test_nbconvert_html_shows_every_chart(browser, serve, tmp_path):
    """`jupyter nbconvert --to html` (its stock template) of an executed notebook: every chart is a drawn image."""
    from nbconvert import HTMLExporter

    require_offline_notebooks(notebooks_under_test())
    nb = notebook_under_test()
    body, _ = HTMLExporter().from_filename(str(nb))
    (tmp_path / "nb.html").write_text(body)
    base = serve(tmp_path)
    browser.open(f"{base}/nb.html")
    n = _count_offline_charts(nb)
    counts = browser.wait_for(lambda c: sum(px > 500 for px in c["image_colour"]) >= n, timeout=60)
    assert counts["vega_views"] == 0, counts  # nbconvert renders no Vega: the PNG is what readers see
    # the stock template still asks CDNs for require.js and MathJax; blocked here, the charts show anyway
    assert all("cdnjs.cloudflare.com" in u for u in browser.external_requests()), browser.external_requests()


# ---- a notebook in JupyterLab ------------------------------------------------------------


def _count_offline_charts(path: Path) -> int:
    """Chart outputs of nasxfer's offline renderer (Vega + PNG) in a notebook file."""
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0
    return sum(
        VEGA_MIME in o.get("data", {}) and "image/png" in o.get("data", {})
        for c in nb.get("cells", [])
        for o in c.get("outputs", [])
    )


def _has_offline_chart(path: Path) -> bool:
    return _count_offline_charts(path) > 0


def _cdn_charts(notebooks) -> list[str]:
    """Notebooks with a chart output that fetches vega from a CDN (Altair's HTML output): the issue's bug."""
    bad = []
    for p in notebooks:
        nb = json.loads(p.read_text())
        html = [
            o["data"]["text/html"]
            for c in nb.get("cells", [])
            for o in c.get("outputs", [])
            if "text/html" in o.get("data", {})
        ]
        if any(
            "vega" in (h if isinstance(h, str) else "".join(h))
            and "https://cdn" in (h if isinstance(h, str) else "".join(h))
            for h in html
        ):
            bad.append(p.name)
    return bad


def require_offline_notebooks(notebooks) -> None:
    """Fail on notebooks whose charts need a CDN; skip where no notebook holds a chart at all."""
    bad = _cdn_charts(notebooks)
    assert not bad, (
        f"{', '.join(bad)} in {notebooks_dir()} show charts that load vega from a CDN: re-execute them with "
        "nasxfer.figures.use_offline_renderer() called in their first code cell"
    )
    if not any(_has_offline_chart(p) for p in notebooks):
        pytest.skip(
            f"no notebook in {notebooks_dir()} holds a chart (set NASXFER_BROWSER_NOTEBOOKS to executed notebooks)"
        )


def notebook_under_test() -> Path | None:
    """The first notebook with a chart output of the offline renderer (03_rq1 sorts early: two matrices)."""
    return next((p for p in notebooks_under_test() if _has_offline_chart(p)), None)


def test_notebook_draws_in_jupyterlab(browser, tmp_path):
    """JupyterLab, started by the test on loopback, opens an executed notebook and draws its charts itself."""
    require_offline_notebooks(notebooks_under_test())
    nb = notebook_under_test()
    root = tmp_path / "lab"
    root.mkdir()
    n_charts = _count_offline_charts(nb)
    settings = tmp_path / "jsettings"
    # render every cell, not only those in view, so that every chart can be counted; no news fetch
    for ext, name, value in (
        ("notebook-extension", "tracker", {"windowingMode": "none"}),
        ("apputils-extension", "notification", {"fetchNews": "false", "checkForUpdates": False}),
    ):
        (settings / "@jupyterlab" / ext).mkdir(parents=True, exist_ok=True)
        (settings / "@jupyterlab" / ext / f"{name}.jupyterlab-settings").write_text(json.dumps(value))
    shutil.copy(nb, root / nb.name)  # the server's root holds only a copy: opening it never rewrites the original
    port, token = free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp_path / "jcfg"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "jrt"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "jws"),
    )
    log = open(tmp_path / "jupyterlab.log", "wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.port_retries=0",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            f"--LabApp.user_settings_dir={settings}",
            "--ServerApp.open_browser=False",
            *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=root,
    )
    try:
        deadline = time.time() + 120
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            try:
                opener.open(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    raise AssertionError(
                        f"JupyterLab did not start: {(tmp_path / 'jupyterlab.log').read_text()[-3000:]}"
                    ) from None
                time.sleep(0.5)
        browser.open(f"http://127.0.0.1:{port}/lab/tree/{urllib.parse.quote(nb.name)}?token={token}&reset")
        # every chart output of the notebook drawn by JupyterLab's own Vega renderer (not the PNG beside it)
        browser.wait_for(lambda c: c["vega_views_drawn"] >= n_charts, timeout=120)
        browser.screenshot("jupyterlab")
        assert browser.external_requests() == [], browser.external_requests()
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
