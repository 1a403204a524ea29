"""The admins' pages: user accounts and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import Response

from incident import users
from incident.users import Role
from incident.web import deps, queries
from incident.web.deps import Admin, Id

router = APIRouter(include_in_schema=False)

USERS = "/admin/users"


@router.get("/admin/users")
def admin_users(request: Request, user: Admin) -> Response:
    """Every account with its role and state, and the forms to change them."""
    with deps.engine(request).connect() as conn:
        people = users.list_users(conn)
    return deps.render(request, "users.html", {"people": people, "roles": list(Role)})


@router.post("/admin/users")
def admin_add_user(
    request: Request,
    user: Admin,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1000)],
    role: Annotated[str, Form()],
    display_name: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Create an account."""
    if role not in {r.value for r in Role}:
        raise HTTPException(400, "Нет такой роли.")
    with deps.action(request) as conn:
        users.add_user(
            conn,
            username,
            password,
            Role(role),
            deps.now(request),
            display_name=display_name or None,
            actor=user.username,
        )
        deps.flash(request, f"Пользователь {username} добавлен.")
    return deps.back(USERS)


@router.post("/admin/users/{username}/disable")
def admin_disable(request: Request, username: str, user: Admin) -> Response:
    """Disable an account (its sessions end at once); never one's own."""
    if username == user.username:
        raise HTTPException(400, "Нельзя отключить самого себя.")
    with deps.action(request) as conn:
        users.set_disabled(conn, username, True, deps.now(request), actor=user.username)
        deps.flash(request, f"Пользователь {username} отключён.")
    return deps.back(USERS)


@router.post("/admin/users/{username}/enable")
def admin_enable(request: Request, username: str, user: Admin) -> Response:
    """Let a disabled account log in again."""
    with deps.action(request) as conn:
        users.set_disabled(conn, username, False, deps.now(request), actor=user.username)
        deps.flash(request, f"Пользователь {username} снова может войти.")
    return deps.back(USERS)


@router.post("/admin/users/{username}/password")
def admin_password(
    request: Request,
    username: str,
    user: Admin,
    password: Annotated[str, Form(max_length=1000)],
) -> Response:
    """Set a new password for an account."""
    with deps.action(request) as conn:
        users.set_password(conn, username, password, deps.now(request), actor=user.username)
        deps.flash(request, f"Пароль пользователя {username} изменён.")
    return deps.back(USERS)


@router.post("/admin/users/{username}/role")
def admin_role(
    request: Request, username: str, user: Admin, role: Annotated[str, Form()]
) -> Response:
    """Change an account's role."""
    if role not in {r.value for r in Role}:
        raise HTTPException(400, "Нет такой роли.")
    with deps.action(request) as conn:
        users.set_role(conn, username, Role(role), deps.now(request), actor=user.username)
        deps.flash(request, f"Роль пользователя {username} изменена.")
    return deps.back(USERS)


@router.post("/admin/users/{username}/name")
def admin_name(
    request: Request,
    username: str,
    user: Admin,
    display_name: Annotated[str, Form(max_length=128)],
) -> Response:
    """Change the name the app shows for an account."""
    with deps.action(request) as conn:
        name = users.set_display_name(
            conn, username, display_name, deps.now(request), actor=user.username
        )
        deps.flash(request, f"Пользователь {username} теперь показывается как «{name}».")
    return deps.back(USERS)


@router.get("/admin/audit")
def admin_audit(
    request: Request, user: Admin, before: Annotated[Id | None, Query()] = None
) -> Response:
    """The audit log, newest first, a hundred events a page (``before``: the next page)."""
    with deps.engine(request).connect() as conn:
        events = queries.audit_log(conn, before)
    older = events[-1].id if len(events) == 100 else None
    return deps.render(request, "audit.html", {"events": events, "older": older})
