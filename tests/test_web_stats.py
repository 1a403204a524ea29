"""The supervisors' statistics in the web app: the page, /api/stats, exports, the monthly report.

Every test runs on SQLite and on PostgreSQL. The world is built with the statistics tests'
``World`` (incidents stored the way the inbox stores them, answer figures included); expected
values are computed here from what the test built, never copied from the code under test.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import statistics
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from starlette.testclient import TestClient

from incident.sla import SlaSettings
from incident.users import Role
from incident.web.suggestions import Suggestions
from incident.workcal import WorkingCalendar
from tests.conftest import FakeClock
from tests.world import NOW, T0, World, add_user, login, make_app

OCTOBER = {"from": "2026-10-01", "to": "2026-10-31"}


@pytest.fixture
def world(engine: Engine) -> World:
    return World(engine)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW.astimezone(UTC))


@contextmanager
def _client(engine: Engine, clock: FakeClock, name: str, **settings: Any) -> Iterator[TestClient]:
    add_user(engine, name, Role.SUPERVISOR if name == "boris" else Role.STAFF, clock())
    suggestions = Suggestions(topics={"trade": "Торговля", "housing": "ЖКХ и управляющие компании"})
    app = make_app(engine, clock, suggestions=suggestions, **settings)
    with TestClient(app) as c:
        assert login(c, name).status_code == 303
        yield c


@pytest.fixture
def boris(engine: Engine, clock: FakeClock) -> Iterator[TestClient]:
    """A supervisor, logged in."""
    with _client(engine, clock, "boris") as c:
        yield c


def api(client: TestClient, **params: str) -> dict[str, Any]:
    response = client.get("/api/stats", params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def filename_of(response: Any) -> str:
    """The UTF-8 file name from ``Content-Disposition: ...; filename*=UTF-8''...``."""
    header = response.headers["content-disposition"]
    assert header.startswith("attachment;")
    assert re.search(r'filename="[A-Za-z0-9._-]+"', header), header  # the ASCII fallback
    found = re.search(r"filename\*=UTF-8''([^;\s]+)", header)
    assert found, header
    return unquote(found.group(1))


def csv_rows(response: Any) -> list[list[str]]:
    body = response.content
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM: spreadsheets read the Cyrillic right
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))


# ----- figures --------------------------------------------------------------------------


def test_the_api_gives_the_figures_of_the_chosen_period(boris: TestClient, world: World) -> None:
    delays = [timedelta(minutes=30), timedelta(hours=2), timedelta(hours=5)]
    for n, delay in enumerate(delays):
        world.incident(T0 + timedelta(days=n), answered_after=delay)
    world.incident(T0 + timedelta(days=3))  # open, long past due at NOW
    world.incident(T0 - timedelta(days=3), answered_after=timedelta(minutes=1))  # September
    data = api(boris, **OCTOBER)
    assert data["comments"] == len(delays) + 1
    assert data["answered"] == len(delays)
    expected = statistics.median(d.total_seconds() / 3600 for d in delays)
    assert data["median_hours"] == pytest.approx(expected)
    assert data["overdue_now"] == 1
    assert data["open_now"] == 1
    assert data["topic_titles"]["trade"] == "Торговля"
    assert data["filters"]["start"].startswith("2026-10-01T00:00:00")


def test_the_page_keeps_months_between_views_and_shows_the_next_change(
    boris: TestClient, world: World
) -> None:
    world.incident(T0, answered_after=timedelta(hours=1))
    quarter = {"from": "2026-08-01", "to": "2026-10-31"}
    assert api(boris, **quarter)["comments"] == 1
    cache = boris.app.state.stats_cache  # type: ignore[attr-defined]
    assert len(cache) == 3  # August, September, October
    hits = cache.hits
    assert api(boris, **quarter)["comments"] == 1
    assert cache.hits == hits + 3
    world.incident(T0 - timedelta(days=40), answered_after=timedelta(hours=2))  # in August
    data = api(boris, **quarter)
    assert (data["comments"], data["answered"]) == (2, 2)
    assert data["median_hours"] == pytest.approx(1.5)


def test_answers_by_the_worker_do_not_count_as_answers(boris: TestClient, world: World) -> None:
    world.incident(T0, answered_after=timedelta(hours=1), by="anna")
    world.incident(T0, answered_after=timedelta(minutes=1), by="worker")
    data = api(boris, **OCTOBER)
    assert (data["comments"], data["answered"]) == (2, 1)
    assert data["median_hours"] == pytest.approx(1.0)


def test_filters_narrow_the_figures_by_community_platform_topic_and_person(
    boris: TestClient, world: World
) -> None:
    world.incident(T0, answered_after=timedelta(hours=1), by="anna", community="42")
    world.incident(T0, answered_after=timedelta(hours=2), by="vera", community="43")
    world.incident(T0, topic="housing", community="43", assignee="anna")
    world.incident(T0, topic=None, platform="ok", community="43")
    assert api(boris, **OCTOBER, community="43")["comments"] == 3
    assert api(boris, **OCTOBER, platform="ok")["comments"] == 1
    assert api(boris, **OCTOBER, topic="housing")["comments"] == 1
    assert api(boris, **OCTOBER, topic="unclassified")["comments"] == 1
    anna = api(boris, **OCTOBER, person="anna")
    assert (anna["comments"], anna["answered"]) == (2, 1)
    assert api(boris, **OCTOBER, community="43", person="vera")["median_hours"] == 2.0
    # an empty choice in the form means "all"
    assert api(boris, **OCTOBER, community="", topic="")["comments"] == 4


def test_the_page_and_the_api_break_the_figures_down_by_platform(
    boris: TestClient, world: World
) -> None:
    world.incident(T0, answered_after=timedelta(hours=1))
    world.incident(T0, answered_after=timedelta(hours=3))
    world.incident(T0, platform="ok", community="42", answered_after=timedelta(hours=2))
    world.incident(T0 + timedelta(days=1), platform="telegram", community="news")  # overdue
    data = boris.get("/api/stats/platforms", params=OCTOBER).json()
    lines = {line["platform"]: line for line in data["platforms"]}
    assert [line["platform"] for line in data["platforms"]] == ["vk", "ok", "telegram"]
    assert (lines["vk"]["comments"], lines["vk"]["answered"]) == (2, 2)
    assert lines["vk"]["median_hours"] == pytest.approx(2.0)
    assert lines["ok"]["median_hours"] == pytest.approx(2.0)
    assert (lines["telegram"]["overdue"], lines["telegram"]["on_time_share"]) == (1, 0.0)
    for platform, line in lines.items():  # each line: the figures filtered by its platform
        alone = api(boris, **OCTOBER, platform=platform)
        assert (line["comments"], line["answered"], line["on_time"]) == (
            alone["comments"],
            alone["answered"],
            alone["on_time"],
        )
        assert line["p90_working_hours"] == alone["p90_working_hours"]
    assert data["platform_titles"] == {
        "vk": "ВКонтакте",
        "ok": "Одноклассники",
        "telegram": "Telegram",
    }
    page = boris.get("/stats", params=OCTOBER)
    section = page.text.split('id="by-platform"', 1)[1].split("</section>", 1)[0]
    assert "<h2>По площадкам</h2>" in section
    assert 'data-src="/stats/platforms?from=2026-10-01&amp;to=2026-10-31"' in page.text
    fragment = boris.get("/stats/platforms", params=OCTOBER)
    assert fragment.status_code == 200
    for title in ("ВКонтакте", "Одноклассники", "Telegram"):
        assert title in fragment.text
    ok_row = fragment.text.split('data-platform="ok"', 1)[1].split("</tr>", 1)[0]
    assert "<td>1</td>" in ok_row
    assert "2,0 ч" in ok_row
    narrowed = boris.get("/api/stats/platforms", params={**OCTOBER, "platform": "ok"}).json()
    assert [line["platform"] for line in narrowed["platforms"]] == ["ok"]


def test_the_platform_table_is_for_supervisors_only(
    engine: Engine, clock: FakeClock, world: World
) -> None:
    add_user(engine, "anna", Role.STAFF, clock())
    with TestClient(make_app(engine, clock)) as client:
        login(client, "anna")
        assert client.get("/stats/platforms", params=OCTOBER).status_code == 403
        assert client.get("/api/stats/platforms", params=OCTOBER).status_code == 403


def test_the_default_period_is_the_current_month_of_the_deployment_time_zone(
    engine: Engine,
) -> None:
    # 21:30 UTC on 31 October: already 1 November in Moscow, still October in Kaliningrad
    late_evening = FakeClock(datetime(2026, 10, 31, 21, 30, tzinfo=UTC))
    with _client(engine, late_evening, "boris") as moscow:
        filters = api(moscow)["filters"]
    assert filters["start"].startswith("2026-11-01T00:00:00+03:00")
    assert filters["end"].startswith("2026-12-01T00:00:00+03:00")
    kaliningrad = SlaSettings(calendar=WorkingCalendar(timezone="Europe/Kaliningrad"))
    app = make_app(engine, late_evening, suggestions=Suggestions(), sla=kaliningrad)
    with TestClient(app) as c:
        assert login(c, "boris").status_code == 303
        filters = api(c)["filters"]
    assert filters["start"].startswith("2026-10-01T00:00:00+02:00")
    assert filters["timezone"] == "Europe/Kaliningrad"


def test_a_backwards_or_too_long_period_is_refused_with_a_message(boris: TestClient) -> None:
    backwards = boris.get("/stats", params={"from": "2026-10-31", "to": "2026-10-01"})
    assert backwards.status_code == 400
    assert "раньше" in backwards.text
    assert boris.get("/api/stats", params={"from": "2026-10-31", "to": "2026-10-01"}).json()[
        "detail"
    ]
    too_long = boris.get("/api/stats", params={"from": "2024-01-01", "to": "2026-10-01"})
    assert too_long.status_code == 400
    assert boris.get("/stats", params={"from": "вчера"}).status_code == 400
    assert boris.get("/api/stats", params={"from": "2026-02-30"}).status_code == 422


# ----- access ---------------------------------------------------------------------------

STATS_ROUTES = ("/stats", "/api/stats", "/stats/export?format=csv", "/stats/report?format=xlsx")


def test_staff_are_refused_every_statistics_route(engine: Engine, clock: FakeClock) -> None:
    with _client(engine, clock, "anna") as anna:
        for path in STATS_ROUTES:
            response = anna.get(path, follow_redirects=False)
            assert response.status_code == 403, path
            assert "content-disposition" not in response.headers


def test_anonymous_visitors_are_sent_to_login_or_get_401(engine: Engine, clock: FakeClock) -> None:
    with TestClient(make_app(engine, clock)) as anonymous:
        for path in STATS_ROUTES:
            response = anonymous.get(path, follow_redirects=False)
            if path.startswith("/api/"):
                assert response.status_code == 401
            else:
                assert response.status_code == 303
                assert response.headers["location"].startswith("/login?next=/stats")


def test_admins_see_the_page_and_staff_have_no_link_to_it(engine: Engine, clock: FakeClock) -> None:
    add_user(engine, "root", Role.ADMIN, clock())
    with TestClient(make_app(engine, clock)) as c:
        assert login(c, "root").status_code == 303
        assert 'href="/stats"' in c.get("/queue").text
        assert c.get("/stats").status_code == 200
    with _client(engine, clock, "anna") as anna:
        assert 'href="/stats"' not in anna.get("/queue").text


# ----- the page -------------------------------------------------------------------------


def _svg(page: str, element_id: str) -> ET.Element:
    found = re.search(rf'<figure class="chart" id="{element_id}">(.*?)</figure>', page, re.S)
    assert found, element_id
    return ET.fromstring(found.group(1))  # noqa: S314 - our own server's output


SVG = "{http://www.w3.org/2000/svg}"


def test_the_page_shows_the_figures_both_charts_and_links_to_the_slowest(
    boris: TestClient, world: World
) -> None:
    slow = world.incident(T0, answered_after=timedelta(days=3), topic="housing")
    quick = world.incident(T0 + timedelta(days=1), answered_after=timedelta(minutes=20))
    world.incident(T0 + timedelta(days=2))
    world.reply(quick, "move-to-private")
    world.reply(slow, "redirect")
    page = boris.get("/stats", params=OCTOBER).text
    kpi = dict(re.findall(r'id="kpi-([a-z-]+)"><span class="kpi-value">([^<]*)<', page))
    assert kpi["comments"] == "3"
    assert kpi["answered"] == "2"
    assert kpi["moves"] == "1"
    assert kpi["redirects"] == "1"
    assert kpi["overdue"] == "1"
    # stacked bars: one per (day, topic) with comments; three days, one topic each
    bars = _svg(page, "chart-volume").findall(f"{SVG}rect[{SVG}title]")
    assert len(bars) == 3
    response = _svg(page, "chart-response")
    assert response.findall(f"{SVG}circle")  # the daily medians
    # the slowest answer comes first and links to its card
    links = re.findall(r'<a href="/incidents/(\d+)">', page)
    assert links[:2] == [str(slow), str(quick)]
    # the rules' titles label topics; export links keep the chosen filters
    assert "ЖКХ и управляющие компании" in page
    assert 'href="/stats/export?from=2026-10-01&amp;to=2026-10-31&amp;format=csv"' in page


def test_the_page_offers_every_community_with_incidents(boris: TestClient, world: World) -> None:
    for community in ("43", "42", "<b>77</b>", "42"):
        world.incident(T0, community=community)
    page = boris.get("/stats").text  # November: none of them in the period, all offered
    select = re.search(
        r'<select name="community" aria-label="Сообщество">(.*?)</select>', page, re.S
    )
    assert select
    options = re.findall(r'<option value="([^"]*)"', select.group(1))
    assert sorted(options) == sorted(["", "42", "43", "&lt;b&gt;77&lt;/b&gt;"])
    assert "<b>77</b>" not in page


def test_the_volume_table_counts_each_topic_by_week_or_month(
    boris: TestClient, world: World
) -> None:
    # Thursday 1 October and Monday 5 October: two ISO weeks
    world.incident(T0, topic="trade")
    world.incident(T0, topic="housing")
    world.incident(T0 + timedelta(days=4), topic="trade")
    weekly = boris.get("/stats", params={**OCTOBER, "by": "week"}).text
    table = re.search(r'<table class="plain numbers" id="volume-table">(.*?)</table>', weekly, re.S)
    assert table
    rows = re.findall(
        r'<tr(?: class="partial")?><td>([^<]+)(?:<span[^>]*>[^<]*</span>)?</td>'
        r"((?:<td>\d+</td>)+)</tr>",
        table.group(1),
    )
    counts = {label: [int(n) for n in re.findall(r"\d+", cells)] for label, cells in rows}
    # the week of 1 October starts on the 1st, not on Monday 28 September, and says so
    assert counts["01.10–04.10.2026"][-1] == 2
    assert counts["05.10–11.10.2026"][-1] == 1
    assert "volume-clipped" in weekly
    monthly = boris.get("/stats", params={**OCTOBER, "by": "month"}).text
    assert "<tr><td>октябрь 2026</td>" in monthly
    november = boris.get("/stats", params={"from": "2026-11-01", "to": "2026-11-30", "by": "week"})
    labels = re.findall(r"<tr(?: class=\"partial\")?><td>([^<]+)<", november.text)
    assert labels[0] == "01.11.2026"  # a Sunday: the period's first week is one day long
    assert labels[-1] == "30.11.2026"
    assert boris.get("/stats", params={**OCTOBER, "by": "year"}).status_code == 400


# ----- exports --------------------------------------------------------------------------


def test_the_csv_export_lists_the_period_with_a_russian_file_name(
    boris: TestClient, world: World
) -> None:
    made = [
        world.incident(T0 + timedelta(days=n), answered_after=timedelta(hours=n + 1))
        for n in range(3)
    ]
    world.incident(T0 + timedelta(days=40))  # November: not in October's export
    response = boris.get("/stats/export", params={**OCTOBER, "format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert filename_of(response) == "обращения_2026-10-01_2026-10-31.csv"
    assert int(response.headers["content-length"]) == len(response.content)
    rows = csv_rows(response)
    assert rows[0][0] == "№"
    assert [int(r[0]) for r in rows[1:]] == made
    hours = rows[0].index("Время ответа, ч")
    assert [r[hours] for r in rows[1:]] == ["1,00", "2,00", "3,00"]


def test_the_xlsx_export_opens_in_a_spreadsheet_with_the_same_rows(
    boris: TestClient, world: World
) -> None:
    made = [world.incident(T0 + timedelta(hours=n), community="43") for n in range(4)]
    world.incident(T0, community="42")
    response = boris.get("/stats/export", params={**OCTOBER, "community": "43"})
    assert response.status_code == 200
    assert filename_of(response) == "обращения_2026-10-01_2026-10-31_43.xlsx"
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    try:
        sheet = book["Обращения"]
        ids = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    finally:
        book.close()
    assert ids == made


def test_the_xlsx_export_writes_comments_with_control_characters(
    boris: TestClient, world: World
) -> None:
    world.incident(T0, text="Цена\x01 выросла\x1b!", author_name="Анна\x00")
    world.incident(T0, text='＝HYPERLINK("http://evil.example")', author_name="-Борис")
    response = boris.get("/stats/export", params={**OCTOBER, "format": "xlsx"})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    try:
        sheet = book["Обращения"]
        header = [c.value for c in sheet[1]]
        author, text = header.index("Автор"), header.index("Комментарий")
        rows = list(sheet.iter_rows(min_row=2))
        assert [(r[author].value, r[text].value) for r in rows] == [
            ("Анна\ufffd", "Цена\ufffd выросла\ufffd!"),
            ("-Борис", '＝HYPERLINK("http://evil.example")'),
        ]
        assert [(r[author].quotePrefix, r[text].quotePrefix) for r in rows] == [
            (False, False),
            (True, True),
        ]
    finally:
        book.close()


def test_the_csv_export_defuses_formulas_in_comments_and_names(
    boris: TestClient, world: World
) -> None:
    world.incident(T0, text=" =1+1\x01", author_name="＠all")
    response = boris.get("/stats/export", params={**OCTOBER, "format": "csv"})
    header, line = csv_rows(response)
    values = dict(zip(header, line, strict=True))
    assert (values["Автор"], values["Комментарий"]) == ("'＠all", "' =1+1\ufffd")


def test_the_export_applies_the_person_and_without_topic_filters(
    boris: TestClient, world: World
) -> None:
    answered = world.incident(T0, answered_after=timedelta(hours=1), by="vera")
    assigned = world.incident(T0, assignee="vera", topic=None)
    world.incident(T0, answered_after=timedelta(hours=1), by="anna")
    by_vera = csv_rows(
        boris.get("/stats/export", params={**OCTOBER, "format": "csv", "person": "vera"})
    )
    assert [int(r[0]) for r in by_vera[1:]] == [answered, assigned]
    unclassified = csv_rows(
        boris.get("/stats/export", params={**OCTOBER, "format": "csv", "topic": "unclassified"})
    )
    assert [int(r[0]) for r in unclassified[1:]] == [assigned]


# ----- the monthly report ---------------------------------------------------------------


def test_the_monthly_report_xlsx_rates_each_community(boris: TestClient, world: World) -> None:
    for hours in (1, 2, 3):
        world.incident(T0, answered_after=timedelta(hours=hours), community="42")
    world.incident(T0, community="43")
    response = boris.get("/stats/report", params={"month": "2026-10", "format": "xlsx"})
    assert response.status_code == 200
    assert filename_of(response) == "отчёт_2026-10.xlsx"
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    try:
        assert book.sheetnames == ["Рейтинг", "Площадки", "Темы", "Сотрудники", "По дням"]
        rows = [r for r in book["Рейтинг"].iter_rows(min_row=4, values_only=True) if r[0]]
    finally:
        book.close()
    by_name = {r[0]: r for r in rows}
    assert by_name["ВКонтакте, сообщество 42 (vk-42)"][1:3] == (3, 3)
    assert by_name["ВКонтакте, сообщество 43 (vk-43)"][1:3] == (1, 0)
    assert by_name["Итого"][1] == 4


def test_the_monthly_report_csv_for_one_community(boris: TestClient, world: World) -> None:
    world.incident(T0, answered_after=timedelta(hours=1), community="42")
    world.incident(T0, community="43")
    response = boris.get(
        "/stats/report", params={"month": "2026-10", "format": "csv", "community": "43"}
    )
    assert filename_of(response) == "отчёт_2026-10_43.csv"
    rows = csv_rows(response)
    assert "октябрь 2026" in rows[0][0]
    assert [r[0] for r in rows[2:]] == ["ВКонтакте, сообщество 43 (vk-43)", "Итого"]


def test_the_printable_report_page_is_styled_under_a_strict_policy(
    boris: TestClient, world: World
) -> None:
    world.incident(T0, answered_after=timedelta(hours=1))
    response = boris.get("/stats/report", params={"month": "2026-10"})
    assert response.status_code == 200
    page = response.text
    assert "Отчёт об ответах на обращения за октябрь 2026 г." in page
    assert page.count("<svg") == 2
    policy = response.headers["content-security-policy"]
    assert "script-src" not in policy
    assert "default-src 'none'" in policy
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy


def test_a_malformed_report_month_is_refused_with_a_message(boris: TestClient) -> None:
    response = boris.get("/stats/report", params={"month": "10-2026"})
    assert response.status_code == 400
    assert "ГГГГ-ММ" in response.text


def test_years_far_outside_the_service_life_are_refused_with_a_message(
    boris: TestClient,
) -> None:
    for first, last in (("0001-01-01", "0001-01-31"), ("9999-12-01", "9999-12-31")):
        for path in ("/stats", "/stats/export"):
            page = boris.get(path, params={"from": first, "to": last})
            assert page.status_code == 400, (path, first)
            assert "год" in page.text
            assert "content-security-policy" in page.headers
        api = boris.get("/api/stats", params={"from": first, "to": last})
        assert api.status_code == 400, first
        assert "год" in api.json()["detail"]
        assert boris.get("/api/stats", params={"from": first}).status_code == 400
        assert boris.get("/api/stats", params={"to": last}).status_code == 400
    for month in ("0001-01", "9999-12"):
        for format in ("html", "xlsx", "csv"):
            report = boris.get("/stats/report", params={"month": month, "format": format})
            assert report.status_code == 400, (month, format)
            assert "год" in report.text


def test_a_link_with_filters_survives_the_login(engine: Engine, clock: FakeClock) -> None:
    add_user(engine, "boris", Role.SUPERVISOR, clock())
    target = "/stats?from=2026-10-01&to=2026-10-31&topic=trade"
    with TestClient(make_app(engine, clock)) as c:
        sent = c.get(target, follow_redirects=False).headers["location"]
        form = c.get(sent).text
        found = re.search(r'name="next" value="([^"]+)"', form)
        assert found
        assert found.group(1).replace("&amp;", "&") == target


# ----- confirmations and corrections of the classifier's topic ----------------------------


def test_the_api_counts_confirmed_and_corrected_topics_per_topic(
    boris: TestClient, world: World
) -> None:
    trade = [world.incident(T0 + timedelta(hours=n), topic="trade") for n in range(3)]
    housing = world.incident(T0 + timedelta(days=1), topic="housing")
    before = world.incident(T0 - timedelta(days=3), topic="trade")  # September: not counted
    token = boris.get("/api/me").json()["csrf_token"]

    def post(path: str, **body: str) -> Any:
        return boris.post(path, json=body or None, headers={"X-CSRF-Token": token})

    for incident_id in (trade[0], trade[1], housing, before):
        assert post(f"/api/incidents/{incident_id}/topic/confirm").status_code == 200
    assert post(f"/api/incidents/{trade[2]}/topic", topic="housing").status_code == 200
    again = post(f"/api/incidents/{trade[0]}/topic/confirm")
    assert again.status_code == 409  # once per topic
    assert "уже подтверждена" in again.json()["detail"]

    data = api(boris, **OCTOBER)
    checks = {row["topic"]: row for row in data["topic_checks"]}
    assert (data["confirmed"], data["corrected"]) == (3, 1)
    assert checks["trade"]["confirmed"] == 2
    assert checks["trade"]["corrected_from"] == 1
    assert checks["trade"]["right_share"] == pytest.approx(2 / 3)
    assert checks["housing"]["confirmed"] == 1
    assert checks["housing"]["corrected_to"] == 1
    assert data["topic_titles"]["housing"] == "ЖКХ и управляющие компании"

    page = boris.get("/stats", params=OCTOBER).text
    assert "Проверка тем классификатора" in page
    assert "Всего подтверждено: 3, исправлено: 1." in page


def test_an_incident_without_a_topic_cannot_be_confirmed(boris: TestClient, world: World) -> None:
    incident_id = world.incident(T0, topic=None)
    token = boris.get("/api/me").json()["csrf_token"]
    response = boris.post(
        f"/api/incidents/{incident_id}/topic/confirm", headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 409
    assert "Тема не определена" in response.json()["detail"]
    assert api(boris, **OCTOBER)["confirmed"] == 0
