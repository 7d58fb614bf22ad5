"""The ``bhxh`` command: the operator's interface. Its forms are a contract; keep them stable.

    bhxh warehouse start|stop|status|url
    bhxh generate --out DIR --start DATE --end DATE [--provinces CODES] [--seed N] [--scale X] [--faults]
    bhxh run --source ROOT_OR_URL --start DATE --end DATE [--lookback DAYS]
    bhxh report [--month YYYY-MM]
    bhxh dq [--date DATE]
    bhxh access grant-province|revoke-province CODE... --role ROLE
    bhxh access create-login USER --group GROUP [--password-env VAR]
    bhxh access rotate-key --yes
    bhxh dashboard --out DIR [--month YYYY-MM] [--province CODE]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _month(text: str) -> date:
    try:
        return date.fromisoformat(text + "-01")
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a month (YYYY-MM): {text!r}") from None


def _codes(text: str) -> list[str]:
    codes = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in codes if not (len(c) == 2 and c.isdigit())]
    if bad:
        raise argparse.ArgumentTypeError(f"province codes are two digits: {', '.join(bad)}")
    return codes


def say(message: str) -> None:
    print(message, flush=True)


def cmd_warehouse(args) -> int:
    from bhxh import warehouse
    from bhxh.settings import get_settings

    settings = get_settings()
    if args.action == "start":
        url = warehouse.start(settings)
        from bhxh.pipeline import init_schema

        init_schema(settings)
        say(f"warehouse running: {url}")
    elif args.action == "stop":
        say("warehouse stopped" if warehouse.stop(settings) else "warehouse was not running")
    elif args.action == "status":
        say(warehouse.status(settings))
        return 0 if warehouse.is_running(settings) else 3
    else:
        print(settings.warehouse_url)
    return 0


def cmd_generate(args) -> int:
    from bhxh.generate import generate

    if args.end < args.start:
        raise SystemExit("bhxh generate: --end is before --start")
    started = time.monotonic()
    summary = generate(args.out, args.start, args.end, provinces=args.provinces, seed=args.seed, scale=args.scale,
                       faults=args.faults, progress=say)
    say(f"generated {args.out} in {time.monotonic() - started:.1f}s: {summary}")
    return 0


def cmd_run(args) -> int:
    from bhxh.runner import run_range

    if args.end < args.start:
        raise SystemExit("bhxh run: --end is before --start")
    return run_range(args.source, args.start, args.end, lookback_days=args.lookback, progress=say)


def cmd_report(args) -> int:
    from bhxh.report import coverage_report

    print(coverage_report(args.month))
    return 0


def cmd_dq(args) -> int:
    from bhxh.dq import day_report

    text, problems = day_report(args.date)
    print(text)
    return 1 if problems else 0


def cmd_access(args) -> int:
    import os

    from bhxh import access
    from bhxh.warehouse import connect

    try:
        with connect(autocommit=True) as conn:
            if args.action == "create-login":
                password = os.environ.get(args.password_env)
                if not password:
                    import getpass

                    password = getpass.getpass(f"password for {args.user}: ")
                access.create_login(conn, args.user, args.group, password)
                say(f"login {args.user} is a member of {args.group}")
                return 0
            if args.action == "rotate-key":
                return _rotate_key(conn, args.yes)
            change = access.grant_province if args.action == "grant-province" else access.revoke_province
            keys = change(conn, args.provinces, args.role)
            say(f"{args.role} sees the rows of provinces: {', '.join(keys) or '(none)'}")
    except access.AccessError as exc:
        print(f"bhxh access: {exc}", file=sys.stderr)
        return 2
    return 0


def _rotate_key(conn, confirmed: bool) -> int:
    """Re-pseudonymise the whole warehouse with the key now configured, from the landing store."""
    from bhxh.pipeline import process_landed
    from bhxh.pseudonym import fingerprint, forget_pseudonyms, load_key

    if not confirmed:
        print("bhxh access rotate-key: drops every receipt and re-reads every file with the new key; "
              "pause the DAGs, then pass --yes", file=sys.stderr)
        return 2
    with conn.transaction():
        first, last = forget_pseudonyms(conn)
    say(f"pseudonyms forgotten; re-reading {first}..{last} with key {fingerprint(load_key())}")
    day = first
    while day and day <= last:  # a day at a time: a load holds its files in memory (a national month is GBs)
        summary = process_landed(day, day)
        if summary.files:
            say(f"  {day}: {summary.files} files, {summary.rows_loaded} rows loaded")
        day += timedelta(days=1)
    say("done: rebuild the marts (the bhxh_marts DAG, or dbt build), then destroy the old key")
    return 0


def cmd_dashboard(args) -> int:
    from bhxh.dashboard import build_dashboard

    try:
        page = build_dashboard(args.out, args.month, args.province)
    except LookupError as exc:
        print(f"bhxh dashboard: {exc}", file=sys.stderr)
        return 1
    say(f"dashboard written: {page.resolve()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bhxh", description="BHXH coverage warehouse")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("warehouse", help="the embedded PostgreSQL (or BHXH_WAREHOUSE_URL)")
    p.add_argument("action", choices=["start", "stop", "status", "url"])
    p.set_defaults(func=cmd_warehouse)

    p = sub.add_parser("generate", help="write a synthetic source root with its ground truth")
    p.add_argument("--out", required=True, type=__import__("pathlib").Path)
    p.add_argument("--start", required=True, type=_date)
    p.add_argument("--end", required=True, type=_date)
    p.add_argument("--provinces", type=_codes, default=None, help="comma-separated codes (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=float, default=1.0, help="share of the national participant numbers")
    p.add_argument("--faults", action="store_true", help="inject faults (recorded in the ground truth)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("run", help="run the pipeline through Airflow for every report day, then the marts")
    p.add_argument("--source", required=True, help="source root: a folder or a URL (http, sftp, s3)")
    p.add_argument("--start", required=True, type=_date)
    p.add_argument("--end", required=True, type=_date)
    p.add_argument("--lookback", type=int, default=None, help="days re-checked for late reports (default 7)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="coverage against targets as a table")
    p.add_argument("--month", type=_month, default=None, help="YYYY-MM (default: the latest month)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("dq", help="a day's failed data-quality checks and missing or late reports (exit 1 if any)")
    p.add_argument("--date", type=_date, default=None, help="report day YYYY-MM-DD (default: the latest)")
    p.set_defaults(func=cmd_dq)

    p = sub.add_parser("access", help="logins and provincial row-level access to the marts")
    actions = p.add_subparsers(dest="action", required=True)
    for name, verb in (("grant-province", "let ROLE (created NOLOGIN if new) see"),
                       ("revoke-province", "stop ROLE seeing")):
        a = actions.add_parser(name, help=f"{verb} the marts' rows of provinces")
        a.add_argument("provinces", nargs="+", metavar="CODE",
                       help="NN (every version of the code, and for a current province its predecessors) or NN:YYYY-MM-DD")
        a.add_argument("--role", required=True, help="e.g. bhxh_province_30")
    a = actions.add_parser("create-login", help="a login role that is a member of one group")
    a.add_argument("user")
    a.add_argument("--group", required=True, help="bhxh_loader, bhxh_transformer, bhxh_bi or a provincial role")
    a.add_argument("--password-env", default="BHXH_LOGIN_PASSWORD",
                   help="environment variable holding the password (default BHXH_LOGIN_PASSWORD; else prompted)")
    a = actions.add_parser("rotate-key", help="re-pseudonymise everything with the key now configured")
    a.add_argument("--yes", action="store_true", help="confirm: every receipt is dropped and re-read")
    p.set_defaults(func=cmd_access)

    p = sub.add_parser("dashboard", help="write the coverage dashboard (static pages and CSV) from the marts")
    p.add_argument("--out", required=True, type=__import__("pathlib").Path)
    p.add_argument("--month", type=_month, default=None, help="YYYY-MM (default: the latest month)")
    p.add_argument("--province", default=None, help="two-digit code: write only this province's page")
    p.set_defaults(func=cmd_dashboard)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from bhxh.warehouse import WarehouseError

    try:
        return args.func(args)
    except WarehouseError as exc:
        print(f"bhxh {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
