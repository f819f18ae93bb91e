"""Static snapshots of the map: a PNG via headless Chromium (Playwright driving the
system ``/usr/bin/chromium``; never a downloaded browser) and a standalone HTML file with
MapLibre, the page and the data inlined, which opens offline from disk."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import httpx

from voirie.server.main import STATIC_DIR, maplibre_dir

logger = logging.getLogger(__name__)

CHROMIUM_ARGS = ["--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox"]


def chromium_path() -> str | None:
    """The system Chromium, or None (``VOIRIE_CHROMIUM`` overrides)."""
    candidate = os.environ.get("VOIRIE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return candidate if Path(candidate).is_file() else None


def wait_until(page: Any, expression: str, timeout_ms: float, arg: Any = None) -> None:
    """Poll ``expression`` in the page until it is truthy (TimeoutError after ``timeout_ms``).

    Playwright's ``wait_for_function`` evaluates its predicate with ``eval`` inside the page,
    which the map's Content-Security-Policy forbids (no 'unsafe-eval'); ``page.evaluate``
    runs through the DevTools protocol instead, so the page keeps its real policy."""
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression, arg):
        if time.monotonic() > deadline:
            raise TimeoutError(f"page never satisfied {expression!r} within {timeout_ms / 1000:.0f} s")
        page.wait_for_timeout(100)


def screenshot(url: str, path: Path, timeout_ms: int = 90_000, size: tuple[int, int] = (1400, 900),
               check: tuple[str, ...] = (), ready: str = "window.voirieReady === true") -> Path:
    """Open a page in headless Chromium, wait until ``ready`` holds (the map page: sections
    rendered), tick the ``check`` boxes (CSS selectors, e.g. ``#show-works``), save a PNG."""
    from playwright.sync_api import sync_playwright  # dev/demo extra: imported only when used

    executable = chromium_path()
    if executable is None:
        raise RuntimeError("no chromium found; install the Debian package 'chromium'")
    path.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": size[0], "height": size[1]})
            page.goto(url)
            wait_until(page, ready, timeout_ms)
            for selector in check:
                page.check(selector, timeout=timeout_ms)
            if check:  # a ticked layer repaints: wait for the map to be idle again (at most 10 s)
                page.evaluate("() => new Promise((done) => { window.voirieMap.once('idle', done);"
                              " window.voirieMap.triggerRepaint(); setTimeout(done, 10000); })")
            page.screenshot(path=str(path))
        finally:
            browser.close()
    return path


def _inline(html: str, embed: dict[str, Any]) -> str:
    vendor = maplibre_dir()
    # No "<" at all inside the inline script: "</script" or "<!--" in a hostile name would end it.
    safe = json.dumps(embed).replace("<", "\\u003c")
    html = html.replace('<link rel="stylesheet" href="/vendor/maplibre-gl.css">',
                        f"<style>{(vendor / 'maplibre-gl.css').read_text()}</style>")
    html = html.replace('<link rel="stylesheet" href="/static/app.css">',
                        f"<style>{(STATIC_DIR / 'app.css').read_text()}</style>")
    html = html.replace('<script src="/vendor/maplibre-gl.js"></script>',
                        f"<script>{(vendor / 'maplibre-gl.js').read_text()}</script>"
                        f"<script>window.VOIRIE_EMBED = {safe};</script>")
    for script in ("dom.js", "tiles.js", "app.js"):
        html = html.replace(f'<script src="/static/{script}"></script>',
                            f"<script>{(STATIC_DIR / script).read_text()}</script>")
    return html


def standalone_html(base_url: str, path: Path, max_details: int = 2000) -> Path:
    """One self-contained HTML file of the current map (photos left out to stay small)."""
    paths = ["/api/v1/map-config", "/api/v1/sections.geojson", "/api/v1/summary", "/api/v1/streets"]
    with httpx.Client(base_url=base_url, timeout=60) as client:
        embed = {p: client.get(p).raise_for_status().json() for p in paths}
        surveyed = [f["id"] for f in embed["/api/v1/sections.geojson"]["features"]
                    if f["properties"]["grade"] is not None][:max_details]
        for section_id in surveyed:
            embed[f"/api/v1/sections/{section_id}"] = client.get(f"/api/v1/sections/{section_id}").json()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_inline((STATIC_DIR / "index.html").read_text(), embed), encoding="utf-8")
    return path
