"""Two-factor codes: secrets, the enrolment QR code, and which codes are accepted."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
import qrcode

from handoff import totp

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NOW = datetime(2026, 11, 25, 2, 0, 10, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def test_new_secrets_are_random_and_160_bits() -> None:
    secrets = {totp.new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert len(base64.b32decode(secret)) == 20


def test_the_enrolment_uri_names_a_neutral_issuer_and_the_account() -> None:
    uri = totp.provisioning_uri(SECRET, "ana")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc, parts.path) == ("otpauth", "totp", "/Porchlight:ana")
    assert parse_qs(parts.query) == {"secret": [SECRET], "issuer": ["Porchlight"]}


def test_the_qr_code_is_inline_svg_that_encodes_the_uri() -> None:
    uri = totp.provisioning_uri(SECRET, "ana")
    svg = totp.qr_svg(uri)
    root = ET.fromstring(svg.encode())  # noqa: S314 -- our own output, not untrusted input
    assert root.tag == f"{SVG}svg"
    assert not [e for e in root.iter() if e.tag in (f"{SVG}image", f"{SVG}script")]
    [path] = root.iter(f"{SVG}path")
    drawn = {(int(x), int(y)) for x, y in re.findall(r"M(\d+),(\d+)H", path.attrib["d"])}

    expected = qrcode.QRCode()
    expected.add_data(uri)
    matrix = expected.get_matrix()
    dark = {(x, y) for y, row in enumerate(matrix) for x, on in enumerate(row) if on}
    assert drawn == dark


def test_the_current_code_and_one_step_either_side_are_accepted() -> None:
    codes = pyotp.TOTP(SECRET)
    step = codes.timecode(NOW)
    assert totp.matching_step(SECRET, codes.at(NOW), NOW) == step
    assert totp.matching_step(SECRET, codes.at(NOW - timedelta(seconds=30)), NOW) == step - 1
    assert totp.matching_step(SECRET, codes.at(NOW + timedelta(seconds=30)), NOW) == step + 1
    assert totp.matching_step(SECRET, codes.at(NOW - timedelta(seconds=60)), NOW) is None


def test_spaces_typed_in_a_code_do_not_matter() -> None:
    code = pyotp.TOTP(SECRET).at(NOW)
    assert totp.matching_step(SECRET, f" {code[:3]} {code[3:]} ", NOW) is not None


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12345x"])
def test_anything_but_six_digits_is_refused(code: str) -> None:
    assert totp.matching_step(SECRET, code, NOW) is None


def test_another_secrets_code_is_refused() -> None:
    other = pyotp.TOTP("KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU")
    assert totp.matching_step(SECRET, other.at(NOW), NOW) is None
