"""The citizens' public pages, without login: a survey campaign's form (``/survey/<slug>``)
and a reply's «оцените ответ» link (``/rate/<token>``).

Nothing is stored about a respondent but the answers and the time. One response per browser
(a long-lived cookie of that campaign's own path), posts limited per address (counted under a
keyed hash in memory, ``web.throttle``), a honeypot field bots fill in and people never see,
and the session's CSRF token on every form, as on the staff pages. A refused form comes back
with everything typed in it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from incident import surveys
from incident.surveys.definition import MAX_OPEN_ANSWER
from incident.surveys.store import COMMENT_MAX, Campaign
from incident.web import deps
from incident.web.auth import client_address
from incident.web.throttle import Throttle

router = APIRouter(include_in_schema=False)

HONEYPOT = "website"  # an address field people never see: only a bot fills it in
DONE_COOKIE_DAYS = 400  # the longest a browser keeps a cookie
FLOOD = "Слишком много отправок с вашего адреса. Попробуйте, пожалуйста, через 10 минут."
BOT = "Ответ не принят: заполнено скрытое служебное поле. Если вы человек, обновите страницу."


def _done_cookie(campaign: Campaign) -> str:
    return f"survey_done_{campaign.id}"


def _campaign(request: Request, slug: str) -> Campaign:
    with deps.engine(request).connect() as conn:
        campaign = surveys.campaign_by_slug(conn, slug)
    if campaign is None:
        raise HTTPException(404, "Такого опроса нет: проверьте ссылку.")
    return campaign


def _allowed(request: Request) -> bool:
    throttle: Throttle = request.app.state.public_throttle
    return throttle.allow(client_address(request), deps.now(request))


def _form(
    request: Request,
    campaign: Campaign,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    state: str = "form",
    status_code: int = 200,
) -> Response:
    return deps.render(
        request,
        "survey.html",
        {
            "campaign": campaign,
            "survey": campaign.definition(),
            "values": values or {},
            "errors": errors or {},
            "message": message,
            "state": state,
            "honeypot": HONEYPOT,
            "open_max": MAX_OPEN_ANSWER,
        },
        status_code=status_code,
    )


@router.get("/survey/{slug}")
def survey_page(request: Request, slug: str) -> Response:
    """The form; a thank-you once this browser answered; a notice when the campaign ended."""
    campaign = _campaign(request, slug)
    if request.cookies.get(_done_cookie(campaign)):
        return _form(request, campaign, state="done")
    if not campaign.open:
        return _form(request, campaign, state="closed")
    return _form(request, campaign)


@router.post("/survey/{slug}")
async def survey_answer(request: Request, slug: str) -> Response:
    """Store one response; refused (with the answers kept on the page) when this browser has
    answered, the address posts too often, the honeypot is filled or an answer is invalid."""
    form = await request.form()  # the rest reads the database: in a worker thread
    fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return await run_in_threadpool(_answer, request, slug, fields)


def _answer(request: Request, slug: str, fields: list[tuple[str, str]]) -> Response:
    campaign = _campaign(request, slug)
    if request.cookies.get(_done_cookie(campaign)):
        return _form(request, campaign, state="done", status_code=409)
    if not campaign.open:
        return _form(request, campaign, state="closed", status_code=410)
    definition = campaign.definition()
    checked = surveys.check_form(definition, fields)
    values = surveys.form_values(definition, checked.answers)
    if not _allowed(request):
        return _form(request, campaign, values=values, message=FLOOD, status_code=429)
    if any(name == HONEYPOT and value.strip() for name, value in fields):
        return _form(request, campaign, values=values, message=BOT, status_code=400)
    if not checked.ok:
        message = checked.errors.get("", "Проверьте ответы, отмеченные ниже.")
        return _form(
            request,
            campaign,
            values=values,
            errors=dict(checked.errors),
            message=message,
            status_code=400,
        )
    try:
        with deps.engine(request).begin() as conn:
            surveys.add_response(conn, campaign, checked.answers, deps.now(request))
    except surveys.SurveyError as exc:
        return _form(request, campaign, values=values, message=str(exc), status_code=409)
    response = deps.back(campaign.path)
    response.set_cookie(
        _done_cookie(campaign),
        "1",
        max_age=DONE_COOKIE_DAYS * 86400,
        path=campaign.path,
        httponly=True,
        samesite="lax",
        secure=request.app.state.settings.secure_cookies,
    )
    return response


# ----- the «оцените ответ» link -------------------------------------------------------------


def _rate_page(
    request: Request,
    state: str,
    *,
    status_code: int = 200,
    message: str | None = None,
    score: int | None = None,
    comment: str = "",
) -> Response:
    return deps.render(
        request,
        "rate.html",
        {
            "state": state,
            "message": message,
            "score": score,
            "comment": comment,
            "honeypot": HONEYPOT,
            "comment_max": COMMENT_MAX,
        },
        status_code=status_code,
    )


@router.get("/rate/{token}")
def rate_page(request: Request, token: str) -> Response:
    """One question about the reply: a score from 1 to 5 and an optional comment."""
    with deps.engine(request).connect() as conn:
        link = surveys.rating_link(conn, token)
    if link is None:
        raise HTTPException(404, "Ссылка для оценки неверна: проверьте её.")
    return _rate_page(request, "used" if link.answered else "form")


@router.post("/rate/{token}")
def rate_answer(
    request: Request,
    token: str,
    score: Annotated[str, Form(max_length=3)] = "",
    comment: Annotated[str, Form(max_length=COMMENT_MAX * 2)] = "",
    website: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Record the rating once; a second use is refused politely."""
    with deps.engine(request).connect() as conn:
        link = surveys.rating_link(conn, token)
    if link is None:
        raise HTTPException(404, "Ссылка для оценки неверна: проверьте её.")
    if link.answered:
        return _rate_page(request, "used", status_code=409)
    number = int(score) if score.isascii() and score.isdigit() else None
    kept: dict[str, Any] = {"score": number, "comment": comment}
    if not _allowed(request):
        return _rate_page(request, "form", status_code=429, message=FLOOD, **kept)
    if website.strip():
        return _rate_page(request, "form", status_code=400, message=BOT, **kept)
    if number not in range(1, 6):
        return _rate_page(
            request, "form", status_code=400, message="Выберите оценку от 1 до 5.", **kept
        )
    assert number is not None
    try:
        with deps.engine(request).begin() as conn:
            recorded = surveys.rate(conn, token, number, comment, deps.now(request))
    except surveys.SurveyError as exc:
        return _rate_page(request, "form", status_code=400, message=str(exc), **kept)
    if not recorded:
        return _rate_page(request, "used", status_code=409)
    return _rate_page(request, "thanks")
