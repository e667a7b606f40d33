"""The report's interactive view of the multi-axis results: time per epoch against batch size,
a line per series and every other key axis the sweep varies (device, dtype, threads, network,
variant, version stack), each with a menu; the series picked by clicking the legend.
Vega-Lite through altair, with its scripts inlined (``vl-convert``), so the single report.html
works offline.
"""

from __future__ import annotations

import json
from typing import Any

from mlpbench.analysis.tables import Analysis
from mlpbench.config.points import series_name

ALL = "all"


def _menu(values: list[Any], name: str) -> Any:
    """A select bound to ``values`` (and "all"), as an altair parameter."""
    import altair as alt

    options = [ALL, *[str(v) for v in values]]
    return alt.param(name=name, value=ALL, bind=alt.binding_select(options=options, name=name))


def chart(a: Analysis) -> Any:
    """The altair chart (None without successful runs)."""
    import altair as alt

    s = a.summary
    if s.empty:
        return None
    frame = s.assign(
        series=[series_name(*k) for k in zip(s["backend"], s["options"], s["env"])],
        threads=s["threads"].astype(str),
        seconds=s["median_s"],
        low=s["min_s"],
        high=s["max_s"],
    )[
        ["series", "backend", "batch_size", "device", "dtype", "threads", "layers", "env",
         "variant", "seconds", "low", "high", "n"]
    ]  # fmt: skip
    # A menu for every key axis that varies beside the series and the x axis (device first),
    # and each of them splits the lines: no line joins a cpu point to a gpu point.
    apart = [axis for axis in a.axes.context(skip=("batch_size",)) if axis in frame]
    apart += ["env"] if "env" in a.axes.varying else []
    menus = {axis: _menu(sorted(frame[axis].unique(), key=str), axis) for axis in apart}
    picked = alt.selection_point(fields=["series"], bind="legend")
    series = list(dict.fromkeys(frame["series"]))  # the static plots' colour for each series
    colors = alt.Scale(domain=series, range=[a.color(name) for name in series])
    base = alt.Chart(frame)
    for axis, menu in menus.items():
        base = base.transform_filter(f"{menu.name} == '{ALL}' || datum.{axis} == {menu.name}")
    x = alt.X("batch_size:Q", scale=alt.Scale(type="log", nice=False), title="batch size (samples)")
    y = alt.Y(
        "seconds:Q", scale=alt.Scale(type="log"), title="steady-state seconds per epoch (median)"
    )
    detail = list(menus)
    lines = base.mark_line(point=True).encode(
        x=x,
        y=y,
        color=alt.Color("series:N", title="series (click to pick)", scale=colors),
        detail=detail or alt.Undefined,
        strokeDash=alt.StrokeDash("device:N") if "device" in menus else alt.Undefined,
        shape=alt.Shape("dtype:N") if "dtype" in menus else alt.Undefined,
        opacity=alt.condition(picked, alt.value(1.0), alt.value(0.12)),
        tooltip=["series", "batch_size", "device", "dtype", "threads", "layers", "env", "variant",
                 alt.Tooltip("seconds:Q", format=".4f"), "n"],
    )  # fmt: skip
    band = base.mark_rule(opacity=0.4).encode(
        x=x, y="low:Q", y2="high:Q", color=alt.Color("series:N", scale=colors),
        opacity=alt.condition(picked, alt.value(0.4), alt.value(0.05)),
    )  # fmt: skip
    out = (band + lines).add_params(picked, *menus.values())
    return out.properties(width=760, height=380, title="Time per epoch (filter with the menus)")


class ScriptSafeJSON(json.JSONEncoder):
    """JSON that can sit inside ``<script>``: ``<``, ``>`` and ``&`` as \\u escapes, so a
    plugin's name holding ``</script>`` or ``<!--`` never ends or comments out the script (the
    same string, as JSON reads it)."""

    def encode(self, o: Any) -> str:
        text = super().encode(o)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def view_html(a: Analysis) -> str:
    """The view for report.html: its own page (Vega, Vega-Lite and vega-embed inlined) in an
    ``iframe srcdoc``, so its scripts and styles stay apart from the report's; "" when nothing
    ran, or one line saying why it could not be drawn."""
    import html

    c = chart(a)
    if c is None:
        return ""
    try:
        page = c.to_html(
            inline=True, output_div="interactive-view", json_kwds={"cls": ScriptSafeJSON}
        )
    except Exception as e:  # a missing vl-convert: the rest of the report stands
        return f"<p>interactive view not drawn: {html.escape(f'{type(e).__name__}: {e}')}</p>"
    return (
        # sandboxed: its scripts run, but cannot reach the report, its cookies or a form
        '<iframe id="interactive-frame" title="interactive view" loading="eager" '
        'sandbox="allow-scripts" '
        f'style="width:100%;height:560px;border:0" srcdoc="{html.escape(page, quote=True)}">'
        "</iframe>"
    )
