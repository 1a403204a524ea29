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
from tests.world import NOW, PASSWORD, T0, World, add_user, make_app

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
