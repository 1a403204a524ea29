"""The supervisors' statistics page in a real browser: the charts render, nothing sticks out
sideways at 1366x768 or on a phone, and the export downloads. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from incident.users import Role
from incident.web.serve import BackgroundServer
from incident.web.suggestions import Suggestions
from tests.conftest import FakeClock
from tests.world import NOW, PASSWORD, T0, PeopleWorld, World, add_user, make_app

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}
TOPICS = ("trade", "housing", "food", "telecom", "transport", None)
OCTOBER = "from=2026-10-01&to=2026-10-31"


@dataclass
class Site:
    url: str
    made: int


@pytest.fixture
def site(engine: Engine) -> Iterator[Site]:
    """A month of incidents of several topics, a third answered, and a supervisor."""
    world = World(engine)
    made = 0
    for day in range(0, 31, 2):
        for n, topic in enumerate(TOPICS[: 1 + day % len(TOPICS)]):
            answered = timedelta(hours=1 + (day + n) % 9) if (day + n) % 3 else None
            world.incident(T0 + timedelta(days=day, hours=n), topic=topic, answered_after=answered)
            made += 1
    clock = FakeClock(NOW.astimezone(UTC))
    add_user(engine, "boris", Role.SUPERVISOR, clock())
    suggestions = Suggestions(topics={"trade": "Торговля", "housing": "ЖКХ"})
    with BackgroundServer(make_app(engine, clock, suggestions=suggestions)) as server:
        yield Site(server.url, made)


def open_stats(browser: Any, site: Site, viewport: dict[str, int] = VIEWPORT) -> Any:
    context = browser.new_context(viewport=viewport, locale="ru-RU", accept_downloads=True)
    page = context.new_page()
    page.goto(f"{site.url}/stats?{OCTOBER}")
    assert "/login" in page.url  # anonymous: sent to the login form first
    page.fill("input[name=username]", "boris")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.url}/stats?{OCTOBER}")
    return page


def test_the_charts_render_with_bars_and_lines_of_real_size(
    site: Site, browser: Any, engine: Engine, tmp_path: Path
) -> None:
    page = open_stats(browser, site)
    assert page.locator("#kpi-comments .kpi-value").inner_text() == str(site.made)
    volume = page.locator("#chart-volume svg")
    box = volume.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 100
    bars = page.locator("#chart-volume svg rect:has(title)")
    assert bars.count() >= 16  # at least one bar on each of the 16 days with comments
    bar_box = bars.first.bounding_box()
    assert bar_box is not None
    assert bar_box["width"] > 0
    assert bar_box["height"] > 0
    line = page.locator("#chart-response svg polyline").first
    line_box = line.bounding_box()
    assert line_box is not None
    assert line_box["width"] > 100
    # both charts side by side fit the laptop screen; nothing scrolls sideways
    response_box = page.locator("#chart-response svg").bounding_box()
    assert response_box is not None
    assert response_box["x"] > box["x"]
    assert response_box["x"] + response_box["width"] <= VIEWPORT["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    # the per-platform table arrives after the page and fits the screen too
    platform_row = page.locator('#by-platform-table tr[data-platform="vk"]')
    platform_row.wait_for()
    assert platform_row.locator("td").nth(1).inner_text() == str(site.made)
    # the slowest answers link to their cards
    href = page.locator("#slowest a").first.get_attribute("href")
    assert href is not None
    assert href.startswith("/incidents/")

    target = os.environ.get("INCIDENT_SCREENSHOTS_DIR")
    shots = Path(target).resolve() if target else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    if engine.dialect.name == "sqlite":  # one set of screenshots is enough
        page.screenshot(path=str(shots / "stats.png"))
        page.screenshot(path=str(shots / "stats-full.png"), full_page=True)
        assert (shots / "stats.png").stat().st_size > 10_000

    # on a phone the charts stack and shrink to the screen's width
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    small = page.locator("#chart-volume svg").bounding_box()
    assert small is not None
    assert 200 < small["width"] <= PHONE["width"]
    if engine.dialect.name == "sqlite":
        page.screenshot(path=str(shots / "stats-phone.png"))
    page.context.close()


def test_the_filter_form_and_the_csv_download_work_from_the_page(site: Site, browser: Any) -> None:
    page = open_stats(browser, site)
    page.select_option("select[name=topic]", "housing")
    page.click(".stats-filters button[type=submit]")
    page.wait_for_url("**/stats?*topic=housing*")
    housing = int(page.locator("#kpi-comments .kpi-value").inner_text())
    assert 0 < housing < site.made
    with page.expect_download() as info:
        page.click("#export-csv")
    download = info.value
    assert download.suggested_filename == "обращения_2026-10-01_2026-10-31.csv"
    saved = Path(download.path()).read_text(encoding="utf-8-sig")
    assert len(saved.strip().splitlines()) == housing + 1  # the header and one line each
    page.context.close()


@pytest.fixture
def team_site(engine: Engine) -> Iterator[Site]:
    """The small team of ``PeopleWorld`` (hand-countable per person) beside a month of every
    topic under long Russian titles, and a supervisor."""
    world = World(engine)
    PeopleWorld(world)
    for day in range(0, 31, 3):
        for n, topic in enumerate(("food", "telecom", "transport", "housing", "finance")):
            world.incident(T0 + timedelta(days=day, hours=n), topic=topic, by="anna")
    clock = FakeClock(NOW.astimezone(UTC))
    add_user(engine, "boris", Role.SUPERVISOR, clock())
    suggestions = Suggestions(topics=LONG_TITLES)
    with BackgroundServer(make_app(engine, clock, suggestions=suggestions)) as server:
        yield Site(server.url, 0)


LONG_TITLES = {
    "trade": "Торговля: магазины, маркетплейсы, возврат товара и гарантийный ремонт",
    "housing": "ЖКХ и управляющие компании, капитальный ремонт и тарифы",
    "food": "Общественное питание и качество продуктов",
    "telecom": "Связь, интернет и телевидение",
    "transport": "Транспорт: такси, автобусы, авиаперевозки",
    "finance": "Финансовые услуги, кредиты и страхование",
}


def cells(row: Any) -> list[str]:
    return [c.strip() for c in row.locator("td").all_inner_texts()]


def test_the_per_person_table_matches_a_hand_count_and_the_page_fits_a_laptop(
    team_site: Site, browser: Any, engine: Engine, tmp_path: Path
) -> None:
    page = open_stats(browser, team_site)
    # Anna: 3 first answers (1 h, 3 h and 50 h after the comment; the last one late),
    # a redirect, a topic correction, two open incidents assigned (one from September).
    anna = cells(page.locator('#people-table tr[data-person="anna"]'))
    assert anna[1:3] == ["3", "66,7 %"]
    assert anna[5] == "3,0 ч"  # the median of 1, 3 and 50 calendar hours
    assert anna[7:] == ["0", "1", "1", "2"]
    vera = cells(page.locator('#people-table tr[data-person="vera"]'))
    assert vera[1:3] == ["1", "100,0 %"]
    assert vera[5] == "2,0 ч"
    assert vera[7:] == ["1", "0", "0", "1"]
    total = page.locator("#people-table tfoot th").all_inner_texts()
    assert total[:2] == ["Все сотрудники", "4"]
    # the worker, the demo operator and answers typed on the platform: apart, one answer each
    apart = page.locator("#automatic-table tbody tr")
    assert apart.count() == 3
    assert all(cells(apart.nth(k))[1] == "1" for k in range(3))
    assert page.locator('#people-table tr[data-person="demo-operator"]').count() == 0

    # 1366 px: nothing scrolls sideways, not even the weekly table, and every legend line of
    # both charts is whole and inside its chart
    for by in ("week", "day"):
        page.goto(f"{team_site.url}/stats?{OCTOBER}&by={by}")
        assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"]
    table = page.locator("#volume-table").bounding_box()
    assert table is not None
    assert table["x"] + table["width"] <= VIEWPORT["width"]
    page.goto(f"{team_site.url}/stats?{OCTOBER}&by=week")
    assert page.locator("#volume-table tbody tr").first.inner_text().startswith("01.10–04.10")
    for chart in ("#chart-volume svg", "#chart-response svg"):
        box = page.locator(chart).bounding_box()
        assert box is not None
        lines = page.locator(f"{chart} tspan")
        assert lines.count() > 0
        for k in range(lines.count()):
            line = lines.nth(k).bounding_box()
            assert line is not None
            assert line["x"] + line["width"] <= box["x"] + box["width"]
            assert line["height"] >= 10  # px on screen: readable
        names = page.locator(f"{chart} text:has(tspan)")
        boxes = [names.nth(k).bounding_box() for k in range(names.count())]
        for k, a in enumerate(boxes):  # no legend entry runs into another
            for b in boxes[k + 1 :]:
                assert a is not None
                assert b is not None
                apart = a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                assert apart or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"]
    shown = " ".join(page.locator("#chart-volume svg tspan").all_text_contents())
    assert "гарантийный ремонт" in shown  # long titles whole, not cut with an ellipsis

    target = os.environ.get("INCIDENT_SCREENSHOTS_DIR")
    shots = Path(target).resolve() if target else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    if engine.dialect.name == "sqlite":
        page.screenshot(path=str(shots / "stats-people.png"), full_page=True)
    page.context.close()
