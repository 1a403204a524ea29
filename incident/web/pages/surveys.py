"""The supervisors' survey pages: campaigns, a campaign's results (distributions, indices,
open answers with search, the yearly dynamics), exports, reply ratings and follow-up tasks."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import Response

from incident import surveys
from incident.surveys import results as survey_results
from incident.surveys.definition import SHIPPED_DEFINITION
from incident.users import Role, User
from incident.web import deps, queries, survey_export
from incident.web.auth import require
from incident.web.deps import Id

router = APIRouter(include_in_schema=False)

Supervisor = Annotated[User, Depends(require(Role.SUPERVISOR))]
DEFAULT_TIMEZONE = "Europe/Moscow"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def zone(request: Request) -> ZoneInfo:
    sla = request.app.state.settings.sla
    return ZoneInfo(sla.calendar.timezone if sla is not None else DEFAULT_TIMEZONE)


def _link(request: Request, campaign: surveys.Campaign) -> str:
    return surveys.public_url(campaign.path, request.app.state.settings.public_url)


def _campaign(request: Request, campaign_id: int) -> surveys.Campaign:
    with deps.engine(request).connect() as conn:
        campaign = surveys.campaign_by_id(conn, campaign_id)
    if campaign is None:
        raise HTTPException(404, "Такого опроса нет.")
    return campaign


def share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %".replace(".", ",")


def number(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}".replace(".", ",")


@router.get("/surveys")
def surveys_page(request: Request, user: Supervisor) -> Response:
    """Every campaign with its link and number of responses; the reply ratings."""
    with deps.engine(request).connect() as conn:
        found = surveys.campaigns(conn)
        ratings = survey_results.ratings(conn)
    return deps.render(
        request,
        "surveys.html",
        {
            "campaigns": found,
            "link": lambda c: _link(request, c),
            "ratings": ratings,
            "topic_title": deps.suggestions(request).title,
            "number": number,
            "share": share,
        },
    )


@router.post("/surveys")
def create_campaign(
    request: Request, user: Supervisor, title: Annotated[str, Form(max_length=1000)]
) -> Response:
    """Start a campaign of the configured survey definition."""
    path = request.app.state.settings.survey_definition or SHIPPED_DEFINITION
    try:
        definition = surveys.load_definition(path)
    except surveys.DefinitionError as exc:
        deps.flash(request, f"Файл опроса с ошибками, опрос не начат: {exc.problems[0]}", "error")
        return deps.back("/surveys")
    try:
        with deps.engine(request).begin() as conn:
            campaign = surveys.create_campaign(
                conn, title, definition, deps.now(request), user.username
            )
    except surveys.SurveyError as exc:
        deps.flash(request, str(exc), "error")
        return deps.back("/surveys")
    deps.flash(request, f"Опрос начат. Ссылка для граждан: {_link(request, campaign)}")
    return deps.back("/surveys")


@router.post("/surveys/{campaign_id}/close")
def close_campaign(request: Request, user: Supervisor, campaign_id: Id) -> Response:
    campaign = _campaign(request, campaign_id)
    with deps.engine(request).begin() as conn:
        closed = surveys.close_campaign(conn, campaign.slug, deps.now(request))
    deps.flash(request, "Опрос завершён." if closed else "Опрос уже был завершён.")
    return deps.back("/surveys")


# ----- follow-up tasks (before /surveys/{campaign_id}, which would take "tasks" for an id) --


@router.get("/surveys/tasks")
def tasks_page(request: Request, user: Supervisor) -> Response:
    """Every follow-up task: the open ones first by due date (overdue marked), then done."""
    today = deps.now(request).astimezone(zone(request)).date()
    with deps.engine(request).connect() as conn:
        found = surveys.tasks(conn)
    overdue = sum(1 for t in found if t.overdue(today))
    return deps.render(
        request, "survey_tasks.html", {"tasks": found, "today": today, "overdue": overdue}
    )


@router.post("/surveys/tasks")
def add_task(
    request: Request,
    user: Supervisor,
    response_id: Annotated[Id, Form()],
    question: Annotated[str, Form(max_length=32)],
    what: Annotated[str, Form(max_length=4000)],
    assignee: Annotated[str, Form(max_length=64)],
    due_on: Annotated[date, Form()],
    campaign_id: Annotated[Id, Form()],
) -> Response:
    """Turn an open answer into a task with an assignee and a due date."""
    back = f"/surveys/{campaign_id}#r{response_id}-{quote(question, safe='')}"
    if not date(2000, 1, 1) <= due_on <= date(2099, 12, 31):
        deps.flash(request, "Срок: дата с 2000 по 2099 год.", "error")
        return deps.back(back)
    try:
        with deps.engine(request).begin() as conn:
            surveys.add_task(
                conn,
                response_id,
                question,
                what,
                assignee.strip(),
                due_on,
                user.username,
                deps.now(request),
            )
    except surveys.SurveyError as exc:
        deps.flash(request, str(exc), "error")
        return deps.back(back)
    deps.flash(request, f"Задача поставлена: {assignee}, срок {due_on:%d.%m.%Y}.")
    return deps.back(back)


@router.post("/surveys/tasks/{task_id}/close")
def close_task(request: Request, user: Supervisor, task_id: Id) -> Response:
    with deps.engine(request).begin() as conn:
        closed = surveys.close_task(conn, task_id, user.username, deps.now(request))
    deps.flash(request, "Задача выполнена." if closed else "Задача уже была закрыта.")
    return deps.back("/surveys/tasks")


# ----- a campaign's results -------------------------------------------------------------------


@router.get("/surveys/{campaign_id}")
def results_page(
    request: Request,
    user: Supervisor,
    campaign_id: Id,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Each question's distribution with counts and shares, the indices, the open answers
    (``q``: only those containing it), the yearly dynamics of this survey's campaigns."""
    campaign = _campaign(request, campaign_id)
    definition = campaign.definition()
    with deps.engine(request).connect() as conn:
        found = survey_results.responses(conn, [campaign.id])
        same = [c.id for c in surveys.campaigns(conn) if c.survey_id == campaign.survey_id]
        every = survey_results.responses(conn, same)
        people = queries.active_usernames(conn)
        open_tasks = surveys.tasks(conn, open_only=True)
    today = deps.now(request).astimezone(zone(request)).date()
    return deps.render(
        request,
        "survey_results.html",
        {
            "campaign": campaign,
            "link": _link(request, campaign),
            "r": survey_results.results(definition, found, q.strip()),
            "dyn": survey_results.dynamics(definition, every, zone(request)),
            "search": q,
            "people": people,
            "tasked": {(t.response_id, t.question) for t in open_tasks},
            "due_default": today + timedelta(days=14),
            "local": lambda moment: moment.astimezone(zone(request)).strftime("%d.%m.%Y %H:%M"),
            "share": share,
            "number": number,
            "this_year": today.year,
        },
    )


@router.get("/surveys/{campaign_id}/export")
def export(
    request: Request,
    user: Supervisor,
    campaign_id: Id,
    format: Annotated[Literal["csv", "xlsx"], Query()] = "xlsx",
) -> Response:
    """The responses (one row each, answers in the form's words) as CSV or XLSX; the XLSX
    has the results on a second sheet."""
    campaign = _campaign(request, campaign_id)
    definition = campaign.definition()
    with deps.engine(request).connect() as conn:
        found = survey_results.responses(conn, [campaign.id])
    header, rows = survey_export.response_rows(definition, found, zone(request))
    body: Any
    if format == "csv":
        body, media = survey_export.to_csv(header, rows), "text/csv; charset=utf-8"
    else:
        results = survey_results.results(definition, found)
        body, media = survey_export.to_xlsx(header, rows, results), XLSX
    name = f"опрос_{campaign.id}.{format}"
    disposition = (
        f'attachment; filename="survey_{campaign.id}.{format}"; '
        f"filename*=UTF-8''{quote(name, safe='')}"
    )
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})
