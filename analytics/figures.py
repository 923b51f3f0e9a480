"""Report figures: pure plotting from the statistics' typed results.

Each function takes data that was already computed (a :class:`RateTable`, a
bucketed series, an identification result, the raw frame for distributions),
draws it with matplotlib's Agg backend and returns a :class:`Figure`: the PNG
bytes *and* the table behind the picture, so a test can check what was drawn
(e.g. that a template x model cell without executions is NaN, not 0) without
reading pixels. Nothing here computes a statistic or touches a file.

Defaults, chosen for people reading a report on Monday morning:

* colour-blind safe: viridis/cividis for continuous scales, the Okabe-Ito
  palette for categories; "no data" is a grey hatched cell labelled "no data";
* ids are text, never markup: math-text parsing is off (a ``$`` in a template
  id would otherwise be typeset or crash the renderer) and long ids are
  shortened on axes;
* large inputs are capped (top templates by executions) and the title says so;
* a long tail does not squash a histogram: its axis stops at the far-out
  fence (Q3 + 3 IQR) and what lies beyond is counted in a last, grey bin.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# Figures are drawn on matplotlib.figure.Figure with an explicit Agg canvas, never pyplot:
# no display, no global figure registry, nothing to close, safe on servers.
import matplotlib
import matplotlib.cm
import matplotlib.colors as mcolors
import matplotlib.patches
import matplotlib.transforms
import networkx as nx
import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as MplFigure

from analytics.rates import RateTable

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000")
CONTINUOUS = "viridis"
MISSING_COLOUR = "#d9d9d9"
MAX_HEATMAP_TEMPLATES = 30
MAX_HEATMAP_MODELS = 20
MAX_SERIES = 6
MAX_NETWORK_TEMPLATES = 40
LABEL_CHARS = 32
DPI = 110
HISTOGRAM_BINS = 30
TAIL_FENCE_IQR = 3.0
"""A histogram's axis ends at Q3 + this many interquartile ranges (Tukey's far-out fence)."""

_STYLE: dict[str, Any] = {
    "text.parse_math": False,  # ids are shown verbatim, '$' included
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
}


@dataclass(frozen=True, slots=True)
class Figure:
    """One rendered figure: a file-safe ``name``, its ``title``, PNG bytes and the data drawn."""

    name: str
    title: str
    png: bytes
    data: pd.DataFrame = field(repr=False)
    caption: str = ""


def safe_name(text: str, limit: int = 60) -> str:
    """A file-name stem derived from ``text`` that cannot leave its directory.

    Only ``[A-Za-z0-9_-]`` survive; path separators, dots, quotes and markup
    become ``_``. Never empty.
    """
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:limit]
    return stem or "figure"


def short_label(text: object, limit: int = LABEL_CHARS) -> str:
    """An id shortened for an axis label (the full id stays in the report's tables)."""
    label = "(none)" if text is None or (isinstance(text, float) and math.isnan(text)) \
        else str(text)
    return label if len(label) <= limit else label[: limit - 1] + "…"


@contextmanager
def _canvas(width: float, height: float) -> Iterator[MplFigure]:
    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        figure = MplFigure(figsize=(width, height), layout="constrained")
        FigureCanvasAgg(figure)
        yield figure


def _png(figure: MplFigure) -> bytes:
    buffer = io.BytesIO()
    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]
        figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _top(values: pd.Series, limit: int) -> list[object]:
    """The ``limit`` labels with the largest totals, in descending order."""
    return list(values.sort_values(ascending=False, kind="stable").index[:limit])


def success_heatmap(
    rates: RateTable, *, title: str = "Success rate, template x model",
    templates: Sequence[str] | None = None, models: Sequence[str] | None = None,
) -> Figure:
    """Template x model success rates; a combination never executed is drawn as missing.

    ``rates`` must be grouped by ``("template_id", "model_id")``. Rows and
    columns are the busiest templates and models, or exactly ``templates`` /
    ``models`` when given (requested ids without executions show as missing).
    The returned data is the matrix drawn (NaN where there were no
    executions) with the executions per cell in ``Figure.data.attrs["n"]``.
    """
    frame = rates.frame
    if frame.empty and not (templates and models):
        raise ValueError("success_heatmap: no rates to draw")
    template_totals = frame.groupby("template_id", dropna=False)["n"].sum()
    model_totals = frame.groupby("model_id", dropna=False)["n"].sum()
    if templates:
        template_totals = template_totals.reindex(list(templates), fill_value=0)
    if models:
        model_totals = model_totals.reindex(list(models), fill_value=0)
    rows: list[Any] = list(templates) if templates else _top(template_totals,
                                                             MAX_HEATMAP_TEMPLATES)
    columns: list[Any] = list(models) if models else _top(model_totals, MAX_HEATMAP_MODELS)
    if frame.empty:
        matrix = pd.DataFrame(np.nan, index=rows, columns=columns)
        counts = matrix.copy()
    else:
        matrix = rates.pivot("template_id", "model_id", "rate").reindex(index=rows,
                                                                        columns=columns)
        counts = rates.pivot("template_id", "model_id", "n").reindex(index=rows,
                                                                     columns=columns)
    capped = len(template_totals) > len(rows) or len(model_totals) > len(columns)
    if capped:
        title += f" (busiest {len(rows)} templates, {len(columns)} models)"

    values = matrix.to_numpy(dtype=float)
    count_values = counts.to_numpy(dtype=float)
    width = max(5.0, 1.2 + 0.9 * len(columns))
    height = max(3.0, 1.2 + 0.38 * len(rows))
    with _canvas(width, height) as figure:
        axes = figure.add_subplot()
        colormap = matplotlib.colormaps[CONTINUOUS].with_extremes(bad=MISSING_COLOUR)
        image = axes.imshow(np.ma.masked_invalid(values), cmap=colormap, vmin=0.0, vmax=1.0,
                            aspect="auto", interpolation="nearest")
        for (row, col), value in np.ndenumerate(values):
            if np.isnan(value):
                axes.add_patch(matplotlib.patches.Rectangle(
                    (col - 0.5, row - 0.5), 1, 1, fill=False, hatch="///",
                    edgecolor="#8c8c8c", linewidth=0))
                axes.text(col, row, "no data", ha="center", va="center", fontsize=7,
                          color="#404040")
            else:
                n = int(count_values[row, col])
                colour = "black" if value > 0.6 else "white"
                axes.text(col, row, f"{value:.0%}\nn={n}", ha="center", va="center",
                          fontsize=7, color=colour)
        axes.set_xticks(range(len(columns)), [short_label(m) for m in columns], rotation=30,
                        ha="right")
        axes.set_yticks(range(len(rows)), [short_label(t) for t in rows])
        axes.set_xlabel("model")
        axes.set_ylabel("template")
        axes.set_title(title)
        figure.colorbar(image, ax=axes, label="success rate")
        png = _png(figure)
    matrix.attrs["n"] = counts
    return Figure("success_heatmap", title, png, matrix,
                  "Grey hatched cells: the template never ran on that model in this range.")


def success_time_series(series: pd.DataFrame, *, bucket: str = "day",
                        title: str = "Success rate over time") -> Figure:
    """Success rate per time bucket with its confidence band, one line per template.

    ``series`` has ``template_id``, ``bucket`` (datetimes), ``n``, ``rate``,
    ``ci_low`` and ``ci_high`` (one row per template and bucket with
    executions). At most :data:`MAX_SERIES` templates, the busiest, are drawn.
    """
    if series.empty:
        raise ValueError("success_time_series: no series to draw")
    totals = series.groupby("template_id")["n"].sum()
    templates = _top(totals, MAX_SERIES)
    drawn = series[series["template_id"].isin(templates)].sort_values(["template_id", "bucket"])
    if len(totals) > len(templates):
        title += f" (busiest {len(templates)} of {len(totals)} templates)"
    with _canvas(8.0, 4.2) as figure:
        axes = figure.add_subplot()
        for colour, template in zip(OKABE_ITO, templates, strict=False):
            part = drawn[drawn["template_id"] == template]
            x = pd.to_datetime(part["bucket"], utc=True).dt.tz_convert(None)
            axes.fill_between(x, part["ci_low"], part["ci_high"], color=colour, alpha=0.18,
                              linewidth=0)
            axes.plot(x, part["rate"], marker="o", markersize=3, color=colour,
                      label=short_label(template))
        axes.set_ylim(-0.02, 1.02)
        axes.set_ylabel("success rate")
        axes.set_xlabel(f"event time (UTC, per {bucket})")
        axes.set_title(title)
        axes.grid(alpha=0.3)
        axes.legend(loc="lower left", fontsize=7, frameon=False,
                    ncols=min(3, len(templates)))
        figure.autofmt_xdate()
        png = _png(figure)
    return Figure("success_time_series", title, png, drawn.reset_index(drop=True),
                  "Bands: confidence interval of each bucket's rate (wider = fewer executions).")


def network_graph(rates: RateTable, *, title: str = "Templates and models") -> Figure:
    """Bipartite template-model graph: edge width = executions, edge colour = success rate.

    ``rates`` is grouped by ``("template_id", "model_id")``. The returned data
    has one row per edge drawn (``template_id, model_id, n, rate``).
    """
    frame = rates.frame
    if frame.empty:
        raise ValueError("network_graph: no rates to draw")
    totals = frame.groupby("template_id")["n"].sum()
    templates = set(_top(totals, MAX_NETWORK_TEMPLATES))
    edges = frame[frame["template_id"].isin(templates)][["template_id", "model_id", "n", "rate"]]
    if len(totals) > len(templates):
        title += f" (busiest {len(templates)} of {len(totals)} templates)"
    graph = nx.Graph()
    for template, model, n, rate in edges.itertuples(index=False, name=None):
        graph.add_node(("template", template), kind="template")
        graph.add_node(("model", model), kind="model")
        graph.add_edge(("template", template), ("model", model), weight=int(n), rate=float(rate))
    template_nodes = sorted((n for n, d in graph.nodes(data=True) if d["kind"] == "template"),
                            key=str)
    model_nodes = sorted((n for n, d in graph.nodes(data=True) if d["kind"] == "model"), key=str)
    # A two-column layout reads better than a spring layout for a bipartite graph
    # and is deterministic (the same data gives the same picture).
    position = nx.bipartite_layout(graph, template_nodes, align="vertical") \
        if model_nodes else nx.circular_layout(graph)
    heaviest = max(d["weight"] for _, _, d in graph.edges(data=True))
    height = max(4.0, 0.3 * max(len(template_nodes), len(model_nodes)) + 1.5)
    with _canvas(8.5, height) as figure:
        axes = figure.add_subplot()
        colormap = matplotlib.colormaps["cividis"]
        norm = mcolors.Normalize(vmin=0.0, vmax=1.0)
        edge_list = list(graph.edges(data=True))
        nx.draw_networkx_edges(
            graph, position, ax=axes, edgelist=[(u, v) for u, v, _ in edge_list],
            width=[0.5 + 5.0 * d["weight"] / heaviest for _, _, d in edge_list],
            edge_color=[colormap(norm(d["rate"])) for _, _, d in edge_list], alpha=0.85)
        nx.draw_networkx_nodes(graph, position, ax=axes, nodelist=template_nodes,
                               node_color=OKABE_ITO[1], node_shape="s", node_size=60)
        nx.draw_networkx_nodes(graph, position, ax=axes, nodelist=model_nodes,
                               node_color=OKABE_ITO[0], node_shape="o", node_size=90)
        for node in graph.nodes:
            x, y = (float(v) for v in position[node])
            left = node[0] == "template"
            axes.text(x + (-0.03 if left else 0.03), y, short_label(node[1]), fontsize=7,
                      ha="right" if left else "left", va="center")
        axes.set_title(title + "  (squares: templates, circles: models)")
        axes.axis("off")
        axes.margins(x=0.35)
        scalar = matplotlib.cm.ScalarMappable(norm=norm, cmap=colormap)
        figure.colorbar(scalar, ax=axes, label="success rate of the pair", shrink=0.7)
        png = _png(figure)
    return Figure("network_graph", title, png, edges.reset_index(drop=True),
                  "Edge width: executions of the pair; colour: its success rate.")


def confusion_matrix(labels: Sequence[str], matrix: Sequence[Sequence[float]], *,
                     title: str = "Model identification (held-out executions)") -> Figure:
    """A confusion matrix: rows = true model, columns = predicted model, cells = counts."""
    values = np.asarray(matrix, dtype=float)
    names = [str(label) for label in labels]
    if values.ndim != 2 or values.shape != (len(names), len(names)) or not names:
        raise ValueError(f"confusion_matrix: need a square {len(names)}x{len(names)} matrix, "
                         f"got shape {values.shape}")
    data = pd.DataFrame(values, index=pd.Index(names, name="true"),
                        columns=pd.Index(names, name="predicted"))
    size = max(4.0, 1.5 + 0.7 * len(names))
    with _canvas(size + 1.0, size) as figure:
        axes = figure.add_subplot()
        row_totals = values.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(row_totals > 0, values / row_totals, np.nan)
        colormap = matplotlib.colormaps[CONTINUOUS].with_extremes(bad=MISSING_COLOUR)
        image = axes.imshow(np.ma.masked_invalid(share), cmap=colormap, vmin=0, vmax=1)
        for (row, col), count in np.ndenumerate(values):
            colour = "black" if (share[row, col] if not np.isnan(share[row, col]) else 0) > 0.6 \
                else "white"
            axes.text(col, row, f"{int(count)}", ha="center", va="center", fontsize=8,
                      color=colour)
        ticks = [short_label(name, 20) for name in names]
        axes.set_xticks(range(len(names)), ticks, rotation=30, ha="right")
        axes.set_yticks(range(len(names)), ticks)
        axes.set_xlabel("predicted model")
        axes.set_ylabel("true model")
        axes.set_title(title)
        figure.colorbar(image, ax=axes, label="share of the true model's executions")
        png = _png(figure)
    return Figure("model_identification_confusion", title, png, data,
                  "Counts of held-out executions; colour: share of each row.")


def axis_limit(values: npt.ArrayLike) -> float | None:
    """Where a histogram of ``values`` should stop, or None to show them all.

    The far-out fence Q3 + :data:`TAIL_FENCE_IQR` x IQR, when some values lie
    beyond it: a few 90 s timeouts then no longer squeeze every typical
    latency into the first two bars. A quantile would not do: when 3 % of
    executions time out, even the 99th percentile is a timeout.
    """
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    if data.size < 4:
        return None
    q1, q3 = (float(q) for q in np.quantile(data, [0.25, 0.75]))
    fence = q3 + TAIL_FENCE_IQR * (q3 - q1)
    return fence if q3 > q1 and float(data.max()) > fence else None


def distributions(frame: pd.DataFrame, *, by: str = "model_id",
                  title: str = "Latency and cost per execution") -> Figure:
    """Histograms of ``execution_time`` and ``cost`` per ``by`` group (raw values, no fitting).

    Executions without a value are left out and counted in the returned data
    (``missing``), so "no latency reported" is visible rather than a bar at 0.
    A long tail is folded into a last, grey bin labelled "> limit" (see
    :func:`axis_limit`); the data says where each axis stops (``axis_limit``,
    None when it shows every value) and how many values each group had
    beyond it (``above_limit``).
    """
    if frame.empty:
        raise ValueError("distributions: no executions to draw")
    groups = _top(frame.groupby(by, dropna=False).size(), MAX_SERIES)
    summary_rows = []
    folded = []
    with _canvas(9.0, 3.8) as figure:
        axes_pair = figure.subplots(1, 2)
        for axes, column, unit, short in ((axes_pair[0], "execution_time", "seconds", "{:.3g} s"),
                                          (axes_pair[1], "cost", "US dollars", "${:.3g}")):
            present = frame[column].dropna() if column in frame else pd.Series(dtype=float)
            limit = axis_limit(present.to_numpy()) if not present.empty else None
            if present.empty:
                axes.text(0.5, 0.5, f"no {column} reported", ha="center", va="center",
                          transform=axes.transAxes)
                axes.set_axis_off()
            else:
                _histograms(axes, frame, by, column, groups, present.to_numpy(dtype=float),
                            limit, short)
                label = f"{column.replace('_', ' ')} ({unit})"
                if limit is not None:
                    above = int((present > limit).sum())
                    label += (f"\nlast bin: {above:,} execution(s) above "
                              f"{short.format(limit)}, up to {short.format(present.max())}")
                    folded.append(column.replace("_", " "))
                axes.set_xlabel(label)
                axes.set_ylabel("executions")
                axes.legend(loc="upper right", fontsize=7, frameon=False)
            for group in groups:
                mask = frame[by] == group if group is not None else frame[by].isna()
                chosen = frame.loc[mask, column] if column in frame else pd.Series(dtype=float)
                summary_rows.append({by: group, "measure": column,
                                     "present": int(chosen.notna().sum()),
                                     "missing": int(chosen.isna().sum()),
                                     "axis_limit": limit,
                                     "above_limit": int((chosen > limit).sum())
                                     if limit is not None else 0})
        figure.suptitle(title)
        png = _png(figure)
    caption = "Step histograms per model; executions without a value are not drawn."
    if folded:
        caption += (f" The long tail of {' and '.join(folded)} is folded into the last, grey "
                    f"bin (beyond Q3 + {TAIL_FENCE_IQR:g} IQR), so the typical values stay "
                    "readable.")
    return Figure("latency_cost_distributions", title, png, pd.DataFrame(summary_rows),
                  caption)


def _histograms(axes: Any, frame: pd.DataFrame, by: str, column: str, groups: list[object],
                present: np.ndarray, limit: float | None, short: str) -> None:
    """One step histogram per group on shared bins; beyond ``limit`` a single grey bin."""
    if limit is None:
        bins = np.histogram_bin_edges(present, bins=HISTOGRAM_BINS)
    else:
        inner = np.linspace(float(present.min()), limit, HISTOGRAM_BINS + 1)
        width = float(inner[1] - inner[0])
        bins = np.append(inner, limit + width)
        axes.axvspan(limit, limit + width, color=MISSING_COLOUR, alpha=0.6, linewidth=0,
                     zorder=0)
        axes.text(limit + width / 2, 1.0, f"> {short.format(limit)}", ha="center", va="bottom",
                  fontsize=7, color="#404040",
                  transform=matplotlib.transforms.blended_transform_factory(
                      axes.transData, axes.transAxes))
    for colour, group in zip(OKABE_ITO, groups, strict=False):
        mask = frame[by] == group if group is not None else frame[by].isna()
        values = frame.loc[mask, column].dropna().to_numpy(dtype=float)
        if limit is not None:  # everything beyond the fence lands in the last bin
            values = np.where(values > limit, (bins[-2] + bins[-1]) / 2, values)
        if len(values):
            axes.hist(values, bins=bins, histtype="step", linewidth=1.4, color=colour,
                      label=short_label(group, 20))


def png_is_valid(data: bytes) -> bool:
    """True when ``data`` starts with the PNG signature (a cheap sanity check)."""
    return data[:8] == b"\x89PNG\r\n\x1a\n"
