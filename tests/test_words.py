"""What people read is plain Russian: counts agree with their numbers (1 обращение, 2 обращения,
5 обращений, 11 обращений, 21 обращение), and no code of ours (vk, platform, worker, spam,
source:, taken_from) or login name reaches a page, an export or a message."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from incident import inbox, reports, users
from incident.alerts import warn_breaches_once
from incident.models import PLATFORM_ACTOR, CloseReason
from incident.users import Role
from incident.web.display import ACTION_TITLES, event_text
from incident.words import APPEALS, COMMUNITIES, MOVES, count, count_en, month_title
from tests.conftest import FakeClock
from tests.world import NOW, OCTOBER, T0, World, add_incident, add_user, login, make_app

NUMBERS = (1, 2, 5, 11, 21)


@pytest.mark.parametrize(
    ("forms", "expected"),
    [
        (APPEALS, ["1 обращение", "2 обращения", "5 обращений", "11 обращений", "21 обращение"]),
        (
            COMMUNITIES,
            ["1 сообщество", "2 сообщества", "5 сообществ", "11 сообществ", "21 сообщество"],
        ),
        (
            MOVES,
            [
                "1 перевод в личные сообщения",
                "2 перевода в личные сообщения",
                "5 переводов в личные сообщения",
                "11 переводов в личные сообщения",
                "21 перевод в личные сообщения",
            ],
        ),
    ],
)
def test_a_count_takes_the_russian_form_its_number_asks_for(
    forms: tuple[str, str, str], expected: list[str]
) -> None:
    assert [count(n, forms) for n in NUMBERS] == expected


def test_administrators_english_lines_are_pluralised_too() -> None:
    assert [count_en(n, "reply", "replies") for n in (0, 1, 2, 11, 21)] == [
        "0 replies",
        "1 reply",
        "2 replies",
        "11 replies",
        "21 replies",
    ]


def test_big_numbers_fractions_and_months_are_written_the_russian_way() -> None:
    assert count(1234, APPEALS) == "1\xa0234 обращения"
    assert count(1.5, APPEALS) == "1,5 обращения"
    assert month_title(2026, 10) == "октябрь 2026"


# ----- the card's history and header ------------------------------------------------------


@pytest.fixture
def staff(engine: Engine, clock: FakeClock) -> Iterator[TestClient]:
    """Two people with display names: anna (staff) and boris (an admin), boris logged in."""
    for login_name, role, name in (
        ("anna", Role.STAFF, "Анна Петрова"),
        ("boris", Role.ADMIN, "Борис Иванов"),
    ):
        add_user(engine, login_name, role, clock())
        with engine.begin() as conn:
            users.set_display_name(conn, login_name, name, clock(), actor="boris")
    with TestClient(make_app(engine, clock)) as client:
        assert login(client, "boris").status_code == 303
        yield client


def test_the_card_tells_its_history_in_russian_with_peoples_names(
    engine: Engine, clock: FakeClock, staff: TestClient
) -> None:
    incident = add_incident(engine, clock(), "Банк списал деньги", external_id="1", topic="finance")
    assert incident is not None
    with engine.begin() as conn:
        inbox.claim(conn, incident, "anna", clock())
        inbox.claim(conn, incident, "boris", clock(), force=True)  # a takeover
        inbox.assign(conn, incident, "anna", "boris", clock())
        inbox.close_no_answer(conn, incident, CloseReason.SPAM, "boris", clock())

    page = staff.get(f"/incidents/{incident}").text
    assert "закрыт: спам" in page
    assert "ответственный Анна Петрова" in page
    assert "инцидент создан" in page
    assert "тема «Финансы»" in page
    assert "<strong>система</strong>" in page  # the worker opened it
    assert "перехватил(а) у Анна Петрова" in page
    assert "<strong>Борис Иванов</strong>" in page
    assert "причина: спам" in page
    for raw in ("source:", "topic:", "taken_from", "reason:", "<strong>boris</strong>", "worker"):
        assert raw not in page


def test_an_answer_given_on_the_platform_is_told_without_codes(
    engine: Engine, clock: FakeClock, staff: TestClient
) -> None:
    world = World(engine)
    incident = world.incident(T0, answered_after=timedelta(hours=1), by=PLATFORM_ACTOR)
    page = staff.get(f"/incidents/{incident}").text
    assert "<strong>сообщество на площадке</strong> ответил(а) в комментариях на площадке" in page
    for raw in ("via:", "(via", "<strong>platform</strong>", "comment:"):
        assert raw not in page


def test_the_audit_log_names_people_and_says_what_changed(
    engine: Engine, clock: FakeClock, staff: TestClient
) -> None:
    with engine.begin() as conn:
        users.set_role(conn, "anna", Role.SUPERVISOR, clock(), actor="boris")
    text = staff.get("/admin/audit").text
    assert "пользователь Анна Петрова; роль: руководитель" in text
    assert "<bdi>Борис Иванов</bdi>" in text  # who did it
    assert "имя: Борис Иванов" in text
    assert "user:" not in text
    assert "role:" not in text


def test_an_admin_renames_an_account_and_the_app_shows_the_new_name(
    engine: Engine, clock: FakeClock, staff: TestClient
) -> None:
    page = staff.get("/admin/users").text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    done = staff.post(
        "/admin/users/anna/name",
        data={"csrf_token": token, "display_name": "  Анна   Сергеевна  "},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert 'value="Анна Сергеевна"' in staff.get("/admin/users").text
    empty = staff.post(
        "/admin/users/anna/name",
        data={"csrf_token": token, "display_name": "   "},
        follow_redirects=True,
    )
    assert "укажите имя" in empty.text
    with engine.connect() as conn:
        assert users.display_names(conn)["anna"] == "Анна Сергеевна"


# ----- exports, reports and messages ------------------------------------------------------


def test_the_export_says_platforms_people_and_reasons_in_russian(
    engine: Engine, clock: FakeClock
) -> None:
    world = World(engine)
    with engine.begin() as conn:
        users.add_user(conn, "anna", "correct horse battery", Role.STAFF, T0)
        users.set_display_name(conn, "anna", "Анна Петрова", T0)
    by_staff = world.incident(T0, answered_after=timedelta(hours=1), by="anna")
    on_platform = world.incident(T0, answered_after=timedelta(hours=2), by=PLATFORM_ACTOR)
    closed = world.incident(T0 + timedelta(hours=3), closed=True)
    with engine.connect() as conn:
        rows = {r["id"]: r for r in reports.export_rows(conn, OCTOBER)}
        out = io.StringIO()
        reports.write_incidents_csv(reports.export_rows(conn, OCTOBER), out)
    assert rows[by_staff]["platform"] == "ВКонтакте"
    assert rows[by_staff]["first_response_by"] == "Анна Петрова"
    assert rows[on_platform]["first_response_by"] == "сообщество на площадке"
    assert rows[closed]["closed_reason"] == "спам"
    cells = {cell for line in out.getvalue().splitlines() for cell in line.split(";")}
    assert not cells & {"vk", "platform", "anna", "spam", "worker"}


def test_the_monthly_report_names_its_month_and_pages_in_russian(engine: Engine) -> None:
    World(engine).incident(T0)
    with engine.connect() as conn:
        report = reports.monthly_report(conn, 2026, 10, NOW)
    assert report.title == "Отчёт об ответах на обращения за октябрь 2026 г."
    assert report.communities[0].name.startswith("ВКонтакте, сообщество 42")


class Inbox:
    """A notifier that keeps what it was given (a channel that always delivers)."""

    name = "inbox"

    def __init__(self) -> None:
        self.subjects: list[str] = []

    def send(self, subject: str, text: str) -> None:
        self.subjects.append(subject)
        assert "vk/" not in text
        assert "ВКонтакте" in text


@pytest.mark.parametrize("n", [1, 2, 5])
def test_a_deadline_message_counts_its_incidents_in_russian(engine: Engine, n: int) -> None:
    world = World(engine)
    for _ in range(n):
        world.incident(T0)
    channel = Inbox()
    warn_breaches_once(engine, world.settings, [channel], T0 + timedelta(days=3))
    assert channel.subjects == [f"Просрочен ответ: {count(n, APPEALS)}"]
    assert channel.subjects[0].endswith({1: "1 обращение", 2: "2 обращения", 5: "5 обращений"}[n])


@pytest.mark.parametrize(
    ("action", "details", "expected"),
    [
        ("opened", {"source": "vk-demo", "topic": "finance"}, "тема «Финансы»"),
        ("claimed", {"taken_from": "anna"}, "перехватил(а) у Анна Петрова"),
        ("answered", {"comment": "5", "via": "platform"}, ""),
        (
            "reclassified",
            {"topic": "food", "was": None, "rules": "9c40"},
            "тема «Без темы» → «Общепит»",
        ),
        (
            "reply_sent",
            {"outbox_id": 1, "kind": "move-to-private", "reply_id": "x"},
            "в личные сообщения",
        ),
        (
            "reply_posted",
            {"outbox_id": 1, "comment": "77", "by": "anna"},
            "отправил(а) Анна Петрова",
        ),
        ("edited_by_author", {"edits": 21}, "21 правка"),
        ("deleted_by_author", {"status_changed": True}, "инцидент закрыт"),
        (
            "user_added",
            {"user": "anna", "role": "staff"},
            "пользователь Анна Петрова; роль: сотрудник",
        ),
        (
            "sla_notification_failed",
            {"stage": "warn", "failed": {"email": "550"}},
            "не доставлено: электронная почта",
        ),
        ("assigned", {"old": None, "new": "anna"}, "никто → Анна Петрова"),
    ],
)
def test_each_kind_of_event_is_told_in_russian(
    action: str, details: dict[str, object], expected: str
) -> None:
    assert ACTION_TITLES[action]  # the action itself has a Russian title
    assert event_text(action, details, {"anna": "Анна Петрова"}) == expected
