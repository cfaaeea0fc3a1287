"""Report receipt codes: 16 digits a person can keep as if it were a phone number.

The code is the only way back to an anonymous report, so it is stored only as a slow hash:
argon2id with a salt derived from the master key. The salt is the same for every code,
which is what lets a typed code be found with one hash and an index lookup; it is keyed,
so a stolen database alone does not even allow guessing, and argon2id makes each guess
expensive for someone who also has the key.
"""

from __future__ import annotations

import secrets

from argon2.low_level import Type, hash_secret_raw

from crypto.keyring import KeyRing

CODE_DIGITS = 16


class ReceiptHasher:
    """Makes receipt codes and their lookup digests.

    The production cost is deliberately high; tests pass cheaper parameters through a
    fixture named ``insecure_receipt_hasher``.
    """

    def __init__(
        self, keyring: KeyRing, *, time_cost: int = 3, memory_cost: int = 64 * 1024
    ) -> None:
        self._salt = keyring.derive("receipt-salt/v1", length=16)
        self._time_cost = time_cost
        self._memory_cost = memory_cost

    @staticmethod
    def new_code() -> str:
        """Sixteen random digits, never starting with 0 (so it reads as a number)."""
        return str(secrets.randbelow(9) + 1) + "".join(
            str(secrets.randbelow(10)) for _ in range(CODE_DIGITS - 1)
        )

    @staticmethod
    def normalise(typed: str) -> str | None:
        """The digits of a typed code ("5550 1234-5678 9012"), or None if it cannot be one."""
        digits = "".join(c for c in typed if c.isascii() and c.isdigit())
        if len(digits) != CODE_DIGITS or len(typed) > 4 * CODE_DIGITS:
            return None
        return digits

    @staticmethod
    def display(code: str) -> str:
        """Grouped for reading aloud or saving as a contact: 5550 1234 5678 9012."""
        return " ".join(code[i : i + 4] for i in range(0, len(code), 4))

    def digest(self, code: str) -> str:
        """The slow, keyed hash stored in place of the code."""
        raw = hash_secret_raw(
            secret=code.encode("ascii"),
            salt=self._salt,
            time_cost=self._time_cost,
            memory_cost=self._memory_cost,
            parallelism=1,
            hash_len=32,
            type=Type.ID,
        )
        return raw.hex()
