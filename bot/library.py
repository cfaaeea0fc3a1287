"""Which script a conversation runs: the live version for new ones, their own for the rest.

A conversation records the version it started on (``default@3``) and finishes on it, so a
publish never changes the questions under someone mid-answer. Versions are read from the
script store and parsed once; the live version is re-read by :meth:`ScriptLibrary.refresh`
(at start, after a publish here, and periodically for publishes on other instances).
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from bot.script import Script, ScriptError, parse_script
from storage.scripts import ScriptStore, VersionNotFound

logger = logging.getLogger(__name__)

# Old versions still finishing conversations; a handful at most in practice.
CACHED_VERSIONS = 16


def version_ref(script: str, number: int) -> str:
    """What a conversation records: ``name@number``."""
    return f"{script}@{number}"


class ScriptLibrary:
    """The live script and the versions conversations started on; see the module docstring."""

    def __init__(self, shipped: Script, shipped_source: str, store: ScriptStore | None) -> None:
        self._name = shipped.name
        self._shipped_source = shipped_source
        self._store = store
        self._current = shipped
        self._current_ref = shipped.name  # until the store has numbered it
        self._cache: OrderedDict[str, Script] = OrderedDict()

    @classmethod
    def fixed(cls, script: Script) -> ScriptLibrary:
        """One script, no versions (tests and the simulator)."""
        return cls(script, "", None)

    @property
    def name(self) -> str:
        """The script's name, as versions are filed under."""
        return self._name

    @property
    def current(self) -> Script:
        """What a new conversation starts on."""
        return self._current

    @property
    def current_ref(self) -> str:
        """The live version's reference, recorded on each new conversation."""
        return self._current_ref

    async def start(self) -> None:
        """Number the shipped script as version 1 on first start, then load the live one."""
        if self._store is None:
            return
        await self._store.ensure_first_version(self._name, self._shipped_source)
        await self.refresh()

    async def refresh(self) -> None:
        """Load the live version if it changed (a publish here or on another instance)."""
        if self._store is None:
            return
        live = await self._store.live(self._name)
        if live is None:
            return
        ref = version_ref(self._name, live.number)
        if ref == self._current_ref:
            return
        try:
            script = parse_script(live.source, source=ref)
        except ScriptError as exc:
            # Published text that no longer parses (an upgrade changed the rules): keep
            # running the version we have rather than nothing.
            logger.error("script %s cannot be loaded, keeping %s: %s", ref, self._current_ref, exc)
            return
        self._remember(self._current_ref, self._current)
        self._current, self._current_ref = script, ref
        logger.info("script %s is live", ref)

    async def for_conversation(self, ref: str) -> Script:
        """The version a conversation started on; the live one if it cannot be found."""
        if ref in (self._current_ref, self._name) or self._store is None:
            return self._current
        cached = self._cache.get(ref)
        if cached is not None:
            self._cache.move_to_end(ref)
            return cached
        name, _, number = ref.rpartition("@")
        try:
            version = await self._store.version(name, int(number))
            script = parse_script(version.source, source=ref)
        except (ValueError, VersionNotFound, ScriptError):
            logger.error(
                "script %s cannot be loaded; the conversation goes on with %s",
                ref,
                self._current_ref,
            )
            return self._current
        self._remember(ref, script)
        return script

    def _remember(self, ref: str, script: Script) -> None:
        self._cache[ref] = script
        while len(self._cache) > CACHED_VERSIONS:
            self._cache.popitem(last=False)
