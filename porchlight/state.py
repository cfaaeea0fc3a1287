"""The application's typed state: every AppKey and the services built at start.

Kept apart from :mod:`porchlight.app` so that route modules (the dashboard in ``handoff/``)
can read the state without importing the composition root that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from telegram import Bot

from bot.library import ScriptLibrary
from bot.service import ConversationService
from channels.background import BackgroundWork
from channels.base import Channel
from channels.twilio.channel import TwilioMessaging
from channels.webchat.channel import WebChatChannel
from config import Settings
from crypto import KeyRing
from handoff.admin_settings import LiveSettings
from handoff.events import EventHub
from handoff.service import HandoffService
from storage.audit import AuditLog
from storage.bus import Bus
from storage.canned import CannedResponseStore
from storage.conversations import ConversationStore
from storage.engine import SessionFactory
from storage.handoffs import HandoffStore
from storage.leader import Leadership
from storage.outbox import DeletionQueue, OutboxStore
from storage.presence import PresenceStore
from storage.reports import ReportStore
from storage.resources import ResourceStore
from storage.retention import RetentionStore
from storage.rota import RotaStore
from storage.scripts import ScriptStore
from storage.statistics import StatisticsStore
from storage.users import UserStore


@dataclass(frozen=True, slots=True)
class Services:
    """What request handlers need, built once the database is ready."""

    sessions: SessionFactory
    conversations: ConversationStore
    outbox: OutboxStore
    deletions: DeletionQueue
    reports: ReportStore
    resources: ResourceStore
    users: UserStore
    audit: AuditLog
    handoffs: HandoffStore
    presence: PresenceStore
    canned: CannedResponseStore
    rota: RotaStore
    retention: RetentionStore
    scripts: ScriptStore
    statistics: StatisticsStore
    conversation_service: ConversationService
    handoff_service: HandoffService


SETTINGS = web.AppKey("settings", Settings)
KEYRING = web.AppKey("keyring", KeyRing)
SCRIPTS = web.AppKey("scripts", ScriptLibrary)
LIVE_SETTINGS = web.AppKey("live_settings", LiveSettings)
WEBCHAT = web.AppKey("webchat", WebChatChannel)
CHANNELS = web.AppKey("channels", dict[str, Channel])
BACKGROUND = web.AppKey("background", BackgroundWork)
TWILIO = web.AppKey("twilio", TwilioMessaging)
TELEGRAM_BOT = web.AppKey("telegram_bot", Bot)
SERVICES = web.AppKey("services", Services)
EVENTS = web.AppKey("events", EventHub)
LEADERSHIP = web.AppKey("leadership", Leadership)
BUS = web.AppKey("bus", Bus)
