import hashlib
import hmac

import pytest

from crypto import KeyRing, Pseudonymizer

KEY = bytes(range(32))


def _documented_pseudonym(key: bytes, channel: bytes, address: bytes) -> str:
    # The encoding as the module docstring states it, rebuilt here from hmac and hashlib.
    message = len(channel).to_bytes(4, "big") + channel + len(address).to_bytes(4, "big") + address
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("channel", "address"),
    [("sms", "+15550100"), ("whatsapp", "whatsapp:+15550100"), ("telegram", "123456789")],
)
def test_pseudonyms_are_the_documented_hmac(channel: str, address: str) -> None:
    expected = _documented_pseudonym(KEY, channel.encode(), address.encode())
    assert Pseudonymizer(KEY).pseudonym(channel, address) == expected


def test_surrounding_whitespace_is_ignored_and_nothing_else() -> None:
    pseudonyms = Pseudonymizer(KEY)
    plain = pseudonyms.pseudonym("sms", "+15550100")
    assert pseudonyms.pseudonym("sms", " +15550100\n") == plain
    assert pseudonyms.pseudonym("sms", "+1 5550100") != plain
    assert pseudonyms.pseudonym("sms", "15550100") != plain


def test_pseudonyms_are_stable_per_channel_and_keyed() -> None:
    keyring = KeyRing.generate()
    pseudonyms = Pseudonymizer.from_keyring(keyring)
    assert pseudonyms.pseudonym("sms", "+15550100") == pseudonyms.pseudonym("sms", "+15550100")
    assert pseudonyms.pseudonym("sms", "+15550100") != pseudonyms.pseudonym("whatsapp", "+15550100")
    other = Pseudonymizer.from_keyring(KeyRing.generate())
    assert other.pseudonym("sms", "+15550100") != pseudonyms.pseudonym("sms", "+15550100")
    assert "15550100" not in pseudonyms.pseudonym("sms", "+15550100")


def test_channel_and_address_cannot_blur_together() -> None:
    pseudonyms = Pseudonymizer(KEY)
    assert pseudonyms.pseudonym("sm", "s+1555") != pseudonyms.pseudonym("sms", "+1555")


def test_from_keyring_uses_the_derived_pseudonym_key() -> None:
    keyring = KeyRing.generate()
    from_ring = Pseudonymizer.from_keyring(keyring).pseudonym("sms", "+15550100")
    assert from_ring == Pseudonymizer(keyring.derive("pseudonym/v1")).pseudonym("sms", "+15550100")
    assert from_ring != Pseudonymizer(keyring.current.secret).pseudonym("sms", "+15550100")


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Pseudonymizer(b"short")


def test_the_key_does_not_print() -> None:
    assert KEY.hex() not in repr(Pseudonymizer(KEY))
    assert repr(KEY) not in repr(Pseudonymizer(KEY))
