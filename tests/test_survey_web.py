"""The satisfaction survey on the web: citizens answer a campaign's public page without login,
once per browser; a reply's «оцените ответ» link takes one rating; supervisors read the
results, export them and turn open answers into tasks. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, func, select
from starlette.testclient import TestClient

from incident import db, inbox, surveys
from incident.models import CloseReason
from incident.surveys import results as survey_results
from incident.surveys.definition import SHIPPED_DEFINITION
from incident.users import Role
from incident.web.suggestions import load_suggestions
from tests.conftest import FakeClock
from tests.world import (
    add_incident,
    add_user,
    close_no_answer_needed,
    csrf_of,
    login,
    make_app,
)

ROOT = Path(__file__).resolve().parent.parent
MSK = ZoneInfo("Europe/Moscow")
# a whole answer to the form: q1 «Скорее удовлетворен», two sources, q13 «4 балла», a grid row
ANSWER = {
    "q1": "1",
    "q2": ["1", "4"],
    "q6": "Графики приёма граждан",
    "q8.vk": "2",
    "q10.site": "5",
    "q13": "2",
}


@pytest.fixture
def definition() -> surveys.Definition:
    return surveys.load_definition(SHIPPED_DEFINITION)


@dataclass
class Site:
    app: Any
    engine: Engine
    clock: FakeClock
    campaign: surveys.Campaign

    def browser(self) -> TestClient:
        """A new browser: its own cookies."""
        return TestClient(self.app, base_url="http://testserver")

    def responses(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(select(func.count()).select_from(db.survey_responses)).scalar_one()
            )


def make_site(
    engine: Engine, clock: FakeClock, definition: surveys.Definition, **settings: Any
) -> Site:
    with engine.begin() as conn:
        campaign = surveys.create_campaign(conn, "Опрос 2026 года", definition, clock())
    return Site(make_app(engine, clock, **settings), engine, clock, campaign)


@pytest.fixture
def site(engine: Engine, clock: FakeClock, definition: surveys.Definition) -> Site:
    return make_site(engine, clock, definition, public_posts_per_window=3)


def answer(browser: TestClient, site: Site, data: dict[str, Any], honeypot: str = "") -> Any:
    path = site.campaign.path
    token = csrf_of(browser, path)
    return browser.post(
        path,
        data={**data, "csrf_token": token, "website": honeypot},
        follow_redirects=False,
    )


def test_the_public_page_answers_anonymous_visitors_without_external_assets(site: Site) -> None:
    with site.browser() as browser:
        page = browser.get(site.campaign.path)
    assert page.status_code == 200
    for n in range(1, 14):
        assert f'<span class="q-number">{n}.</span>' in page.text
    assert "(далее - Комитет)" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script" not in page.text
    assert not re.search(r'(src|href)="(https?:)?//', page.text)  # nothing from elsewhere


def test_a_browser_answers_once_and_only_the_answers_and_time_are_kept(site: Site) -> None:
    with site.browser() as browser:
        sent = answer(browser, site, ANSWER)
        assert (sent.status_code, sent.headers["location"]) == (303, site.campaign.path)
        assert "Вы уже ответили" in browser.get(site.campaign.path).text
        again = answer(browser, site, {"q1": "2", "q13": "5"})
        assert again.status_code == 409
    assert site.responses() == 1
    with site.browser() as other:  # another browser may answer
        assert answer(other, site, {"q1": "2", "q13": "5"}).status_code == 303
    with site.engine.connect() as conn:
        rows = conn.execute(select(db.survey_responses).order_by(db.survey_responses.c.id)).all()
    assert rows[0].answers == {
        "q1": 1,
        "q2": [1, 4],
        "q6": "Графики приёма граждан",
        "q8": {"vk": 2},
        "q10": {"site": 5},
        "q13": 2,
    }
    assert rows[0].submitted_at == site.clock()
    assert set(db.survey_responses.c.keys()) == {"id", "campaign_id", "submitted_at", "answers"}


def test_the_honeypot_is_refused_and_what_was_typed_comes_back(site: Site) -> None:
    with site.browser() as browser:
        refused = answer(browser, site, ANSWER, honeypot="http://spam.example")
    assert refused.status_code == 400
    assert "скрытое служебное поле" in refused.text
    assert "Графики приёма граждан" in refused.text  # the typed answer is not lost
    assert site.responses() == 0


def test_an_address_that_floods_is_refused_after_the_limit(site: Site) -> None:
    codes = []
    for _ in range(5):  # each a new browser, from one address
        with site.browser() as browser:
            codes.append(answer(browser, site, ANSWER).status_code)
    assert codes == [303, 303, 303, 429, 429]
    assert site.responses() == 3
    site.clock.advance(minutes=11)
    with site.browser() as browser:
        assert answer(browser, site, ANSWER).status_code == 303


def test_invalid_or_missing_answers_get_a_russian_message_and_keep_the_text(site: Site) -> None:
    with site.browser() as browser:
        forged = answer(browser, site, {**ANSWER, "q1": "9"})
        assert forged.status_code == 400
        assert "Выберите ответ из предложенных." in forged.text
        missing = answer(browser, site, {"q6": "Хочу больше новостей", "q13": "1"})
        assert missing.status_code == 400
        assert "Ответьте, пожалуйста, на этот вопрос." in missing.text
        assert "Хочу больше новостей" in missing.text
        too_long = answer(browser, site, {**ANSWER, "q7": "я" * 2001})
        assert too_long.status_code == 400
        assert "длиннее 2000 знаков" in too_long.text
        no_token = browser.post(site.campaign.path, data=ANSWER, follow_redirects=False)
        assert no_token.status_code == 403
    assert site.responses() == 0


def test_a_closed_campaign_takes_no_more_answers(site: Site) -> None:
    with site.engine.begin() as conn:
        assert surveys.close_campaign(conn, site.campaign.slug, site.clock())
    with site.browser() as browser:
        assert "Опрос завершён" in browser.get(site.campaign.path).text
        assert answer(browser, site, ANSWER).status_code == 410
        assert browser.get("/survey/no-such-survey").status_code == 404
    assert site.responses() == 0


# ----- the «оцените ответ» link -------------------------------------------------------------


@pytest.fixture
def rating_site(engine: Engine, clock: FakeClock, definition: surveys.Definition) -> Site:
    suggestions = load_suggestions(ROOT / "rules", ROOT / "replies")
    add_user(engine, "anna", Role.STAFF, clock())
    return make_site(
        engine,
        clock,
        definition,
        suggestions=suggestions,
        rating_links=True,
        public_url="https://opros.example.ru",
    )


def send_reply(site: Site, client: TestClient, incident_id: int, reply_id: str) -> str:
    """Anna sends a reply from the card, starting from template ``reply_id``: the queued text."""
    token = csrf_of(client, f"/incidents/{incident_id}")
    sent = client.post(
        f"/incidents/{incident_id}/reply",
        data={"text": "Здравствуйте! Разберёмся.", "reply_id": reply_id, "csrf_token": token},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    with site.engine.connect() as conn:
        text: str = conn.execute(
            select(db.outbox.c.text).where(db.outbox.c.incident_id == incident_id)
        ).scalar_one()
    return text


def test_the_rating_link_takes_one_rating_and_politely_refuses_the_second(
    rating_site: Site,
) -> None:
    site = rating_site
    incident = add_incident(
        site.engine, site.clock(), "Магазин не меняет чайник", external_id="1", topic="trade"
    )
    assert incident is not None
    with site.browser() as staff:
        assert login(staff, "anna").status_code == 303
        text = send_reply(site, staff, incident, "trade-answer")
    found = re.search(r"https://opros\.example\.ru(/rate/[A-Za-z0-9_-]{16})$", text)
    assert found, text
    assert text.startswith("Здравствуйте! Разберёмся.\n\nОцените, пожалуйста, наш ответ: ")
    link = found.group(1)

    with site.browser() as citizen:
        assert citizen.get(link).status_code == 200
        token = csrf_of(citizen, link)
        first = citizen.post(link, data={"score": "4", "comment": "Быстро", "csrf_token": token})
        assert first.status_code == 200
        assert "Спасибо за оценку" in first.text
        second = citizen.post(link, data={"score": "1", "csrf_token": token})
        assert second.status_code == 409
        assert "уже оценён" in second.text
        assert "уже оценён" in citizen.get(link).text
        assert citizen.get("/rate/" + "x" * 16).status_code == 404

    with site.engine.connect() as conn:
        ratings = survey_results.ratings(conn)
    assert ratings.total == survey_results.RatingRow(None, 1, 1, 4.0)
    assert ratings.by_topic == (survey_results.RatingRow("trade", 1, 1, 4.0),)
    assert ratings.by_person == (survey_results.RatingRow("anna", 1, 1, 4.0),)
    assert ratings.by_platform == (survey_results.RatingRow("vk", 1, 1, 4.0),)
    assert ratings.comments == ((incident, 4, "Быстро"),)

    add_user(site.engine, "boris", Role.SUPERVISOR, site.clock())
    with site.browser() as boss:
        assert login(boss, "boris").status_code == 303
        page = boss.get("/surveys").text
    by_person = page[page.index('id="ratings-person"') : page.index('id="ratings-platform"')]
    assert "<bdi>anna</bdi></td>" in by_person
    assert '<td class="num">100,0 %</td><td class="num">4,00</td>' in by_person
    assert "ВКонтакте" in page[page.index('id="ratings-platform"') :]


def test_a_reply_from_a_template_without_the_setting_carries_no_link(rating_site: Site) -> None:
    site = rating_site
    incident = add_incident(site.engine, site.clock(), "Спасибо!", external_id="2", topic="trade")
    assert incident is not None
    with site.browser() as staff:
        assert login(staff, "anna").status_code == 303
        assert send_reply(site, staff, incident, "thanks") == "Здравствуйте! Разберёмся."
    with site.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(db.rating_links)).scalar_one() == 0


def test_a_reply_queued_through_the_api_carries_the_link_too(rating_site: Site) -> None:
    site = rating_site
    incident = add_incident(site.engine, site.clock(), "Чек", external_id="3", topic="trade")
    with site.browser() as staff:
        assert login(staff, "anna").status_code == 303
        token = staff.get("/api/me").json()["csrf_token"]
        sent = staff.post(
            f"/api/incidents/{incident}/reply",
            json={"text": "Разберёмся.", "reply_id": "trade-return"},
            headers={"X-CSRF-Token": token},
        )
        assert sent.status_code == 200, sent.text
    with site.engine.connect() as conn:
        text = conn.execute(select(db.outbox.c.text)).scalar_one()
        links = conn.execute(select(db.rating_links.c.incident_id)).scalars().all()
    assert re.fullmatch(
        r"Разберёмся\.\n\nОцените, пожалуйста, наш ответ: https://opros\.example\.ru/rate/\S{16}",
        text,
    )
    assert links == [incident]


def test_retention_removes_the_rating_comment_and_keeps_the_score(
    engine: Engine, clock: FakeClock
) -> None:
    now = clock()
    incident = add_incident(engine, now, "Сломался чайник", external_id="1", topic="trade")
    assert incident is not None
    with engine.begin() as conn:
        token = surveys.create_rating_link(conn, incident, "anna", now)
        assert surveys.rate(conn, token, 2, "Меня зовут Иван Петров, ответ не помог", now)
        close_no_answer_needed(conn, incident, CloseReason.DUPLICATE, "anna", now)
        inbox.remove_personal_data(conn, now + timedelta(days=1), now + timedelta(days=1))
        row = conn.execute(select(db.rating_links.c.score, db.rating_links.c.comment)).one()
    assert tuple(row) == (2, "[удалено по сроку хранения]")


# ----- results, dynamics, exports and tasks -------------------------------------------------


def seed(site: Site, answers: list[dict[str, Any]], at: datetime) -> list[int]:
    with site.engine.begin() as conn:
        return [surveys.add_response(conn, site.campaign, a, at) for a in answers]


@pytest.fixture
def supervisor(site: Site) -> Iterator[TestClient]:
    add_user(site.engine, "boris", Role.SUPERVISOR, site.clock())
    add_user(site.engine, "anna", Role.STAFF, site.clock())  # someone to give tasks to
    with site.browser() as client:
        assert login(client, "boris").status_code == 303
        yield client


def test_results_count_each_answer_with_its_share_of_those_who_answered(
    site: Site, supervisor: TestClient
) -> None:
    seed(
        site,
        [
            {"q1": 1, "q2": [1, 4], "q13": 1, "q8": {"vk": 2}},
            {"q1": 1, "q2": [4], "q13": 2, "q8": {"vk": 2, "site": 1}},
            {"q1": 2, "q13": 4},
            {"q1": 3, "q6": "Расписание проверок"},
        ],
        site.clock(),
    )
    with site.engine.connect() as conn:
        found = survey_results.responses(conn, [site.campaign.id])
    r = survey_results.results(site.campaign.definition(), found)
    q1, q2 = r.questions[0], r.questions[1]
    assert [(o.count, o.share) for o in q1.options] == [(2, 0.5), (1, 0.25), (1, 0.25)]
    assert q2.answered == 2
    assert [o.count for o in q2.options] == [1, 0, 0, 2, 0]
    assert q2.options[3].share == 1.0  # both who answered use the Telegram channel
    q8_vk = r.questions[7].rows[1]
    assert (q8_vk.answered, [o.count for o in q8_vk.options]) == (2, [0, 2, 0])
    q13 = r.questions[12]
    assert q13.mean == pytest.approx((5 + 4 + 2) / 3)  # options 1, 2, 4 score 5, 4, 2
    assert [i.value for i in r.indices] == [0.5, None, pytest.approx(11 / 3)]

    page = supervisor.get(f"/surveys/{site.campaign.id}")
    assert page.status_code == 200
    assert '<strong id="total">4</strong>' in page.text
    assert "50,0 %" in page.text
    assert "Расписание проверок" in page.text
    assert "Расписание" not in supervisor.get(f"/surveys/{site.campaign.id}?q=сайт").text
    assert "Расписание проверок" in supervisor.get(f"/surveys/{site.campaign.id}?q=РАСПИС").text


def test_yearly_dynamics_puts_this_year_beside_the_last_with_the_change(
    site: Site, supervisor: TestClient
) -> None:
    last_year = datetime(2025, 11, 20, 12, 0, tzinfo=MSK)
    seed(site, [{"q1": 1, "q13": 3}, {"q1": 2, "q13": 3}, {"q1": 1}, {"q1": 3}], last_year)
    # q13 stores the option's number: option 1 is «5 баллов», option 2 «4 балла», 3 «3 балла»
    seed(site, [{"q1": 1, "q13": 1}, {"q1": 1, "q13": 2}, {"q1": 2, "q13": 2}], site.clock())
    with site.engine.connect() as conn:
        found = survey_results.responses(conn)
    dyn = survey_results.dynamics(site.campaign.definition(), found, MSK)
    assert dyn.years == (2025, 2026)
    assert dict(dyn.responses) == {2025: 4, 2026: 3}
    satisfied, _, overall = dyn.indices
    assert [(f.year, f.value) for f in satisfied[1]] == [(2025, 0.5), (2026, pytest.approx(2 / 3))]
    assert satisfied[1][1].change == pytest.approx(2 / 3 - 0.5)
    assert [f.value for f in overall[1]] == [3.0, pytest.approx(13 / 3)]
    assert overall[1][1].change == pytest.approx(13 / 3 - 3)

    page = supervisor.get(f"/surveys/{site.campaign.id}").text
    table = page[page.index('id="dynamics"') :]
    assert "2026 (этот год)" in table
    assert '<span class="up">+16,7 %</span>' in table  # 50 % -> 66.7 %
    assert '<span class="up">+1,33</span>' in table  # mean 3.00 -> 4.33


def test_exports_give_every_response_in_the_forms_words_and_defuse_formulas(
    site: Site, supervisor: TestClient
) -> None:
    seed(
        site,
        [{"q1": 1, "q2": [1, 5], "q7": '=HYPERLINK("http://x")', "q8": {"ok": 3}}],
        site.clock(),
    )
    got = supervisor.get(f"/surveys/{site.campaign.id}/export?format=csv")
    assert got.status_code == 200
    assert got.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig")), delimiter=";"))
    header, row = rows
    assert len(header) == 2 + 10 + 3 * 4  # number, time, ten questions, three grids of four
    answers = dict(zip(header, row, strict=True))
    assert answers[header[2]] == "Скорее удовлетворен"
    assert answers[header[3]] == "Официальный сайт Комитета; Другое"
    assert answers[header[8]] == '\'=HYPERLINK("http://x")'
    assert "Страница Комитета в социальной сети «Одноклассники»" in header[11]
    assert answers[header[11]] == "Затрудняюсь ответить"

    got = supervisor.get(f"/surveys/{site.campaign.id}/export?format=xlsx")
    book = load_workbook(io.BytesIO(got.content))
    assert book.sheetnames == ["Ответы", "Итоги"]
    cell = book["Ответы"].cell(row=2, column=9)
    assert (cell.value, cell.data_type, cell.quotePrefix) == ('=HYPERLINK("http://x")', "s", True)
    summary = list(book["Итоги"].iter_rows(values_only=True))
    assert summary[1][2:] == ("Скорее удовлетворен", 1, 1.0)


def test_an_open_answer_becomes_a_task_that_shows_when_overdue_and_can_be_closed(
    site: Site, supervisor: TestClient
) -> None:
    (response,) = seed(site, [{"q1": 2, "q12": "Отвечайте быстрее в Одноклассниках"}], site.clock())
    token = csrf_of(supervisor, f"/surveys/{site.campaign.id}")
    due = site.clock().astimezone(MSK).date() + timedelta(days=3)
    made = supervisor.post(
        "/surveys/tasks",
        data={
            "csrf_token": token,
            "campaign_id": str(site.campaign.id),
            "response_id": str(response),
            "question": "q12",
            "what": "Проверить время ответа в ОК",
            "assignee": "anna",
            "due_on": due.isoformat(),
        },
        follow_redirects=False,
    )
    assert made.status_code == 303
    page = supervisor.get("/surveys/tasks").text
    assert "Проверить время ответа в ОК" in page
    assert "Отвечайте быстрее в Одноклассниках" in page
    assert 'id="overdue-count">Просрочено: 0.' in page

    site.clock.advance(days=4)
    assert login(supervisor, "boris").status_code == 303  # a session lasts a working day
    page = supervisor.get("/surveys/tasks").text
    assert 'id="overdue-count">Просрочено: 1.' in page
    assert "просрочено" in page

    with site.engine.connect() as conn:
        (task,) = surveys.tasks(conn)
    token = csrf_of(supervisor, "/surveys/tasks")
    closed = supervisor.post(f"/surveys/tasks/{task.id}/close", data={"csrf_token": token})
    assert closed.status_code == 200
    assert 'id="overdue-count">Просрочено: 0.' in closed.text
    assert "выполнена" in closed.text


def test_a_task_needs_an_open_answer_and_an_existing_person(
    site: Site, supervisor: TestClient
) -> None:
    (response,) = seed(site, [{"q1": 2, "q12": "Больше видео"}], site.clock())
    token = csrf_of(supervisor, "/surveys/tasks")
    base = {
        "csrf_token": token,
        "campaign_id": str(site.campaign.id),
        "response_id": str(response),
        "what": "Снять видео",
        "due_on": date(2026, 12, 1).isoformat(),
    }
    for changed, message in (
        ({"question": "q1", "assignee": "anna"}, "Такого открытого ответа нет."),
        ({"question": "q12", "assignee": "nobody"}, "Выберите исполнителя из списка"),
    ):
        page = supervisor.post("/surveys/tasks", data={**base, **changed})
        assert message in page.text
    with site.engine.connect() as conn:
        assert surveys.tasks(conn) == []


def test_a_supervisor_starts_a_campaign_from_the_page_and_sees_its_link(
    site: Site, supervisor: TestClient
) -> None:
    token = csrf_of(supervisor, "/surveys")
    page = supervisor.post("/surveys", data={"title": "Опрос 2027 года", "csrf_token": token})
    assert "Опрос начат. Ссылка для граждан: /survey/" in page.text
    with site.engine.connect() as conn:
        titles = [c.title for c in surveys.campaigns(conn)]
    assert titles == ["Опрос 2027 года", "Опрос 2026 года"]


def test_staff_cannot_see_the_results(site: Site) -> None:
    add_user(site.engine, "anna", Role.STAFF, site.clock())
    with site.browser() as client:
        assert login(client, "anna").status_code == 303
        assert client.get(f"/surveys/{site.campaign.id}").status_code == 403
        assert client.get("/surveys/tasks").status_code == 403
