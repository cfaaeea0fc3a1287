"""The composition root: everything is built here from one Settings object and nowhere else."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any

from aiohttp import WSCloseCode, web
from argon2 import PasswordHasher
from telegram.error import TelegramError
from twilio.request_validator import RequestValidator

from bot.directory import load_demo_directory
from bot.library import ScriptLibrary
from bot.script import builtin_script_source, load_builtin_script
from bot.service import ConversationService, deliver
from channels.background import BackgroundWork
from channels.base import Channel
from channels.outbox import RATE_LIMITS, OutboxWorker, RateLimiter
from channels.telegram import routes as telegram
from channels.telegram.channel import TelegramChannel, make_bot
from channels.twilio import routes as twilio
from channels.twilio.channel import SmsChannel, TwilioMessaging, WhatsAppChannel
from channels.webchat import routes as webchat
from channels.webchat.channel import WebChatChannel
from config import Settings
from crypto import KeyFileError, KeyRing, Pseudonymizer, ReceiptHasher
from handoff import api as handoff_api
from handoff import (
    dashboard,
    people_api,
    resources_api,
    rota_api,
    scripts_api,
    settings_api,
    statistics_api,
)
from handoff.admin_settings import LiveSettings
from handoff.auth import setup_auth
from handoff.canned import shipped_canned_responses
from handoff.events import EventHub
from handoff.service import HandoffService
from porchlight.metrics import METRICS, Metrics, measure, serve_metrics
from porchlight.state import (
    BACKGROUND,
    BUS,
    CHANNELS,
    EVENTS,
    KEYRING,
    LEADERSHIP,
    LIVE_SETTINGS,
    SCRIPTS,
    SERVICES,
    SETTINGS,
    TELEGRAM_BOT,
    TWILIO,
    WEBCHAT,
    Services,
)
from porchlight.web import add_security_headers
from storage.admin_settings import AdminSettingsStore
from storage.audit import AuditLog
from storage.bus import LocalBus, PostgresBus
from storage.canned import CannedResponseStore
from storage.conversations import ConversationStore
from storage.engine import (
    checkpoint_wal,
    create_engine,
    create_session_factory,
    database_reachable,
    engine_of,
)
from storage.handoffs import HandoffStore
from storage.inbound import InboundLedger
from storage.leader import Leadership
from storage.migrate import upgrade_to_head
from storage.models import utcnow
from storage.outbox import DeletionQueue, OutboxStore
from storage.presence import PresenceStore
from storage.reports import ReportStore
from storage.resources import ResourceStore
from storage.retention import RetentionStore, retention_periods
from storage.rota import RotaStore
from storage.scripts import ScriptStore
from storage.service_keys import ServiceKeyStore
from storage.statistics import StatisticsStore
from storage.users import UserStore

logger = logging.getLogger(__name__)


TIMER_INTERVAL_SECONDS = 10.0
OUTBOX_INTERVAL_SECONDS = 1.0
HANDOFF_INTERVAL_SECONDS = 5.0
PURGE_INTERVAL_SECONDS = 3600.0
# How often SQLite's WAL is copied into the database file (no commit does it: see
# storage/engine.py). A second's worth of turns at full speed is some tens of megabytes.
CHECKPOINT_INTERVAL_SECONDS = 1.0
# How soon a running service starts sealing with a key `porchlight keys rotate` added.
KEY_REFRESH_SECONDS = 60.0
# How often an instance that does not run the once-only workers asks whether it should now.
LEADERSHIP_WAIT_SECONDS = 5.0
# How soon a script published or a setting changed on another instance reaches this one.
ADMIN_REFRESH_SECONDS = 15.0
# The service runs one script; administrators publish versions of it.
SCRIPT_NAME = "default"
# Channels whose replies leave through the outbox and a provider's API.
OUTBOX_CHANNELS = frozenset({"sms", "whatsapp", "telegram"})


def load_keyring(settings: Settings) -> KeyRing:
    """The master keys, from MASTER_KEY or the key file in DATA_DIR (created on first run)."""
    master_key = settings.master_key.reveal() if settings.master_key else None
    return KeyRing.load(master_key, settings.data_dir)


def create_app(
    settings: Settings,
    *,
    keyring: KeyRing | None = None,
    password_hasher: PasswordHasher | None = None,
    receipt_hasher: ReceiptHasher | None = None,
    timer_interval: float = TIMER_INTERVAL_SECONDS,
    outbox_interval: float = OUTBOX_INTERVAL_SECONDS,
    handoff_interval: float = HANDOFF_INTERVAL_SECONDS,
    purge_interval: float = PURGE_INTERVAL_SECONDS,
    checkpoint_interval: float = CHECKPOINT_INTERVAL_SECONDS,
    rate_limits: Mapping[str, tuple[float, float]] = RATE_LIMITS,
    clock: Callable[[], datetime] = utcnow,
) -> web.Application:
    """Build the service.

    Args:
        settings: the validated settings.
        keyring: master keys; loaded from settings when omitted (tests pass a fixed one).
        password_hasher: argon2 hasher; the production default is deliberately slow, tests
            pass a cheap one.
        receipt_hasher: the slow hash for report receipt codes; tests pass a cheap one.
        timer_interval: seconds between checks for timed-out waits and expired sessions.
        outbox_interval: seconds between checks for queued provider deliveries.
        handoff_interval: seconds between rounds of offers, escalations and after-hours.
        purge_interval: seconds between deletions of what is older than RETENTION_DAYS.
        checkpoint_interval: seconds between copies of SQLite's WAL into the database.
        rate_limits: per channel, the gaps between deliveries (overall, per recipient).
        clock: the time source for stores and timers (tests move a fake one).
    """
    app = web.Application()
    app[SETTINGS] = settings
    app[KEYRING] = keyring or load_keyring(settings)
    app[LIVE_SETTINGS] = LiveSettings(settings)  # the dashboard's overrides join at start
    app[WEBCHAT] = WebChatChannel()
    channels: dict[str, Channel] = {WebChatChannel.name: app[WEBCHAT]}
    app[CHANNELS] = channels
    app[BACKGROUND] = BackgroundWork()
    app[EVENTS] = EventHub()
    app[METRICS] = Metrics()
    app.middlewares.append(measure)

    async def database(app: web.Application) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        try:
            await upgrade_to_head(engine)
            sessions = create_session_factory(engine)
            # Before anything derives a purpose key: they must survive key rotations.
            await ServiceKeyStore(sessions, clock=clock).pin_all(app[KEYRING])
            await _join_other_instances(app, settings.database_url)
            hasher = receipt_hasher or ReceiptHasher(app[KEYRING])
            # People's lookups and first turns on connections of their own (PostgreSQL).
            conversations = ConversationStore(
                sessions, app[KEYRING], clock=clock, keep_connections=True
            )
            resources = ResourceStore(sessions)
            reports = ReportStore(sessions, app[KEYRING], hasher, clock=clock)
            deletions = DeletionQueue(sessions, clock=clock)
            audit = AuditLog(sessions, clock=clock)
            handoffs = HandoffStore(sessions, app[KEYRING], clock=clock)
            presence = PresenceStore(sessions, clock=clock)
            canned = CannedResponseStore(sessions, clock=clock)
            rota = RotaStore(sessions)
            scripts = ScriptStore(sessions, clock=clock)
            users = UserStore(sessions, password_hasher, clock=clock, keyring=app[KEYRING])
            if await scripts.live(SCRIPT_NAME) is None and not await users.list_users():
                # The very first start (no script numbered, nobody to sign in yet): fill the
                # directory with the demo entries. Never later, not even on the upgrade that
                # brought script versions, so a directory an admin emptied stays empty.
                await resources.seed_if_empty(load_demo_directory())
            app[LIVE_SETTINGS].attach(AdminSettingsStore(sessions, clock=clock))
            await app[LIVE_SETTINGS].refresh()
            app[SCRIPTS] = ScriptLibrary(
                load_builtin_script(SCRIPT_NAME), builtin_script_source(SCRIPT_NAME), scripts
            )
            await app[SCRIPTS].start()
            await canned.seed_if_empty(shipped_canned_responses())
            statistics = StatisticsStore(sessions, settings.timezone, clock=clock)
            conversation_service = ConversationService(
                conversations,
                Pseudonymizer.from_keyring(app[KEYRING]),
                app[SCRIPTS],
                resources=resources,
                reports=reports,
                outbox_channels=OUTBOX_CHANNELS,
                channels=channels,
                deletions=deletions,
                clock=clock,
                statistics=statistics,
                ledger=InboundLedger(sessions, app[KEYRING], clock=clock),
            )
            handoff_service = HandoffService(
                handoffs=handoffs,
                presence=presence,
                conversations=conversation_service,
                conversation_store=conversations,
                channels=channels,
                events=app[EVENTS],
                audit=audit,
                settings=lambda: app[LIVE_SETTINGS].current,
                rota=rota,
                clock=clock,
                outcome_tags=lambda: app[LIVE_SETTINGS].outcome_tags,
            )
            conversation_service.attach_handoffs(handoff_service)
            app[SERVICES] = Services(
                sessions=sessions,
                conversations=conversations,
                outbox=OutboxStore(sessions, app[KEYRING], clock=clock),
                deletions=deletions,
                reports=reports,
                resources=resources,
                users=users,
                audit=audit,
                handoffs=handoffs,
                presence=presence,
                canned=canned,
                rota=rota,
                retention=RetentionStore(sessions, clock=clock),
                scripts=scripts,
                statistics=statistics,
                conversation_service=conversation_service,
                handoff_service=handoff_service,
            )
            yield
        finally:
            await app[BACKGROUND].drain()
            services = app.get(SERVICES)
            try:
                if services is not None:
                    await services.conversations.hand_back_connections()
            finally:
                leadership = app.get(LEADERSHIP)
                if leadership is not None:
                    await leadership.close()
                bus = app.get(BUS)
                if isinstance(bus, PostgresBus):
                    await bus.close()
                await engine.dispose()

    async def providers(app: web.Application) -> AsyncIterator[None]:
        # Created here, inside the running loop, because the client opens an HTTP session.
        if settings.twilio_account_sid:
            app[TWILIO] = TwilioMessaging(settings)
            channels[SmsChannel.name] = SmsChannel(app[TWILIO])
            channels[WhatsAppChannel.name] = WhatsAppChannel(app[TWILIO])
        if settings.telegram_token is not None:
            app[TELEGRAM_BOT] = make_bot(settings)
            try:
                # Opens the HTTP client (so shutdown closes it) and checks the token.
                await app[TELEGRAM_BOT].initialize()
            except TelegramError as exc:  # Telegram down at start: sends will retry later
                logger.warning(
                    "telegram: could not reach the Bot API at start (%s)", type(exc).__name__
                )
            channels[TelegramChannel.name] = TelegramChannel(app[TELEGRAM_BOT])
        yield
        if TWILIO in app:
            await app[TWILIO].close()
        if TELEGRAM_BOT in app:
            await app[TELEGRAM_BOT].shutdown()

    def outbox_worker(app: web.Application) -> Coroutine[Any, Any, None]:
        worker = OutboxWorker(
            app[SERVICES].outbox,
            app[SERVICES].conversations,
            channels,
            clock=clock,
            limiter=RateLimiter(rate_limits),
            deletions=app[SERVICES].deletions,
            timezone=settings.timezone,
            forget=app[SERVICES].conversation_service.forget,
        )
        return worker.run(outbox_interval, lambda: app[LEADERSHIP].is_leader)

    app.cleanup_ctx.append(database)
    setup_auth(app, clock)  # its own start-up runs once the database is ready
    app.cleanup_ctx.append(providers)
    for worker in (
        lambda app: _run_timers(app, timer_interval),
        outbox_worker,
        lambda app: _run_handoffs(app, handoff_interval),
        lambda app: _run_purges(app, purge_interval),
        lambda app: _follow_key_file(app[KEYRING], KEY_REFRESH_SECONDS),
        lambda app: _follow_admin_changes(app, ADMIN_REFRESH_SECONDS),
        lambda app: _run_checkpoints(app, checkpoint_interval),
    ):
        app.cleanup_ctx.append(_background(worker))
    app.on_response_prepare.append(add_security_headers)
    app.on_shutdown.append(_close_websockets)
    app.router.add_routes(_routes(app))
    app.router.add_routes(
        handoff_api.routes(
            lambda: app[SERVICES].handoff_service,
            lambda: app[SERVICES].presence,
            lambda: app[SERVICES].canned,
            lambda: app[SERVICES].audit,
            app[EVENTS],
        )
    )
    app.router.add_routes(
        rota_api.routes(
            lambda: app[SERVICES].rota,
            lambda: app[SERVICES].presence,
            lambda: app[SERVICES].audit,
            settings,
            clock,
        )
    )
    app.router.add_routes(
        people_api.routes(lambda: app[SERVICES].users, lambda: app[SERVICES].audit)
    )
    app.router.add_routes(
        resources_api.routes(lambda: app[SERVICES].resources, lambda: app[SERVICES].audit)
    )
    app.router.add_routes(
        scripts_api.routes(
            lambda: app[SERVICES].scripts,
            lambda: app[SCRIPTS],
            lambda: app[SERVICES].audit,
            lambda: app[LIVE_SETTINGS].alarm_words,
            approval_required=settings.script_approval,
        )
    )
    app.router.add_routes(
        statistics_api.routes(
            lambda: app[SERVICES].statistics,
            lambda: app[SCRIPTS],
            lambda: app[SERVICES].audit,
            settings.timezone,
            clock,
            lambda: app[LIVE_SETTINGS].outcome_tags,
        )
    )
    app.router.add_routes(settings_api.routes(app[LIVE_SETTINGS], lambda: app[SERVICES].audit))
    app.router.add_routes(dashboard.routes(lambda: app[SERVICES].presence))
    app.router.add_static(webchat.STATIC_PREFIX, webchat.PACKAGE_DIR / "static")
    app.router.add_static(dashboard.STATIC_PREFIX, dashboard.PACKAGE_DIR / "static")
    return app


def _background(
    work: Callable[[web.Application], Coroutine[Any, Any, None]],
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context running ``work(app)`` as a task, cancelled and awaited at shutdown."""

    async def running(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(work(app))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return running


def _routes(app: web.Application) -> list[web.RouteDef]:
    async def chat_page(_request: web.Request) -> web.Response:
        return web.Response(
            text=webchat.render_chat_page(app[LIVE_SETTINGS].current), content_type="text/html"
        )

    async def chat_socket(request: web.Request) -> web.StreamResponse:
        return await webchat.websocket(
            request,
            app[WEBCHAT],
            app[SERVICES].conversation_service,
            app[BACKGROUND],
            app[SETTINGS].public_url,
        )

    async def favicon(_request: web.Request) -> web.Response:
        return web.Response(status=204)  # browsers ask; answering keeps the log clean

    async def healthz(_request: web.Request) -> web.Response:
        if not await database_reachable(app[SERVICES].sessions):
            logger.error("health check: database unreachable")
            return web.json_response({"status": "unavailable"}, status=503)
        return web.json_response({"status": "ok"})

    routes = [
        web.get("/", chat_page),
        web.get(webchat.WEBSOCKET_PATH, chat_socket),
        web.get("/favicon.ico", favicon),
        web.get("/healthz", healthz),
        web.get("/metrics", serve_metrics),
    ]
    settings = app[SETTINGS]
    if settings.twilio_auth_token is not None:
        validator = RequestValidator(settings.twilio_auth_token.reveal())

        async def twilio_webhook(request: web.Request) -> web.Response:
            return await twilio.webhook(
                request,
                validator=validator,
                public_url=settings.public_url,
                service=app[SERVICES].conversation_service,
                background=app[BACKGROUND],
            )

        routes.append(web.post(twilio.WEBHOOK_PATH, twilio_webhook))
    if settings.telegram_secret_token is not None:
        secret = settings.telegram_secret_token.reveal()

        async def telegram_webhook(request: web.Request) -> web.Response:
            channel = app[CHANNELS][TelegramChannel.name]
            assert isinstance(channel, TelegramChannel)  # noqa: S101 -- registered at start
            return await telegram.webhook(
                request,
                secret=secret,
                channel=channel,
                service=app[SERVICES].conversation_service,
                background=app[BACKGROUND],
            )

        routes.append(web.post(telegram.WEBHOOK_PATH, telegram_webhook))
    return routes


async def _join_other_instances(app: web.Application, database_url: str) -> None:
    """Elect who runs the once-only workers, and relay live messages between instances.

    Only PostgreSQL can be shared by several instances; on SQLite this one leads alone.
    """
    app[LEADERSHIP] = Leadership(database_url)
    await app[LEADERSHIP].start()
    if not database_url.startswith("postgresql"):
        app[BUS] = LocalBus()
        return

    async def received(message: dict[str, Any]) -> None:
        kind = message.get("kind")
        if kind == "event":
            app[EVENTS].deliver_here(message)
        elif kind == "frame":
            await app[WEBCHAT].deliver_here(str(message.get("address")), message.get("frame"))

    bus = PostgresBus(database_url, app[KEYRING], received)
    await bus.start()
    app[BUS] = bus
    app[EVENTS].reach_other_instances(bus)
    app[WEBCHAT].reach_other_instances(bus)


async def _run_timers(app: web.Application, interval: float) -> None:
    channels: dict[str, Channel] = app[CHANNELS]
    """Fire due timers forever; one bad delivery must not stop the others."""
    while True:
        await asyncio.sleep(interval)
        if not app[LEADERSHIP].is_leader:
            continue  # another instance fires them
        try:
            deliveries = await app[SERVICES].conversation_service.fire_due_timers()
        except Exception:  # the worker must survive a database hiccup
            logger.exception("timer worker: could not fire due timers")
            continue
        for delivery in deliveries:
            await deliver(delivery, channels)


async def _run_handoffs(app: web.Application, interval: float) -> None:
    """Offer, escalate and give up on waiting handoffs forever; survive a bad round."""
    while True:
        await asyncio.sleep(interval)
        if not app[LEADERSHIP].is_leader:
            continue  # another instance runs the rounds
        try:
            await app[SERVICES].handoff_service.tick()
        except Exception:  # the worker must survive a database hiccup
            logger.exception("handoff worker: a round failed")


async def _follow_key_file(keyring: KeyRing, interval: float) -> None:
    """Re-read the key file now and then, so new data is sealed with a rotated-in key."""
    while True:
        await asyncio.sleep(interval)
        before = keyring.current.key_id
        try:
            keyring.refresh()
        except KeyFileError as exc:  # keep the keys we have; say why the file was refused
            logger.error("key file: %s", exc)
            continue
        if keyring.current.key_id != before:
            logger.warning("key file: now sealing with master key %s", keyring.current.key_id)


async def _follow_admin_changes(app: web.Application, interval: float) -> None:
    """Pick up a script published or settings changed on another instance.

    Changes made through this instance apply at once; this is for the others.
    """
    while True:
        await asyncio.sleep(interval)
        try:
            await app[SCRIPTS].refresh()
            await app[LIVE_SETTINGS].refresh()
        except Exception as exc:  # whatever went wrong, try again next round: never stop
            logger.error("refreshing the script and settings failed: %s", type(exc).__name__)


async def _run_purges(app: web.Application, interval: float) -> None:
    """Delete expired data once at start and then every ``interval``; survive a bad round."""
    while True:
        if not app[LEADERSHIP].is_leader:  # another instance purges
            await asyncio.sleep(LEADERSHIP_WAIT_SECONDS)
            continue
        settings = app[LIVE_SETTINGS].current  # administrators may change retention
        keep, keep_reports = retention_periods(
            settings.retention_days, settings.report_retention_days
        )
        try:
            purged = await app[SERVICES].retention.purge(keep, keep_reports)
        except Exception:  # the worker must survive a database hiccup
            logger.exception("retention: a purge failed")
        else:
            if purged.conversations or purged.reports:
                logger.info(
                    "retention: deleted %d conversations and %d reports",
                    purged.conversations,
                    purged.reports,
                )
        await asyncio.sleep(interval)


async def _run_checkpoints(app: web.Application, interval: float) -> None:
    """Checkpoint SQLite's WAL every ``interval`` (each instance its own file's, if any)."""
    engine = engine_of(app[SERVICES].sessions)
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL keeps its own WAL
    while True:
        await asyncio.sleep(interval)
        try:
            await checkpoint_wal(engine)
        except Exception:  # the worker must survive a database hiccup
            logger.exception("storage: a WAL checkpoint failed")


async def _close_websockets(app: web.Application) -> None:
    for socket in [*app[WEBCHAT].open_sockets, *app[EVENTS].open_sockets]:
        await socket.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
