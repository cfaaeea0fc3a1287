"""The ``porchlight`` command. Only this module turns errors into exit codes."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web
from telegram.error import TelegramError

from bot import simulator
from bot.lint import lint_script
from bot.script import ScriptError, load_builtin_script, load_script_file
from channels.telegram.channel import make_bot
from channels.telegram.routes import WEBHOOK_PATH as TELEGRAM_WEBHOOK_PATH
from config import ConfigError, Settings, format_settings, load_settings
from crypto import CryptoError
from porchlight import keys
from porchlight.app import create_app, load_keyring
from porchlight.logs import configure_logging
from porchlight.state import SERVICES
from storage.engine import create_engine, create_session_factory
from storage.migrate import upgrade_to_head
from storage.retention import Purged, RetentionStore, retention_periods
from storage.users import ROLES, Account, InvalidAccount, UserExists, UserStore

EXIT_INVALID = 1  # the input was read and is wrong: a script that fails its checks
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``porchlight`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CryptoError as exc:
        print(f"key error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="porchlight", description="Anonymous, safety-first contact service."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the service")
    _add_config_option(serve)
    serve.set_defaults(handler=_serve)

    demo = sub.add_parser("demo", help="run with throwaway data and demo logins")
    demo.set_defaults(handler=_demo)

    check = sub.add_parser("check-config", help="validate and print the effective settings")
    _add_config_option(check)
    check.set_defaults(handler=_check_config)

    script = sub.add_parser("script", help="check and try conversation scripts")
    script_sub = script.add_subparsers(dest="script_command", required=True, metavar="ACTION")
    validate = script_sub.add_parser("validate", help="check a script file and its safety rules")
    validate.add_argument("file", type=Path)
    validate.add_argument(
        "--alarm-word",
        action="append",
        default=[],
        metavar="WORD",
        help="another word that must not appear where someone else may read first "
        "(e.g. your organisation's name); repeatable",
    )
    validate.set_defaults(handler=_script_validate)
    simulate = script_sub.add_parser("simulate", help="chat with a script in the terminal")
    simulate.add_argument("script", nargs="?", default="default", help="shipped name or file")
    simulate.add_argument("--lang", help="start in this language (e.g. es)")
    simulate.add_argument(
        "--channel",
        choices=("webchat", "sms", "whatsapp", "telegram"),
        default="webchat",
        help="the channel to pretend to be (some nodes are for some channels only)",
    )
    simulate.set_defaults(handler=_script_simulate)

    telegram = sub.add_parser("telegram", help="Telegram bot set-up")
    telegram_sub = telegram.add_subparsers(dest="telegram_command", required=True, metavar="ACTION")
    set_webhook = telegram_sub.add_parser(
        "set-webhook", help="register PUBLIC_URL/channels/telegram with the secret token"
    )
    _add_config_option(set_webhook)
    set_webhook.set_defaults(handler=_telegram_set_webhook)

    user = sub.add_parser("user", help="manage dashboard accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser("add", help="create an advocate or admin account")
    _add_config_option(add)
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--username", required=True)
    add.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help="read the password from standard input (never from the command line)",
    )
    add.set_defaults(handler=_user_add)

    keys_parser = sub.add_parser("keys", help="rotate the master key")
    keys_sub = keys_parser.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    rotate = keys_sub.add_parser(
        "rotate", help="add a new master key and re-wrap everything under it (online)"
    )
    _add_config_option(rotate)
    rotate.set_defaults(handler=_keys_rotate)
    retire = keys_sub.add_parser(
        "retire", help="remove old master keys once nothing needs them (3 min after rotate)"
    )
    _add_config_option(retire)
    retire.set_defaults(handler=_keys_retire)

    purge = sub.add_parser(
        "purge", help="delete now what is older than RETENTION_DAYS (the service also does hourly)"
    )
    _add_config_option(purge)
    purge.set_defaults(handler=_purge)
    return parser


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file (env still overrides)")


def _load(args: argparse.Namespace) -> Settings:
    return load_settings(config_file=getattr(args, "config", None))


def _check_config(args: argparse.Namespace) -> int:
    settings = _load(args)
    load_keyring(settings)  # a bad or too-open key file is a configuration problem too
    print(format_settings(settings))
    print("\nconfiguration OK")
    return 0


def _serve(args: argparse.Namespace) -> int:
    settings = _load(args)
    configure_logging(settings.log_level)
    app = create_app(settings)
    app.on_startup.append(_freeze_startup_heap)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=lambda _: print(f"Porchlight listening on http://{settings.host}:{settings.port}"),
    )
    return 0


async def _freeze_startup_heap(_app: web.Application) -> None:
    """Keep what start-up built (libraries, tables, templates) out of garbage collection.

    The collector's oldest generation walked all of it again every few thousand
    allocations, each time holding the event loop for about 50 ms under load; frozen, those
    pauses took about 5 ms (docs/benchmarks.md). Only the served process does this: it
    lives for one app, where a test process builds hundreds.
    """
    gc.collect()
    gc.freeze()


def _demo(_args: argparse.Namespace) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="porchlight-demo-"))
    try:
        env = {k: v for k, v in os.environ.items() if k in ("PORCHLIGHT_HOST", "PORCHLIGHT_PORT")}
        env["PORCHLIGHT_DATA_DIR"] = str(data_dir)
        settings = load_settings(env=env)
        configure_logging(settings.log_level)
        logins = {"admin": secrets.token_urlsafe(12), "advocate": secrets.token_urlsafe(12)}
        app = create_app(settings)

        async def add_demo_users(app: web.Application) -> None:
            users = app[SERVICES].users
            for role, password in logins.items():
                await users.add_user(username=f"demo-{role}", role=role, password=password)

        def announce(_: str) -> None:
            base = f"http://{settings.host}:{settings.port}"
            print(
                "\nPorchlight demo (throwaway data in a temporary folder, deleted on exit)\n"
                f"  Web chat:   {base}/\n"
                f"  Dashboard:  {base}/dashboard\n"
                f"  Health:     {base}/healthz\n"
                "  Dashboard accounts (admins set up two-factor sign-in at first login):\n"
                f"    advocate  demo-advocate / {logins['advocate']}\n"
                f"    admin     demo-admin / {logins['admin']}\n"
                "Press Ctrl+C to stop.\n",
                flush=True,
            )

        app.on_startup.append(add_demo_users)
        app.on_startup.append(_freeze_startup_heap)
        web.run_app(app, host=settings.host, port=settings.port, access_log=None, print=announce)
        return 0
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _script_validate(args: argparse.Namespace) -> int:
    try:
        script = load_script_file(args.file)
    except ScriptError as exc:
        for problem in exc.problems:
            print(f"{args.file}: {problem}", file=sys.stderr)
        return EXIT_INVALID
    problems = lint_script(script, alarm_words=args.alarm_word)
    for lint_problem in problems:
        print(f"{args.file}: {lint_problem}", file=sys.stderr)
    if problems:
        return EXIT_INVALID
    print(
        f"{args.file}: OK: script {script.name!r}, {len(script.nodes)} nodes, "
        f"languages {', '.join(script.languages)}"
    )
    return 0


def _script_simulate(args: argparse.Namespace) -> int:
    try:
        path = Path(args.script)
        script = (
            load_script_file(path)
            if path.suffix in (".yaml", ".yml")
            else (load_builtin_script(args.script))
        )
    except ScriptError as exc:
        for problem in exc.problems:
            print(f"{exc.source}: {problem}", file=sys.stderr)
        return EXIT_INVALID
    if args.lang is not None and args.lang not in script.languages:
        print(f"error: the script has no language {args.lang!r}", file=sys.stderr)
        return EXIT_USAGE
    simulator.run(script, sys.stdin, sys.stdout, language=args.lang, channel=args.channel)
    return 0


def _telegram_set_webhook(args: argparse.Namespace) -> int:
    settings = _load(args)
    if settings.telegram_token is None or settings.telegram_secret_token is None:
        print(
            "error: set PORCHLIGHT_TELEGRAM_TOKEN and PORCHLIGHT_TELEGRAM_SECRET_TOKEN first",
            file=sys.stderr,
        )
        return EXIT_USAGE
    url = settings.public_url + TELEGRAM_WEBHOOK_PATH
    try:
        asyncio.run(_set_webhook(settings, url))
    except TelegramError as exc:
        print(f"error: Telegram refused the webhook: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(f"Telegram will deliver updates to {url}")
    return 0


async def _set_webhook(settings: Settings, url: str) -> None:
    assert settings.telegram_secret_token is not None  # noqa: S101 -- checked by the caller
    async with make_bot(settings) as bot:
        await bot.set_webhook(
            url,
            secret_token=settings.telegram_secret_token.reveal(),
            allowed_updates=["message", "callback_query"],
        )


def _user_add(args: argparse.Namespace) -> int:
    settings = _load(args)
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        account = asyncio.run(_add_user(settings, args.username, args.role, password))
    except (InvalidAccount, UserExists) as exc:
        message = f"user {exc} already exists" if isinstance(exc, UserExists) else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return EXIT_USAGE
    print(f"created {account.role} {account.username}")
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    result = asyncio.run(keys.rotate(_load(args)))
    print(
        f"added master key {result.current_key} and re-wrapped {result.rewrapped} keys under "
        "it. Running instances switch to it within a minute. Back up the key file now; "
        f"in {keys.SETTLE_SECONDS // 60} minutes run `porchlight keys retire`."
    )
    return 0


def _keys_retire(args: argparse.Namespace) -> int:
    result = asyncio.run(keys.retire(_load(args)))
    retired = ", ".join(result.retired) or "none"
    print(
        f"retired master keys: {retired}. Only {result.current_key} is needed now; "
        "back up the key file again and destroy copies of the old one."
    )
    return 0


def _purge(args: argparse.Namespace) -> int:
    settings = _load(args)
    purged = asyncio.run(_purge_expired(settings))
    print(
        f"deleted {purged.conversations} conversations, {purged.reports} reports and "
        f"{purged.inbound_ids} delivery ids past their retention period "
        f"(RETENTION_DAYS={settings.retention_days}, "
        f"REPORT_RETENTION_DAYS={settings.report_retention_days or settings.retention_days})"
    )
    return 0


async def _purge_expired(settings: Settings) -> Purged:
    engine = create_engine(settings.database_url)
    try:
        await upgrade_to_head(engine)
        retention = RetentionStore(create_session_factory(engine))
        keep, keep_reports = retention_periods(
            settings.retention_days, settings.report_retention_days
        )
        return await retention.purge(keep, keep_reports)
    finally:
        await engine.dispose()


async def _add_user(settings: Settings, username: str, role: str, password: str) -> Account:
    engine = create_engine(settings.database_url)
    try:
        await upgrade_to_head(engine)
        users = UserStore(create_session_factory(engine))
        return await users.add_user(username=username, role=role, password=password)
    finally:
        await engine.dispose()
