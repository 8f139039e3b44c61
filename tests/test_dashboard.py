"""The dashboard: a self-contained page from the marts, served on 127.0.0.1, rendered by headless chromium.

The browser test drives Debian's chromium over the DevTools protocol (a small websocket client below):
it loads the page from a local server, waits for plotly to draw, counts the drawn traces, bars, lines
and band fills of every plot in the DOM, compares the papers plot with the generated digests, collects
console errors, and saves a full-page screenshot to test-artifacts/dashboard.png.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from cdp import DevTools
from digestflow import dashboard, sql

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = os.environ.get("DIGESTFLOW_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def test_empty_warehouse_gives_a_page_that_says_what_to_run(tmp_path):
    out = dashboard.write_dashboard(str(tmp_path / "warehouse"), tmp_path / "d.html")
    page = out.read_text(encoding="utf-8")
    for plot_id in dashboard.PLOT_IDS:
        assert f'id="{plot_id}"' in page
    assert "run `digestflow ingest`" in page
    assert "run `digestflow trends`" in page
    assert "run `digestflow embed`" in page


def test_server_binds_loopback_and_serves_only_the_page(tmp_path):
    page = tmp_path / "d.html"
    page.write_text("<html>ok</html>", encoding="utf-8")
    server = dashboard.make_server(page, port=0)
    host, port = server.server_address[:2]
    assert host == "127.0.0.1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
            assert response.read() == b"<html>ok</html>"
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/../../etc/passwd")
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def page(pipeline_run, tmp_path_factory) -> Path:
    return dashboard.write_dashboard(str(pipeline_run.warehouse), tmp_path_factory.mktemp("dash") / "dashboard.html")


@pytest.mark.slow
def test_page_is_self_contained(page):
    text = page.read_text(encoding="utf-8")
    assert "Plotly.newPlot" in text
    assert text.count("Plotly.newPlot") == len(dashboard.PLOT_IDS)
    assert not re.search(r"<script[^>]+src=", text), "the page must not load scripts from anywhere"
    assert not re.search(r"<link[^>]+href=\"https?:", text)
    assert "no papers yet" not in text
    assert "no trends yet" not in text
    assert "no erank statistics yet" not in text


# ------------------------------------------------------------------------------------- chromium


def launch_chromium(profile: Path) -> tuple[subprocess.Popen, str]:
    """Start headless chromium with a DevTools port; return the process and the first page's websocket."""
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
         "--window-size=1400,1000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    port = None
    assert proc.stderr is not None
    while port is None and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode}")
        match = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
        if match:
            port = int(match.group(1))
    if port is None:
        proc.kill()
        raise RuntimeError("chromium did not open its DevTools port within 120 s")
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as response:
        targets = json.load(response)
    return proc, next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")


_MEASURE = """
(() => {
  const ids = %s;
  const out = {};
  for (const id of ids) {
    const gd = document.getElementById(id);
    if (!gd || !gd._fullLayout || !gd.querySelector('.main-svg')) { out[id] = null; continue; }
    const drawnLines = [...gd.querySelectorAll('path.js-line')].filter(p => (p.getAttribute('d') || '').length > 2);
    const drawnFills = [...gd.querySelectorAll('path.js-fill')].filter(p => (p.getAttribute('d') || '').length > 2);
    out[id] = {
      data: gd.data.map(t => ({type: t.type || 'scatter', name: t.name || '', n: (t.x || []).length,
                               x: (t.x || []).map(String), y: (t.y || []).slice()})),
      traces: gd.querySelectorAll('g.trace').length,
      bars: gd.querySelectorAll('g.trace.bars g.point path').length,
      markers: gd.querySelectorAll('g.trace.scatter path.point').length,
      lines: drawnLines.length,
      fills: drawnFills.length,
      xticks: [...gd.querySelectorAll('g.xtick text')].map(t => t.textContent),
      annotations: [...gd.querySelectorAll('g.annotation text')].map(t => t.textContent),
      height: gd.getBoundingClientRect().height,
    };
  }
  return out;
})()
"""


RISER = "spectral token routing"  # generate.default_plants(): the sharp riser of the last week
_OPEN_RISER_PAPERS = """
(() => {
  const outer = document.getElementById('terms-rising-papers');
  const term = [...outer.querySelectorAll('details[data-term]')].find(d => d.dataset.term === %s);
  if (!term) return {items: [], visible: false};
  outer.querySelector('summary').click();
  term.querySelector('summary').click();
  const items = [...term.querySelectorAll('li')];
  return {items: items.map(li => li.textContent), visible: items.every(li => li.getBoundingClientRect().height > 0)};
})()
"""


@pytest.mark.slow
@pytest.mark.browser
def test_every_plot_renders_with_data_in_chromium(pipeline_run, page, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    server = dashboard.make_server(page, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    proc, ws_url = launch_chromium(tmp_path / "profile")
    devtools = DevTools(ws_url)
    try:
        for domain in ("Page", "Runtime", "Log"):
            devtools.call(f"{domain}.enable")
        devtools.call("Emulation.setDeviceMetricsOverride", width=1400, height=1000, deviceScaleFactor=1, mobile=False)
        devtools.call("Page.navigate", url=url)
        devtools.wait_for("Page.loadEventFired", timeout=900)
        deadline = time.monotonic() + 300
        while True:
            plots = devtools.evaluate(_MEASURE % json.dumps(list(dashboard.PLOT_IDS)))
            if all(plots.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        listed = devtools.evaluate(_OPEN_RISER_PAPERS % json.dumps(RISER))  # click: open before the screenshot
        height = devtools.evaluate("document.documentElement.scrollHeight")
        devtools.call("Emulation.setDeviceMetricsOverride", width=1400, height=int(height), deviceScaleFactor=1,
                      mobile=False)
        time.sleep(1.0)
        shot = devtools.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "dashboard.png").write_bytes(base64.b64decode(shot["data"]))
        (ARTIFACTS / "dashboard-measure.json").write_text(json.dumps(plots, indent=1, default=str))
        hover = devtools.evaluate("document.getElementById('terms-rising').data[0].customdata.map(c => c[3])")
        errors = devtools.errors()
    finally:
        devtools.close()
        proc.terminate()
        proc.wait(timeout=30)
        server.shutdown()
        server.server_close()

    missing = [k for k, v in plots.items() if not v]
    assert not missing, f"plots not drawn: {missing}"
    assert errors == []
    for plot_id, p in plots.items():
        assert p["traces"] >= 1, plot_id
        assert p["bars"] + p["markers"] + p["lines"] > 0, f"{plot_id}: nothing drawn"
        assert not [a for a in p["annotations"] if a.startswith("no ")], f"{plot_id}: {p['annotations']}"
        assert p["height"] > 150, plot_id

    # Dated x axes: tick labels are month names (with the year on the first tick), not numbers.
    for plot_id in ("papers-per-day", "rejects-per-day", "validation-pass-rate", "erank-over-time"):
        ticks = [t for t in plots[plot_id]["xticks"] if t]
        assert ticks, plot_id
        assert all(re.match(r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d", t) for t in ticks), ticks

    # The papers plot shows, day by day, what the generator wrote (new + listed-before = distinct papers).
    seen: set[str] = set()
    expected = {}
    for d in pipeline_run.published:
        titles = {t for t, _ in d.papers}
        expected[d.digest_date.isoformat()] = (len(titles - seen), len(titles & seen))
        seen |= titles
    new, repeated = plots["papers-per-day"]["data"]
    drawn = {x[:10]: (a, b) for x, a, b in zip(new["x"], new["y"], repeated["y"], strict=True)}
    assert drawn == expected
    assert plots["papers-per-day"]["bars"] == 2 * len(expected)

    # Rejects: the one planted day; validation: that day drawn as a failure.
    rejects = plots["rejects-per-day"]["data"][0]
    assert {x[:10]: y for x, y in zip(rejects["x"], rejects["y"], strict=True) if y} == {pipeline_run.bad_date.isoformat(): 1}
    rate = plots["validation-pass-rate"]["data"][0]
    assert [x[:10] for x, y in zip(rate["x"], rate["y"], strict=True) if y < 1] == [pipeline_run.bad_date.isoformat()]

    # Term lists: one bar and one drawn sparkline per term of the latest 7d lists in trend_mart.
    _, counts = sql.query(str(pipeline_run.warehouse), """
        SELECT list, count(*) FROM trend_mart
        WHERE as_of = (SELECT max(as_of) FROM trend_mart) AND "window" = '7d' GROUP BY list""")
    for lst, n in counts:
        p = plots[f"terms-{lst}"]
        assert p["bars"] == n, lst
        assert len(p["data"]) == n + 1, lst
        assert p["lines"] >= sum(1 for t in p["data"][1:] if t["n"] >= 2), lst

    # The papers behind the planted riser: listed under the rising plot (opened by clicking), with dates,
    # each one a generated paper of the target week whose abstract carries the phrase; the same in the
    # bar's hover, and the same as trend_papers.
    end = pipeline_run.end
    abstracts = {(d.digest_date.isoformat(), t): a for d in pipeline_run.published for t, a in d.papers}
    assert listed["visible"], "the riser's papers did not open on click"
    shown = [re.match(r"(\d{4}-\d{2}-\d{2})(.*?)( \(title\))?$", li).groups()[:2] for li in listed["items"]]
    assert len(shown) >= 3
    for day, title in shown:
        assert end - dt.timedelta(days=6) <= dt.date.fromisoformat(day) <= end
        assert RISER in abstracts[(day, title)].lower() or RISER in title.lower(), title
    _, rows = sql.query(str(pipeline_run.warehouse), f"""
        SELECT digest_date, title FROM trend_papers
        WHERE as_of = (SELECT max(as_of) FROM trend_papers) AND "window" = '7d' AND list = 'rising'
          AND term = '{RISER}' ORDER BY evidence_rank""")
    assert [(str(d), t) for d, t in rows] == shown
    riser_hover = next(h for h in hover if shown[0][1] in h)
    assert all(title in riser_hover for _, title in shown[:3])

    # erank: the 95% band is a drawn fill, erank_at_n and erank are drawn lines.
    erank = plots["erank-over-time"]
    assert erank["fills"] >= 1
    names = " | ".join(t["name"] for t in erank["data"])
    assert "week erank_at_n" in names
    assert "week erank" in names
    assert erank["lines"] >= 3

