"""The statistics charts: plain SVG with Russian labels, no script, every text escaped.

Every database test runs on SQLite and on PostgreSQL (the figures come from ``stats.compute``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from incident import stats
from incident.web import charts
from tests.world import NOW, OCTOBER, T0, World


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine)


def test_charts_are_plain_svg_with_russian_labels_and_no_script(world: World) -> None:
    world.incident(T0, topic="trade", answered_after=timedelta(hours=2))
    world.incident(T0 + timedelta(days=3), topic="housing", answered_after=timedelta(hours=5))
    s = world.compute()
    for svg in (charts.svg_daily_volume(s), charts.svg_response_time(s)):
        root = ET.fromstring(svg)  # noqa: S314 -- our own output, checked well-formed
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert "<script" not in svg
        assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")
    volume = charts.svg_daily_volume(s)
    assert "Торговля" in volume
    assert "ЖКХ" in volume
    assert volume.count("<rect") >= 2 + 2  # two bars and two legend keys
    assert "Медиана, рабочие часы" in charts.svg_response_time(s)


def test_charts_of_an_empty_period_say_so(world: World) -> None:
    s = world.compute()
    assert "Нет обращений за период" in charts.svg_daily_volume(s)
    assert "Нет ответов за период" in charts.svg_response_time(s)


def test_chart_labels_escape_topic_names() -> None:
    s = stats.Stats(
        filters=OCTOBER,
        now=NOW,
        comments=1,
        answered=0,
        closed_without_answer=0,
        on_time=0,
        late=0,
        overdue_unanswered=0,
        median_working_hours=None,
        p90_working_hours=None,
        median_hours=None,
        p90_hours=None,
        open_now=0,
        overdue_now=0,
        moves_to_private=0,
        redirects=0,
        days=OCTOBER.local_days(),
        daily_volume=(("<x&y>", (1,) + (0,) * 30),),
        daily_response=(),
        by_topic=(),
        slowest=(),
    )
    svg = charts.svg_daily_volume(s)
    ET.fromstring(svg)  # noqa: S314 -- our own output, checked well-formed
    assert "&lt;x&amp;y&gt;" in svg


def test_the_volume_chart_counts_in_whole_numbers_and_its_legend_fits(world: World) -> None:
    for day in range(5):  # five comments on one day: a 0..5 axis would tick at 1,25 and 3,75
        world.incident(T0 + timedelta(hours=day), topic="trade")
    s = world.compute()
    svg = charts.svg_daily_volume(
        s, {"trade": "Торговля: магазины, маркетплейсы, возврат, гарантия"}
    )
    root = ET.fromstring(svg)  # noqa: S314 -- our own output, checked well-formed
    ns = "{http://www.w3.org/2000/svg}"
    axis = [t.text for t in root.iter(f"{ns}text") if t.get("text-anchor") == "end"]
    assert axis == ["0", "2", "4", "6", "8"]
    legend = [t for t in root.iter(f"{ns}text") if t.find(f"{ns}title") is not None]
    name = "Торговля: магазины, маркетплейсы, возврат, гарантия"
    lines = [span.text or "" for span in legend[0].iter(f"{ns}tspan")]
    assert " ".join(lines) == name  # the whole name, wrapped, never cut
    width = float(root.get("viewBox", "0 0 0 0").split()[2])
    for span in legend[0].iter(f"{ns}tspan"):  # each line ends inside the drawing
        assert float(span.get("x", "0")) + 7.6 * len(span.text or "") <= width
