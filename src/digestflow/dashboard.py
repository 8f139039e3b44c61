"""The built-in dashboard: one self-contained HTML page of interactive plots over the marts.

It reads only the marts (``daily_summary``, ``trend_mart``, ``erank_mart``) and ``trend_papers`` (at most
5 papers per listed term) through the read-only DuckDB views, never ``papers``, so refreshing it costs milliseconds whatever the warehouse size. plotly.js is
inlined once, so the page works offline and can be mailed or published as one file.

Plots: papers per day (new vs listed before), rejects per day, validation pass rate, the latest rising,
falling and new terms with weekly-share sparklines (hover a bar for the papers behind the term; the list
under each plot opens to every paper with its date), and erank / erank_at_n over time with the 95% band.
A mart without rows gives a plot that says which stage fills it, never a broken page.
"""

from __future__ import annotations

import datetime as dt
import html
import http.server
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from digestflow import sql

#: The plot ids on the page, in order (the browser test looks for each).
PLOT_IDS = (
    "papers-per-day",
    "rejects-per-day",
    "validation-pass-rate",
    "terms-rising",
    "terms-falling",
    "terms-new",
    "erank-over-time",
)
HEADLINE_WINDOW = "7d"
_DATE_AXIS = {"type": "date", "tickformat": "%b %-d\n%Y", "hoverformat": "%Y-%m-%d", "automargin": True}
_COLORS = {"new": "#1f77b4", "repeated": "#aec7e8", "rejects": "#d62728", "pass": "#2ca02c", "fail": "#d62728"}
_LISTS = {
    "rising": ("terms-rising", "Rising terms", "#2ca02c"),
    "falling": ("terms-falling", "Falling terms", "#d62728"),
    "new": ("terms-new", "New terms", "#9467bd"),
}


@dataclass
class Marts:
    """What the page shows, as plain rows (dicts) read from the marts."""

    daily: list[dict[str, Any]] = field(default_factory=list)
    terms: list[dict[str, Any]] = field(default_factory=list)
    papers: list[dict[str, Any]] = field(default_factory=list)  # trend_papers of the same as_of and window
    erank: list[dict[str, Any]] = field(default_factory=list)
    as_of: dt.date | None = None


def _rows(wh: sql.ReadOnlyWarehouse, query: str) -> list[dict[str, Any]]:
    columns, rows = wh.execute(query)
    return [dict(zip(columns, r, strict=True)) for r in rows]


def load_marts(warehouse: str, window: str = HEADLINE_WINDOW) -> Marts:
    """Read the three marts (the latest trends run only) through the read-only views."""
    with sql.connect(warehouse) as wh:
        daily = _rows(wh, "SELECT * FROM daily_summary ORDER BY digest_date")
        as_of = _rows(wh, "SELECT max(as_of) AS as_of FROM trend_mart")[0]["as_of"]
        terms = _rows(
            wh,
            "SELECT * FROM trend_mart WHERE as_of = (SELECT max(as_of) FROM trend_mart) "
            f"AND \"window\" = '{window}' ORDER BY list, rank",
        )
        papers = _rows(
            wh,
            "SELECT * FROM trend_papers WHERE as_of = (SELECT max(as_of) FROM trend_mart) "
            f"AND \"window\" = '{window}' ORDER BY list, rank, evidence_rank",
        )
        erank = _rows(
            wh,
            "SELECT * FROM erank_mart WHERE set_kind IN ('day', 'week') ORDER BY model, set_kind, set_start",
        )
    return Marts(daily=daily, terms=terms, papers=papers, erank=erank, as_of=as_of)


# ------------------------------------------------------------------------------------------ figures


def _layout(title: str, height: int = 340, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 16}},
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
        "template": "plotly_white",
        "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0.5, "xanchor": "center"},
        "hovermode": "x unified",
    }
    layout.update(extra)
    return layout


def _empty(title: str, why: str) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure(layout=_layout(title, height=220))
    fig.add_annotation(text=why, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 14})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def papers_figure(daily: list[dict[str, Any]]) -> Any:
    import plotly.graph_objects as go

    title = "Papers per digest date"
    days = [r for r in daily if r["n_papers"] > 0]
    if not days:
        return _empty(title, "no papers yet: run `digestflow ingest` and `digestflow marts`")
    x = [r["digest_date"] for r in days]
    fig = go.Figure(layout=_layout(title, barmode="stack", xaxis=_DATE_AXIS, yaxis={"title": "papers"}))
    fig.add_bar(x=x, y=[r["n_new_papers"] for r in days], name="new", marker_color=_COLORS["new"])
    fig.add_bar(
        x=x, y=[r["n_repeated_papers"] for r in days], name="listed on an earlier day",
        marker_color=_COLORS["repeated"],
    )
    return fig


def rejects_figure(daily: list[dict[str, Any]]) -> Any:
    import plotly.graph_objects as go

    title = "Rejected blocks per digest date"
    if not daily:
        return _empty(title, "no digests yet: run `digestflow ingest` and `digestflow marts`")
    most = max(r["n_rejects"] for r in daily)
    yaxis = {"title": "rejected blocks", "rangemode": "tozero", "tickformat": "d", "dtick": max(1, -(-most // 5))}
    fig = go.Figure(layout=_layout(title, xaxis=_DATE_AXIS, yaxis=yaxis))
    fig.add_bar(
        x=[r["digest_date"] for r in daily], y=[r["n_rejects"] for r in daily], name="rejects",
        marker_color=_COLORS["rejects"],
    )
    return fig


def validation_figure(daily: list[dict[str, Any]]) -> Any:
    import plotly.graph_objects as go

    title = "Validation pass rate"
    days = [r for r in daily if r["validation_suites"] > 0]
    if not days:
        return _empty(title, "no validation results: runs with --no-validate record none")
    rate = [(r["validation_suites"] - r["validation_failed"]) / r["validation_suites"] for r in days]
    fig = go.Figure(
        layout=_layout(
            title, xaxis=_DATE_AXIS,
            yaxis={"title": "suites passed (latest runs)", "tickformat": ".0%", "range": [0, 1.05]},
        )
    )
    fig.add_bar(
        x=[r["digest_date"] for r in days], y=rate, name="pass rate",
        marker_color=[_COLORS["pass"] if r["validation_failed"] == 0 else _COLORS["fail"] for r in days],
        customdata=[[r["validation_suites"], r["validation_failed"]] for r in days],
        hovertemplate="%{y:.0%} (%{customdata[0]} suites, %{customdata[1]} failed)<extra></extra>",
    )
    return fig


def _papers_by_term(papers: list[dict[str, Any]], kind: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for p in sorted((p for p in papers if p["list"] == kind), key=lambda p: (p["term"], p["evidence_rank"])):
        out.setdefault(p["term"], []).append(p)
    return out


def _hover_papers(papers: list[dict[str, Any]], limit: int = 3) -> str:
    lines = [f"{p['digest_date']} {html.escape(_clip(p['title'], 80))}" for p in papers[:limit]]
    more = len(papers) - limit
    if more > 0:
        lines.append(f"… {more} more below the plot")
    return "<br>" + "<br>".join(lines) if lines else ""


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def terms_figure(
    terms: list[dict[str, Any]],
    kind: str,
    as_of: dt.date | None,
    window: str,
    papers: list[dict[str, Any]] | None = None,
) -> Any:
    """One list (rising / falling / new): a bar per term, and its weekly-share sparkline beside it; a
    bar's hover lists the papers behind the term (``trend_papers``)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    _, label, color = _LISTS[kind]
    rows = [r for r in terms if r["list"] == kind]
    title = f"{label}, {window} window ending {as_of}" if as_of else label
    if not rows:
        why = "no trends yet: run `digestflow trends` and `digestflow marts`" if as_of is None else "no terms in this list"
        return _empty(title, why)
    n = len(rows)
    value_name = "papers in window" if kind == "new" else "log-odds z"
    specs = [[{"rowspan": n}, {}]] + [[None, {}] for _ in range(n - 1)]
    fig = make_subplots(
        rows=n, cols=2, specs=specs, column_widths=[0.5, 0.5], horizontal_spacing=0.16, vertical_spacing=0.012,
        subplot_titles=[value_name, "weekly share"] + [""] * (n - 1),
    )
    labels = [f"{r['rank']}. {r['display_form']}" for r in rows]
    evidence = _papers_by_term(papers or [], kind)
    values = [r["df_target"] if kind == "new" else r["logodds_z"] for r in rows]
    fig.add_trace(
        go.Bar(
            x=values, y=labels, orientation="h", marker_color=color, name=value_name, showlegend=False,
            customdata=[
                [r["share_target"] or 0, r["share_baseline"] or 0, r["df_target"],
                 _hover_papers(evidence.get(r["term"], []))]
                for r in rows
            ],
            hovertemplate="%{y}: %{x:.2f}<br>share %{customdata[0]:.1%} (before %{customdata[1]:.1%}), "
            "%{customdata[2]} papers%{customdata[3]}<extra></extra>",
        ),
        row=1, col=1,
    )
    fig.update_yaxes(autorange="reversed", row=1, col=1, automargin=True, tickfont={"size": 12})
    for i, r in enumerate(rows, start=1):
        fig.add_trace(
            go.Scatter(
                x=r["spark_weeks"], y=r["spark_share"], mode="lines+markers", name=r["display_form"],
                line={"color": color, "width": 1.5}, marker={"size": 3}, showlegend=False,
                hovertemplate=f"{html.escape(r['display_form'])}<br>week of %{{x|%Y-%m-%d}}: %{{y:.1%}}<extra></extra>",
            ),
            row=i, col=2,
        )
        fig.update_yaxes(visible=False, rangemode="tozero", row=i, col=2)
        fig.update_xaxes(type="date", showticklabels=i == n, tickformat="%b %-d", row=i, col=2)
    fig.update_layout(_layout(title, height=max(260, 60 + 30 * n), hovermode="closest"))
    return fig


def erank_figure(erank: list[dict[str, Any]]) -> Any:
    """erank_at_n (size-matched, with 95% band) above, erank of the whole set (depends on n) below."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    title = "Effective rank of each day's and week's embeddings"
    if not any(r["erank_at_n"] is not None or r["erank"] is not None for r in erank):
        return _empty(title, "no erank statistics yet: run `digestflow embed`, `digestflow erank`, `digestflow marts`")
    m = next((r["erank_at_n_m"] for r in erank if r["erank_at_n"] is not None), None)
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1,
        subplot_titles=[f"erank_at_n: mean erank of {m}-paper subsamples, 95% band (comparable)",
                        "erank of the whole set (grows with the number of papers)"],
    )
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"]
    models = sorted({r["model"] for r in erank})
    for k, model in enumerate(models):
        color = palette[k % len(palette)]
        weeks = [r for r in erank if r["model"] == model and r["set_kind"] == "week" and r["erank_at_n"] is not None]
        days = [r for r in erank if r["model"] == model and r["set_kind"] == "day" and r["erank_at_n"] is not None]
        if weeks:
            x = [r["set_start"] for r in weeks]
            fig.add_trace(go.Scatter(
                x=x + x[::-1], y=[r["erank_ci_high"] for r in weeks] + [r["erank_ci_low"] for r in weeks][::-1],
                mode="lines", fill="toself", fillcolor=_rgba(color, 0.18), line={"width": 0}, hoverinfo="skip",
                name=f"{model}: week 95% band", showlegend=True,
            ), row=1, col=1)
            fig.add_trace(go.Scatter(
                x=x, y=[r["erank_at_n"] for r in weeks], mode="lines+markers", line={"color": color, "width": 2},
                name=f"{model}: week erank_at_n",
                customdata=[[r["erank_ci_low"], r["erank_ci_high"], r["n"]] for r in weeks],
                hovertemplate="week of %{x|%Y-%m-%d}: %{y:.3f} [%{customdata[0]:.3f}, %{customdata[1]:.3f}], "
                "n=%{customdata[2]}<extra></extra>",
            ), row=1, col=1)
        if days:
            fig.add_trace(go.Scatter(
                x=[r["set_start"] for r in days], y=[r["erank_at_n"] for r in days], mode="markers",
                marker={"color": color, "size": 5, "opacity": 0.55, "symbol": "circle-open"},
                name=f"{model}: day erank_at_n",
                error_y={"type": "data", "symmetric": False, "thickness": 0.8, "width": 0,
                         "array": [r["erank_ci_high"] - r["erank_at_n"] for r in days],
                         "arrayminus": [r["erank_at_n"] - r["erank_ci_low"] for r in days],
                         "color": _rgba(color, 0.35)},
                hovertemplate="%{x|%Y-%m-%d}: %{y:.3f}<extra>day</extra>",
            ), row=1, col=1)
        for kind, dash in (("week", "solid"), ("day", "dot")):
            sets = [r for r in erank if r["model"] == model and r["set_kind"] == kind and r["erank"] is not None]
            if sets:
                fig.add_trace(go.Scatter(
                    x=[r["set_start"] for r in sets], y=[r["erank"] for r in sets], mode="lines+markers",
                    line={"color": color, "dash": dash, "width": 1.5}, marker={"size": 4},
                    name=f"{model}: {kind} erank", customdata=[r["n"] for r in sets],
                    hovertemplate="%{x|%Y-%m-%d}: %{y:.2f} (n=%{customdata})<extra>" + kind + "</extra>",
                ), row=2, col=1)
    fig.update_xaxes(**_DATE_AXIS)
    fig.update_xaxes(showticklabels=True, row=1, col=1)
    fig.update_yaxes(title_text="erank_at_n", row=1, col=1)
    fig.update_yaxes(title_text="erank", row=2, col=1)
    fig.update_layout(_layout(title, height=620, hovermode="closest",
                              legend={"orientation": "h", "y": -0.12, "yanchor": "top", "x": 0}))
    return fig


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def figures(marts: Marts, window: str = HEADLINE_WINDOW) -> dict[str, Any]:
    """Every plot of the page, keyed by its element id (see :data:`PLOT_IDS`)."""
    out = {
        "papers-per-day": papers_figure(marts.daily),
        "rejects-per-day": rejects_figure(marts.daily),
        "validation-pass-rate": validation_figure(marts.daily),
    }
    for kind, (plot_id, _, _) in _LISTS.items():
        out[plot_id] = terms_figure(marts.terms, kind, marts.as_of, window, marts.papers)
    out["erank-over-time"] = erank_figure(marts.erank)
    return out


# --------------------------------------------------------------------------------------------- page


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; background: #f4f5f7; color: #222; }
header { background: #1f2937; color: #fff; padding: 14px 24px; }
header h1 { margin: 0; font-size: 22px; }
header p { margin: 4px 0 0; color: #cbd5e1; font-size: 13px; }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; padding: 16px 24px 0; }
.tile { background: #fff; border-radius: 6px; padding: 10px 16px; min-width: 140px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.tile b { display: block; font-size: 22px; }
.tile span { font-size: 12px; color: #555; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 16px; padding: 16px 24px 24px; }
.card { background: #fff; border-radius: 6px; padding: 6px; box-shadow: 0 1px 2px rgba(0,0,0,.08); min-width: 0; }
.wide { grid-column: 1 / -1; }
.papers { margin: 0 10px 8px; font-size: 13px; }
.papers > summary { cursor: pointer; color: #444; }
.papers details { margin: 2px 0 2px 12px; }
.papers ul { margin: 2px 0 4px; padding-left: 20px; }
.papers time { color: #666; font-variant-numeric: tabular-nums; margin-right: 6px; }
footer { padding: 0 24px 24px; font-size: 12px; color: #666; }
"""


def _tiles(marts: Marts) -> str:
    daily = marts.daily
    failed = sum(1 for r in daily if r["validation_success"] is False)
    tiles = [
        (f"{sum(r['n_papers'] for r in daily):,}", "papers"),
        (f"{sum(1 for r in daily if r['n_papers'] > 0):,}", "digest dates"),
        (str(max((r["digest_date"] for r in daily), default="–")), "latest digest"),
        (f"{sum(r['n_rejects'] for r in daily):,}", "rejected blocks"),
        (f"{failed:,}", "dates failing validation"),
        (str(marts.as_of or "–"), "latest trends run"),
    ]
    return "".join(f'<div class="tile"><b>{html.escape(v)}</b><span>{html.escape(k)}</span></div>' for v, k in tiles)


def _papers_html(marts: Marts, plot_id: str) -> str:
    """Under a term list: each listed term opens (click) to the papers behind it, with their dates."""
    kind = next((k for k, (pid, _, _) in _LISTS.items() if pid == plot_id), None)
    if kind is None:
        return ""
    evidence = _papers_by_term(marts.papers, kind)
    rows = [r for r in marts.terms if r["list"] == kind and r["term"] in evidence]
    if not rows:
        return ""
    items = []
    for r in rows:
        papers = "".join(
            f'<li><time>{p["digest_date"]}</time>{html.escape(p["title"])}'
            f'{" (title)" if p["in_title"] else ""}</li>'
            for p in evidence[r["term"]]
        )
        items.append(
            f'<details data-term="{html.escape(r["term"])}"><summary>{r["rank"]}. {html.escape(r["display_form"])} '
            f'({len(evidence[r["term"]])})</summary><ul>{papers}</ul></details>'
        )
    return (
        f'<details class="papers" id="{plot_id}-papers"><summary>The papers behind these terms</summary>'
        f'{"".join(items)}</details>'
    )


def render_html(marts: Marts, *, warehouse: str = "", generated_at: dt.datetime | None = None) -> str:
    """The whole page: header, summary tiles, and one card per plot, plotly.js inlined once."""
    import plotly.io as pio

    generated_at = generated_at or dt.datetime.now(dt.UTC).replace(microsecond=0)
    cards = []
    config = {"displaylogo": False, "responsive": True}
    for i, (plot_id, fig) in enumerate(figures(marts).items()):
        div = pio.to_html(
            fig, full_html=False, include_plotlyjs=i == 0, div_id=plot_id, config=config,
            default_height=f"{fig.layout.height}px",
        )
        wide = " wide" if plot_id in ("papers-per-day", "erank-over-time") else ""
        cards.append(f'<section class="card{wide}">{div}{_papers_html(marts, plot_id)}</section>')
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<link rel=\"icon\" href=\"data:,\">"
        f"<title>digestflow dashboard</title><style>{_CSS}</style></head><body>"
        "<header><h1>digestflow</h1>"
        f"<p>Paper digests, keyword trends and effective rank &middot; generated {generated_at.isoformat()} "
        f"from the marts of {html.escape(warehouse)}</p></header>"
        f'<div class="tiles">{_tiles(marts)}</div><main class="grid">{"".join(cards)}</main>'
        "<footer>Read only from the marts daily_summary, trend_mart, erank_mart and trend_papers (DuckDB). "
        "Hover for values; drag to zoom, double-click to reset.</footer></body></html>\n"
    )


def write_dashboard(warehouse: str, out: str | os.PathLike[str]) -> Path:
    """Render the page from the warehouse's marts into ``out``, replacing it atomically."""
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    page = render_html(load_marts(warehouse), warehouse=str(Path(warehouse).absolute()))
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(page)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)  # a browser reloading mid-refresh sees the old page or the new one
    return target


def make_server(page: Path, port: int = 8050) -> http.server.ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1 (never all interfaces) that serves ``page`` at ``/`` and nothing else."""
    page = page.absolute()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] not in ("/", f"/{page.name}"):
                self.send_error(404, "only the dashboard is served here")
                return
            body = page.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet: one line per request is noise here
            pass

    return http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
