"""The SLO panel of a product page: typed rows and a small server-side SVG of daily attainment.

The numbers are `data_mesh.slo.report`'s (the API's and the CLI's); this module only shapes them
for the template. The chart is one bar per UTC day of the last 30 (height: that day's attainment;
colour: met all day, partly, mostly violated; a short grey bar: nothing measured), no JavaScript.
"""

from __future__ import annotations

from html import escape
from typing import NamedTuple

from markupsafe import Markup

from data_mesh.slo.attainment import DayPoint
from data_mesh.slo.report import SloReport

_BAR_W, _GAP, _H, _PAD, _LABEL_H = 14, 3, 80, 6, 16


class SloAlertRow(NamedTuple):
    evaluated_at: str
    alert: str
    state: str
    age: str
    delivery: str


class SloPanel(NamedTuple):
    state: str  # met | violated | unknown | not evaluated
    detail: str  # one sentence: the newest partition's age against the limit, or why unknown
    sla_hours: float | None
    attainment_7d: str
    attainment_30d: str
    chart: Markup
    alerts: list[SloAlertRow]


def percent(ratio: float | None) -> str:
    return "—" if ratio is None else f"{100 * ratio:.1f} %"


def _level(ratio: float | None) -> str:
    if ratio is None:
        return "none"
    return "met" if ratio >= 0.999 else ("partial" if ratio >= 0.5 else "violated")


def slo_chart_svg(series: list[DayPoint]) -> Markup:
    """One bar per day, oldest left; every label escaped."""
    width = 2 * _PAD + len(series) * (_BAR_W + _GAP) - _GAP
    height = 2 * _PAD + _H + _LABEL_H
    base = _PAD + _H
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" class="slo-chart" id="slo-chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'aria-label="Daily freshness SLO attainment">',
        f'<line class="slo-target" x1="{_PAD}" y1="{_PAD}" x2="{width - _PAD}" y2="{_PAD}"/>',
    ]
    for i, point in enumerate(series):
        ratio = point.attainment.ratio
        bar = 3 if ratio is None else max(2.0, _H * ratio)
        x = _PAD + i * (_BAR_W + _GAP)
        label = f"{point.day.isoformat()}: " + (
            "not measured"
            if ratio is None
            else f"{percent(ratio)} met ({point.attainment.met_hours:.1f} h met, "
            f"{point.attainment.violated_hours:.1f} h violated)"
        )
        parts.append(
            f'<rect class="slo-bar slo-{_level(ratio)}" data-day="{point.day.isoformat()}" x="{x}" '
            f'y="{base - bar:.1f}" width="{_BAR_W}" height="{bar:.1f}"><title>{escape(label)}</title></rect>'
        )
    if series:
        parts.append(f'<text class="slo-axis" x="{_PAD}" y="{height - 3}">{series[0].day:%d %b}</text>')
        parts.append(
            f'<text class="slo-axis" x="{width - _PAD}" y="{height - 3}" text-anchor="end">'
            f"{series[-1].day:%d %b}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def slo_panel(report: SloReport) -> SloPanel:
    current = report.current
    if current is None:
        state, detail = "not evaluated", "The SLO DAG (data_mesh__slo) has not evaluated this product yet."
    elif current.state == "unknown":
        state, detail = "unknown", f"Not measured: {current.reason}."
    else:
        state = current.state
        age = current.age_hours or 0.0
        how_old = (  # a partition still open (today's) has not ended: its age counts from its end
            f"was {age:.1f} h old" if age >= 0 else f"had not ended yet (it ends {-age:.1f} h later)"
        )
        detail = (
            f"The newest partition ({current.newest_partition}) {how_old} at "
            f"the last evaluation ({current.evaluated_at:%Y-%m-%d %H:%M} UTC); "
            f"the limit is {current.sla_hours:g} h."
        )
    alerts = [
        SloAlertRow(
            f"{a.evaluated_at:%Y-%m-%d %H:%M}",
            a.alert or "",
            a.state,
            "—" if a.age_hours is None else f"{a.age_hours:.1f} h",
            a.delivery or "",
        )
        for a in report.alerts
    ]
    return SloPanel(
        state=state,
        detail=detail,
        sla_hours=report.sla_hours,
        attainment_7d=percent(report.attainment[7].ratio),
        attainment_30d=percent(report.attainment[30].ratio),
        chart=slo_chart_svg(report.series),
        alerts=alerts,
    )
