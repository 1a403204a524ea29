"""The supervisors' statistics: the page, ``/api/stats``, exports and the monthly report.

Supervisors and admins only. Every view computes the figures once (``stats.compute``); the
charts are the SVG strings ``incident.web.charts`` renders (no script, their text escaped),
embedded inline. Days are local days of the deployment's time zone (``WebSettings.sla``'s
calendar, Europe/Moscow without it); the default period is the current month there.

Downloads are written to an unlinked temporary file and streamed from it (memory stays flat,
nothing is left behind if the client goes away), with Russian file names in
``Content-Disposition`` (RFC 6266 / RFC 5987 ``filename*``, an ASCII ``filename`` beside it).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Annotated, Any, Literal
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from markupsafe import Markup
from sqlalchemy import Connection, text
from starlette.background import BackgroundTask

from incident import reports, stats
from incident.models import ACTOR_LABELS, TOPIC_LABELS, UNCLASSIFIED
from incident.sla import SlaSettings
from incident.stats import Filters, Stats
from incident.users import Role, User
from incident.web import charts, deps, display, printable, queries
from incident.web.auth import require
from incident.web.deps import render
from incident.web.suggestions import Suggestions

router = APIRouter()
Supervisor = Annotated[User, Depends(require(Role.SUPERVISOR))]

DEFAULT_TIMEZONE = "Europe/Moscow"
MAX_DAYS = 366  # the longest period one view computes (a year: see bench/stats.py)
CHUNK = 64 * 1024
Grouping = Literal["day", "week", "month"]
GROUPING_TITLES: Mapping[str, str] = {"day": "по дням", "week": "по неделям", "month": "по месяцам"}
DIRECT_ANSWER = "platform"  # first_response_by of an answer typed in the platform's interface

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


# ----- request plumbing ---------------------------------------------------------------------


def _cache(request: Request) -> stats.StatsCache:
    cache: stats.StatsCache = request.app.state.stats_cache
    return cache


def timezone_of(request: Request) -> str:
    sla: SlaSettings | None = request.app.state.settings.sla
    return sla.calendar.timezone if sla is not None else DEFAULT_TIMEZONE


def _month_end(day: date) -> date:
    following = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - timedelta(days=1)


def current_month(now: datetime, tz: str) -> tuple[date, date]:
    """The first and last local day of ``now``'s month in ``tz``."""
    today = now.astimezone(ZoneInfo(tz)).date()
    return today.replace(day=1), _month_end(today)


@dataclass(frozen=True, slots=True)
class StatsQuery:
    """The chosen filters, as typed (for the form and links) and as ``stats.Filters``."""

    first: date
    last: date
    community: str | None
    platform: str | None
    topic: str | None
    person: str | None
    filters: Filters

    def params(self, **extra: str) -> str:
        """The query string that reproduces this choice (for export links)."""
        values = {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "community": self.community or "",
            "platform": self.platform or "",
            "topic": self.topic or "",
            "person": self.person or "",
            **extra,
        }
        return urlencode({k: v for k, v in values.items() if v})


def stats_query(
    request: Request,
    first: Annotated[date | None, Query(alias="from")] = None,
    last: Annotated[date | None, Query(alias="to")] = None,
    community: Annotated[str | None, Query(max_length=64)] = None,
    platform: Annotated[str | None, Query(max_length=16)] = None,
    topic: Annotated[str | None, Query(max_length=32)] = None,
    person: Annotated[str | None, Query(max_length=64)] = None,
) -> StatsQuery:
    tz = timezone_of(request)
    if not all(stats.in_range(day) for day in (first, last) if day is not None):
        raise HTTPException(400, stats.OUT_OF_RANGE)
    if first is None and last is None:
        first, last = current_month(deps.now(request), tz)
    elif first is None:
        assert last is not None
        first = last.replace(day=1)  # the month up to ``last``
    elif last is None:
        last = _month_end(first)  # the rest of ``first``'s month
    if last < first:
        raise HTTPException(400, "Дата «по» раньше даты «с»: проверьте период.")
    if (last - first).days + 1 > MAX_DAYS:
        raise HTTPException(400, f"Период длиннее {MAX_DAYS} дней: выберите период короче.")
    chosen = {
        "community": (community or "").strip() or None,
        "platform": (platform or "").strip() or None,
        "topic": (topic or "").strip() or None,
        "person": (person or "").strip() or None,
    }
    return StatsQuery(
        first=first,
        last=last,
        filters=Filters.for_days(first, last, tz, **chosen),
        **chosen,
    )


Chosen = Annotated[StatsQuery, Depends(stats_query)]


def topic_labels(suggestions: Suggestions, topics: Any = ()) -> dict[str, str]:
    """Russian titles for chart legends and tables: the rules' titles, then the hotline's
    short names, then the id itself."""
    labels = {**TOPIC_LABELS, **suggestions.topics}
    for t in topics:
        labels.setdefault(t, suggestions.title(t))
    return labels


def community_ids(conn: Connection) -> list[str]:
    """Every community with incidents, by skipping through the (community, opened_at) index:
    one index probe per community, however many incidents there are (SQLite and PostgreSQL)."""
    rows = conn.execute(
        text(
            "WITH RECURSIVE c(community) AS ("
            " SELECT min(community) FROM incidents"
            " UNION ALL"
            " SELECT (SELECT min(i.community) FROM incidents i WHERE i.community > c.community)"
            " FROM c WHERE c.community IS NOT NULL)"
            " SELECT community FROM c WHERE community IS NOT NULL"
        )
    )
    return [str(r[0]) for r in rows]


# ----- formatting for the page -----------------------------------------------------------


def share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %".replace(".", ",")


def hours(value: float | None) -> str:
    """``2,4 ч``; under an hour in minutes (``25 мин``)."""
    if value is None:
        return "—"
    if value < 1:
        return f"{round(value * 60)} мин"
    return f"{value:.1f} ч".replace(".", ",")


MONTH_NAMES = (
    "январь", "февраль", "март", "апрель", "май", "июнь",
    "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь",
)  # fmt: skip


def period_label(row: stats.VolumeRow, grouping: str) -> str:
    """A line of the volume table in Russian: ``05.10.2026``, ``05.10–11.10.2026``,
    ``октябрь 2026``; a week or month the period cuts shows the days it keeps."""
    if grouping == "day":
        return f"{row.first:%d.%m.%Y}"
    if grouping == "month" and not row.partial:
        return f"{MONTH_NAMES[row.first.month - 1]} {row.first.year}"
    if row.first == row.last:
        return f"{row.first:%d.%m.%Y}"
    return f"{row.first:%d.%m}–{row.last:%d.%m.%Y}"


def auto_grouping(first: date, last: date) -> Grouping:
    days = (last - first).days + 1
    if days <= 14:
        return "day"
    return "week" if days <= 92 else "month"


# ----- the page and the API --------------------------------------------------------------


def _compute(request: Request, chosen: StatsQuery) -> tuple[Stats, dict[str, str]]:
    """The page's figures with the per-person table, and the people's names to show."""
    with deps.engine(request).begin() as conn:
        figures = stats.compute(
            conn, chosen.filters, deps.now(request), _cache(request), people=True
        )
        return figures, person_names(conn, figures)


def person_names(conn: Connection, figures: Stats) -> dict[str, str]:
    """What to call each actor of the per-person table: a member of staff by their account's
    display name (the login when it has none, or no account), the others in plain Russian."""
    names = {p.person: p.person for p in figures.people}
    names.update(queries.display_names(conn, list(names)))
    return {**names, **{a.person: ACTOR_LABELS.get(a.person, a.person) for a in figures.automatic}}


@router.get("/stats", include_in_schema=False)
def stats_page(
    request: Request,
    user: Supervisor,
    chosen: Chosen,
    by: Annotated[Grouping | None, Query()] = None,
) -> Response:
    now = deps.now(request)
    with deps.engine(request).begin() as conn:
        figures = stats.compute(conn, chosen.filters, now, _cache(request), people=True)
        names = person_names(conn, figures)
        communities = community_ids(conn)
        platforms = queries.choices(conn)["platforms"]
        people = queries.active_usernames(conn)
    k = deps.suggestions(request)
    labels = topic_labels(
        k, [*(t for t, _ in figures.daily_volume), *(c.topic for c in figures.topic_checks)]
    )
    grouping = by or auto_grouping(chosen.first, chosen.last)
    volume_topics, volume_rows = stats.volume_table(figures, grouping)
    tz = chosen.filters.tz
    return render(
        request,
        "stats.html",
        {
            "s": figures,
            "q": chosen,
            "labels": labels,
            "topic_choices": {**k.topics, UNCLASSIFIED: "без темы"},
            "communities": communities,
            "platforms": platforms,
            "people": people,
            "names": names,
            "actor_labels": ACTOR_LABELS,
            "person_link": lambda person: "/stats?" + chosen.params(person=person),
            "direct_answer": DIRECT_ANSWER,
            "volume_chart": Markup(charts.svg_daily_volume(figures, labels)),  # noqa: S704 - escapes its own text
            "response_chart": Markup(charts.svg_response_time(figures)),  # noqa: S704 - ditto
            "grouping": grouping,
            "groupings": GROUPING_TITLES,
            "volume_topics": volume_topics,
            "volume_rows": volume_rows,
            "volume_totals": [
                sum(r.counts[j] for r in volume_rows) for j in range(len(volume_topics))
            ],
            "volume_clipped": grouping != "day" and any(r.partial for r in volume_rows),
            "period_label": period_label,
            "share": share,
            "hours": hours,
            "local": lambda moment, fmt="%d.%m.%Y %H:%M": moment.astimezone(tz).strftime(fmt),
            "timezone": chosen.filters.timezone,
            "report_month": f"{chosen.first:%Y-%m}",
        },
    )


@router.get("/api/stats", tags=["stats"])
def stats_api(request: Request, user: Supervisor, chosen: Chosen) -> dict[str, Any]:
    """Response-time statistics for a period (``from``, ``to``: local days, inclusive; the
    current month by default) and optional ``community``, ``platform``, ``topic``
    (``unclassified`` for incidents without one) and ``person``: the same figures as the
    /stats page. ``topic_titles`` names the topics in Russian. ``topic_checks``: per topic,
    how many topics staff confirmed («верно») and corrected (``corrected_from``: this topic
    was wrong; ``corrected_to``: chosen instead of another); ``confirmed``/``corrected``:
    the totals.

    ``people``: one object per member of staff (``person``, their ``name``, ``answers``,
    ``on_time`` and ``on_time_share``, median and p90 in working and calendar hours,
    ``moves_to_private``, ``redirects``, ``corrections``, ``open_assigned``), the busiest
    first; ``automatic``: the same for the actors that are not one person (the worker, the
    demo operator, answers typed in the platform), never mixed into ``people``;
    ``people_total``: the staff together."""
    figures, names = _compute(request, chosen)
    data = figures.to_json()
    for row in (*data["people"], *data["automatic"]):
        row["name"] = names.get(row["person"], row["person"])
    data["topic_titles"] = topic_labels(
        deps.suggestions(request),
        [*(t for t, _ in figures.daily_volume), *(c.topic for c in figures.topic_checks)],
    )
    return data


def _platform_rows(request: Request, chosen: StatsQuery) -> tuple[stats.PlatformRow, ...]:
    with deps.engine(request).begin() as conn:
        platforms = queries.choices(conn)["platforms"]
        return stats.by_platform(
            conn, chosen.filters, deps.now(request), platforms, _cache(request)
        )


@router.get("/stats/platforms", include_in_schema=False)
def platforms_table(request: Request, user: Supervisor, chosen: Chosen) -> Response:
    """The per-platform table of the page's filters: an HTML fragment the page fetches once
    shown (so the page's own figures do not wait for it), or a page of its own without JS."""
    rows = _platform_rows(request, chosen)
    # Not ``render``: a fragment must not take the flash message meant for the next page.
    response: Response = request.app.state.templates.TemplateResponse(
        request, "stats_platforms.html", {"rows": rows, "share": share, "hours": hours}
    )
    return response


@router.get("/api/stats/platforms", tags=["stats"])
def platforms_api(request: Request, user: Supervisor, chosen: Chosen) -> dict[str, Any]:
    """The figures of ``/api/stats``'s filters side by side per platform (the busiest first),
    each exactly the figures filtered by that platform; ``platform_titles`` in Russian."""
    rows = _platform_rows(request, chosen)
    return {
        "platforms": [r.to_json() for r in rows],
        "platform_titles": {r.platform: display.platform_title(r.platform) for r in rows},
    }


# ----- downloads -------------------------------------------------------------------------


def content_disposition(filename: str, fallback: str, kind: str = "attachment") -> str:
    """``attachment; filename="ascii"; filename*=UTF-8''percent-encoded`` (RFC 6266/5987)."""
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "_", fallback) or "download"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _slug(value: str | None) -> str:
    return re.sub(r"[^\w.-]+", "_", value or "").strip("_")[:40]


def _stream_file(handle: IO[bytes], size: int, media_type: str, disposition: str) -> Response:
    def chunks() -> Iterator[bytes]:
        while block := handle.read(CHUNK):
            yield block

    return StreamingResponse(
        chunks(),
        media_type=media_type,
        headers={"Content-Disposition": disposition, "Content-Length": str(size)},
        background=BackgroundTask(handle.close),
    )


def _spooled(write: Callable[[str], object]) -> tuple[IO[bytes], int]:
    """Runs ``write(path)`` on a fresh temporary path, then returns the file opened for
    reading, already unlinked (the open handle keeps the data until it is closed)."""
    fd, path = tempfile.mkstemp(prefix="incident-", suffix=".tmp")
    os.close(fd)
    try:
        write(path)
        handle = open(path, "rb")  # noqa: SIM115 - closed by the response's background task
    finally:
        os.unlink(path)
    return handle, os.fstat(handle.fileno()).st_size


@router.get("/stats/export", include_in_schema=False)
def export(
    request: Request,
    user: Supervisor,
    chosen: Chosen,
    format: Annotated[Literal["csv", "xlsx"], Query()] = "xlsx",
) -> Response:
    """The period's incidents with their times, as CSV (for a Russian spreadsheet) or XLSX."""
    # A label no topic id can collide with marks "without topic" rows for the filter above.
    labels = {**topic_labels(deps.suggestions(request)), UNCLASSIFIED: TOPIC_LABELS[UNCLASSIFIED]}

    def write(path: str) -> None:
        with deps.engine(request).connect() as conn:
            rows = reports.export_rows(conn, chosen.filters, labels)
            if format == "xlsx":
                reports.write_incidents_xlsx(rows, Path(path))
            else:
                with open(path, "w", encoding="utf-8-sig", newline="") as out:
                    reports.write_incidents_csv(rows, out)

    handle, size = _spooled(write)
    span = f"{chosen.first:%Y-%m-%d}_{chosen.last:%Y-%m-%d}"
    tail = f"_{_slug(chosen.community)}" if chosen.community else ""
    disposition = content_disposition(
        f"обращения_{span}{tail}.{format}", f"incidents_{span}{tail}.{format}"
    )
    return _stream_file(handle, size, XLSX if format == "xlsx" else CSV, disposition)


def style_hashes(page: str) -> list[str]:
    """CSP ``'sha256-...'`` sources for each inline ``<style>`` element of a page."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in re.findall(r"<style>(.*?)</style>", page, flags=re.DOTALL)
    ]


@router.get("/stats/report", include_in_schema=False)
def monthly_report(
    request: Request,
    user: Supervisor,
    month: Annotated[str | None, Query(max_length=7)] = None,
    community: Annotated[str | None, Query(max_length=64)] = None,
    format: Annotated[Literal["html", "xlsx", "csv"], Query()] = "html",
) -> Response:
    """The monthly report per community in the regional rating's shape: a printable page,
    XLSX (rating, topics, days) or CSV (the rating)."""
    tz = timezone_of(request)
    now = deps.now(request)
    if month:
        try:
            year, number = reports.month_of(month)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None
    else:
        first, _ = current_month(now, tz)
        year, number = first.year, first.month
    community = (community or "").strip() or None
    with deps.engine(request).begin() as conn:
        report = reports.monthly_report(conn, year, number, now, timezone=tz, community=community)
    k = deps.suggestions(request)
    labels = topic_labels(k, (t for t, _ in report.overall.daily_volume))
    if format == "html":
        page = printable.report_html(report, labels)
        csp = (
            "default-src 'none'; img-src 'self' data:; style-src "
            + " ".join(style_hashes(page))
            + "; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
        return HTMLResponse(page, headers={"Content-Security-Policy": csp})

    def write(path: str) -> None:
        if format == "xlsx":
            reports.write_report_xlsx(report, Path(path), labels)
        else:
            with open(path, "w", encoding="utf-8-sig", newline="") as out:
                reports.write_report_csv(report, out)

    handle, size = _spooled(write)
    tail = f"_{_slug(community)}" if community else ""
    name = f"{year}-{number:02d}{tail}.{format}"
    disposition = content_disposition(f"отчёт_{name}", f"report_{name}")
    return _stream_file(handle, size, XLSX if format == "xlsx" else CSV, disposition)
