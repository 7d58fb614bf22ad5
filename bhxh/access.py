"""Who may read what: the warehouse's roles, logins and provincial row-level access (issue #8).

``setup(conn)``                      create the group roles, grants and RLS plumbing (sql/security.sql)
``grant_province(conn, codes, role)``  a provincial analyst role that sees only those provinces' rows
``create_login(conn, user, group, password)``  a login that is a member of one group

The row policies themselves are (re)created by dbt after each build of a mart (macro
``row_level_security`` in dbt_project/macros), because dbt drops and recreates the tables.
"""

from __future__ import annotations

import re
from datetime import date
from importlib import resources

import psycopg
from psycopg import sql

from bhxh.reference import Province, provinces
from bhxh.settings import SERVICE_LOGINS, Settings

GROUPS = ("bhxh_loader", "bhxh_transformer", "bhxh_bi", "bhxh_province_reader")
PROVINCE_READER = "bhxh_province_reader"
_ROLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_PROVINCE = re.compile(r"(?P<code>[0-9]{2})(?::(?P<valid_from>[0-9]{4}-[0-9]{2}-[0-9]{2}))?")


class AccessError(ValueError):
    """A request the access layer refuses; the message says why in one line."""


def setup(conn: psycopg.Connection, settings: Settings | None = None) -> None:
    """The roles, grants and RLS plumbing; on the embedded server also the pipeline's and dbt's
    logins (``settings.SERVICE_LOGINS``), with the passwords kept in its secrets folder."""
    conn.execute(resources.files("bhxh").joinpath("sql/security.sql").read_text(encoding="utf-8"))
    if settings is not None and settings.embedded:
        from bhxh.warehouse import embedded_password

        for login, group in SERVICE_LOGINS.values():
            for attempt in range(3):  # another setup may create or alter the same login at this moment
                try:
                    create_login(conn, login, group, embedded_password(settings, login))
                    break
                except (psycopg.errors.DuplicateObject, psycopg.errors.InternalError_):
                    if attempt == 2:
                        raise


def province_key(p: Province) -> str:
    return f"{p.code}:{p.valid_from.isoformat()}"


def province_keys_for(selector: str) -> list[str]:
    """The province keys a grant of ``selector`` gives.

    ``30``             every province that has had code 30 and, for a province valid today, the old
                       provinces merged into it on 2025-07-01 (its territory's history): code 31
                       gives new Hải Phòng, old Hải Phòng and old Hải Dương; code 30 gives only old
                       Hải Dương (30:2008-08-01), never the rest of Hải Phòng.
    ``31:2008-08-01``  exactly that province version.
    """
    match = _PROVINCE.fullmatch(selector.strip())
    if not match:
        raise AccessError(f"not a province code (NN) or key (NN:YYYY-MM-DD): {selector!r}")
    code, valid_from = match["code"], match["valid_from"]
    every = provinces()
    if valid_from:
        chosen = [p for p in every if p.code == code and p.valid_from == date.fromisoformat(valid_from)]
    else:
        chosen = [p for p in every if p.code == code]
        current = [p for p in chosen if p.valid_to is None]
        chosen += [p for p in every if current and p.valid_to is not None and p.successor_code == code
                   and p.code != code]
    if not chosen:
        raise AccessError(f"no province {selector!r} in the reference provinces")
    return sorted({province_key(p) for p in chosen})


def _check_role_name(role: str) -> None:
    if not _ROLE_NAME.fullmatch(role) or role.startswith("pg_") or role in GROUPS or role == "postgres":
        raise AccessError(f"refused role name {role!r}: lower-case letters, digits and '_', not a built-in group")


def grant_province(conn: psycopg.Connection, selectors: list[str], role: str) -> list[str]:
    """Create ``role`` (NOLOGIN, member of bhxh_province_reader) if needed and let it see the rows of
    ``selectors``; return the province keys it sees now. Idempotent; grants add up."""
    _check_role_name(role)
    keys = sorted({k for s in selectors for k in province_keys_for(s)})
    ident = sql.Identifier(role)
    with conn.transaction():
        exists = conn.execute("select rolcanlogin from pg_roles where rolname = %s", (role,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("create role {} nologin").format(ident))
        conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(PROVINCE_READER), ident))
        for key in keys:
            conn.execute("insert into security.province_access (role_name, province_key) values (%s, %s) "
                         "on conflict do nothing", (role, key))
        rows = conn.execute("select province_key from security.province_access where role_name = %s "
                            "order by province_key", (role,)).fetchall()
    return [r[0] for r in rows]


def revoke_province(conn: psycopg.Connection, selectors: list[str], role: str) -> list[str]:
    """Take back the rows of ``selectors`` from ``role``; return the province keys it still sees."""
    _check_role_name(role)
    keys = sorted({k for s in selectors for k in province_keys_for(s)})
    with conn.transaction():
        conn.execute("delete from security.province_access where role_name = %s and province_key = any(%s)",
                     (role, keys))
        rows = conn.execute("select province_key from security.province_access where role_name = %s "
                            "order by province_key", (role,)).fetchall()
    return [r[0] for r in rows]


def create_login(conn: psycopg.Connection, user: str, group: str, password: str) -> None:
    """A login role ``user`` (created, or its password changed) that is a member of ``group``.

    Members of bhxh_transformer act as the group (``SET ROLE`` at login), so that every object dbt
    creates is owned by bhxh_transformer and the default privileges of sql/security.sql apply."""
    _check_role_name(user)
    if group not in GROUPS and not conn.execute(
            "select 1 from pg_roles r join pg_auth_members m on m.member = r.oid "
            "join pg_roles p on p.oid = m.roleid where r.rolname = %s and p.rolname = %s",
            (group, PROVINCE_READER)).fetchone():
        raise AccessError(f"{group!r} is not a bhxh group nor a provincial role (bhxh access grant-province)")
    if len(password) < 12:
        raise AccessError("refused password: at least 12 characters")
    ident = sql.Identifier(user)
    with conn.transaction():
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (user,)).fetchone()
        verb = "alter" if exists else "create"
        conn.execute(sql.SQL(verb + " role {} login password {}").format(ident, sql.Literal(password)))
        conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(group), ident))
        if group == "bhxh_transformer":
            conn.execute(sql.SQL("alter role {} set role = {}").format(ident, sql.Literal(group)))
