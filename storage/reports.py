"""Anonymous incident reports: sealed under their own data key, found only by receipt code.

Unknown codes and codes whose report is gone get the same answer, and a code is hashed
once per attempt whether or not a report exists, so neither answers nor timing tell a
guesser anything.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from crypto import (
    FieldCipher,
    KeyRing,
    ReceiptHasher,
    new_data_key,
    unwrap_data_key,
    wrap_data_key,
    wrapped_key_id,
)
from crypto.cipher import field_aad
from storage.engine import SessionFactory
from storage.models import Report, new_id, utcnow

MAX_ADDITIONS = 20


@dataclass(frozen=True, slots=True)
class ReportView:
    """A decrypted report, for advocates (never shown to the person who wrote it)."""

    id: str
    channel: str
    fields: Mapping[str, str]
    additions: tuple[str, ...]
    created_at: datetime


class ReportStore:
    """Submits reports, adds to them by receipt code, and reads them for advocates."""

    def __init__(
        self,
        sessions: SessionFactory,
        keyring: KeyRing,
        receipts: ReceiptHasher,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._keyring = keyring
        self._receipts = receipts
        self._clock = clock

    async def submit(self, channel: str, fields: Mapping[str, str]) -> str:
        """Store a report and return its receipt code (shown to the person once)."""
        for _ in range(3):  # a digest collision among 10^16 codes is astronomically rare
            code = self._receipts.new_code()
            report_id = new_id()
            data_key = new_data_key()
            wrapped = wrap_data_key(self._keyring, data_key, _key_aad(report_id))
            now = self._clock()
            body = {"fields": dict(fields), "additions": []}
            row = Report(
                id=report_id,
                receipt_digest=self._receipts.digest(code),
                master_key_id=wrapped_key_id(wrapped),
                wrapped_key=wrapped,
                body=_seal(FieldCipher(data_key), report_id, body),
                channel=channel,
                additions=0,
                created_at=now,
                updated_at=now,
            )
            try:
                async with self._sessions.begin() as session:
                    session.add(row)
            except IntegrityError:
                continue
            return code
        raise RuntimeError("could not allocate a unique receipt code")

    async def add_to(self, typed_code: str, text: str) -> bool:
        """Append text to the report with this code; False for any code that finds nothing."""
        code = self._receipts.normalise(typed_code)
        digest = self._receipts.digest(code or "0" * 16)  # same cost for malformed codes
        if code is None:
            return False
        async with self._sessions.begin() as session:
            row = await session.scalar(
                select(Report).where(Report.receipt_digest == digest).with_for_update()
            )
            if row is None or row.wrapped_key is None or row.additions >= MAX_ADDITIONS:
                return False
            cipher = FieldCipher(unwrap_data_key(self._keyring, row.wrapped_key, _key_aad(row.id)))
            body = _open(cipher, row.id, row.body)
            body["additions"].append({"at": self._clock().isoformat(), "text": text})
            row.body = _seal(cipher, row.id, body)
            row.additions += 1
            row.updated_at = self._clock()
        return True

    async def get(self, report_id: str) -> ReportView | None:
        """A report, decrypted; None if it does not exist or its key is destroyed."""
        async with self._sessions() as session:
            row = await session.get(Report, report_id)
        if row is None or row.wrapped_key is None:
            return None
        cipher = FieldCipher(unwrap_data_key(self._keyring, row.wrapped_key, _key_aad(row.id)))
        body = _open(cipher, row.id, row.body)
        return ReportView(
            id=row.id,
            channel=row.channel,
            fields=body["fields"],
            additions=tuple(a["text"] for a in body["additions"]),
            created_at=row.created_at,
        )

    async def ids(self) -> list[str]:
        """Every report id, newest first."""
        async with self._sessions() as session:
            return list(await session.scalars(select(Report.id).order_by(Report.created_at.desc())))

    async def count(self) -> int:
        """How many reports exist."""
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(Report)) or 0)


def _key_aad(report_id: str) -> bytes:
    return field_aad("reports", "wrapped_key", report_id)


def _seal(cipher: FieldCipher, report_id: str, body: dict[str, Any]) -> Any:
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return cipher.seal_text(text, field_aad("reports", "body", report_id))


def _open(cipher: FieldCipher, report_id: str, sealed: bytes) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(
        cipher.open_text(sealed, field_aad("reports", "body", report_id))
    )
    return body
