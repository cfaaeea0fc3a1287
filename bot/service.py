"""The conversation service: stores each turn and runs the engine, for every channel.

Channels hand it parsed messages; it finds the person's conversation by pseudonym (never by
address), runs one engine step, stores the turn encrypted, and returns what to send. Quick
exit and opt-out wipe the conversation before anything else happens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.engine import Effect, FlowState, Inbound, InboundKind, Reply, step
from bot.script import Script
from channels.base import InboundMessage
from crypto import Pseudonymizer
from storage.conversations import ACTIVE, ENDED, ConversationStore, NewMessage

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TurnOutcome:
    """What the channel should do after one inbound message."""

    conversation_id: str | None
    replies: tuple[Reply, ...] = ()
    ended: bool = False
    wiped: bool = False
    handoff_requested: bool = False


class ConversationService:
    """Runs conversations; see the module docstring."""

    def __init__(
        self, store: ConversationStore, pseudonymizer: Pseudonymizer, script: Script
    ) -> None:
        self._store = store
        self._pseudonymizer = pseudonymizer
        self._script = script

    async def handle(self, message: InboundMessage) -> TurnOutcome:
        """Process one inbound message and return the replies to send."""
        pseudonym = self._pseudonymizer.pseudonym(message.channel, message.address)
        conversation = await self._store.find_active(message.channel, pseudonym)

        if message.is_quick_exit:
            return await self._wipe(conversation.id if conversation else None, message.channel)

        assert message.kind is not None  # noqa: S101 -- only quick exit has no kind
        state = FlowState.from_dict(conversation.flow_state) if conversation else FlowState()
        result = step(self._script, state, Inbound(message.kind, message.text))

        if Effect.WIPE in result.effects:
            return await self._wipe(conversation.id if conversation else None, message.channel)

        if conversation is None:
            conversation = await self._store.start_conversation(
                channel=message.channel,
                pseudonym=pseudonym,
                reply_address=message.address,
                script=self._script.name,
                flow_state=result.state.to_dict(),
            )
            logger.info("conversation %s started on %s", conversation.alias, message.channel)

        turn: list[NewMessage] = []
        if message.kind is not InboundKind.START:
            turn.append(NewMessage(direction="in", sender="person", text=message.text))
        turn.extend(NewMessage(direction="out", sender="bot", text=r.text) for r in result.replies)
        ended = Effect.END in result.effects
        await self._store.record_turn(
            conversation.id,
            flow_state=result.state.to_dict(),
            status=ENDED if ended else ACTIVE,
            messages=turn,
        )
        if Effect.EMERGENCY in result.effects:
            logger.warning("conversation %s used an emergency keyword", conversation.alias)
        return TurnOutcome(
            conversation_id=conversation.id,
            replies=result.replies,
            ended=ended,
            handoff_requested=Effect.HANDOFF in result.effects,
        )

    async def abandon(self, channel: str, address: str) -> None:
        """The person went away without ending; the conversation waits for retention."""
        pseudonym = self._pseudonymizer.pseudonym(channel, address)
        conversation = await self._store.find_active(channel, pseudonym)
        if conversation is not None:
            await self._store.mark_abandoned(conversation.id)

    async def _wipe(self, conversation_id: str | None, channel: str) -> TurnOutcome:
        if conversation_id is not None:
            await self._store.wipe(conversation_id)
        # No alias here: the conversation is gone and nothing should tie this line to it.
        logger.info("a conversation on %s was wiped at the person's request", channel)
        return TurnOutcome(conversation_id=None, wiped=True)
