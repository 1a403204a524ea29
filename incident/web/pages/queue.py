"""The queue of incidents: the page with its filters, and its rows alone for the live refresh."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from incident.users import User
from incident.web import deps, queries
from incident.web.deps import CurrentUser

router = APIRouter(include_in_schema=False)


def queue_filter(
    platform: Annotated[str | None, Query(max_length=32)] = None,
    community: Annotated[str | None, Query(max_length=64)] = None,
    topic: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    mine: Annotated[str | None, Query(max_length=8)] = None,
    overdue: Annotated[str | None, Query(max_length=8)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> queries.QueueFilter:
    """The queue's filters from the query string; empty fields mean "any", status "open"."""
    return queries.QueueFilter(
        platform=(platform or None),
        community=(community or None),
        topic=(topic or None),
        status=status if status in queries.STATUSES else "open",
        mine=bool(mine),
        overdue=bool(overdue),
        q=(q or "").strip()[:200] or None,
        offset=max(0, min(offset, 100_000)),
    )


QueueFilterDep = Annotated[queries.QueueFilter, Depends(queue_filter)]


def _queue_context(request: Request, f: queries.QueueFilter, user: User) -> dict[str, Any]:
    now = deps.now(request)
    with deps.engine(request).connect() as conn:
        rows = queries.queue(conn, f, user.username, now)
        marks = queries.topic_marks(conn, rows)
        total = queries.count(conn, f, user.username, now)
        newest = queries.newest_open_id(conn)
        platforms = queries.choices(conn)["platforms"]
        communities = queries.source_names(conn)
    s = deps.suggestions(request)
    return {
        "rows": rows,
        "marks": marks,
        "f": f,
        "total": total,
        "cap": queries.COUNT_CAP,
        "newest": newest,
        "platforms": platforms,
        "communities": communities,
        "topics": s.topics,
        "topic_title": s.title,
        "query": urlencode(f.as_query()),
        "more": urlencode({**f.as_query(), "offset": f.offset + queries.PAGE}),
        "page": queries.PAGE,
        "refresh": request.app.state.settings.refresh_seconds,
    }


@router.get("/queue")
def queue_page(request: Request, user: CurrentUser, f: QueueFilterDep) -> Response:
    """The queue: open incidents by deadline, filtered."""
    return deps.render(request, "queue.html", _queue_context(request, f, user))


@router.get("/queue/rows")
def queue_rows(request: Request, user: CurrentUser, f: QueueFilterDep) -> Response:
    """The table body alone, for the live refresh."""
    return deps.render(request, "_rows.html", _queue_context(request, f, user))
