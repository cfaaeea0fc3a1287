"""Two-factor codes (TOTP, RFC 6238) for dashboard sign-in, and the QR code to enrol."""

from __future__ import annotations

import io
from datetime import datetime

import pyotp
import qrcode
import qrcode.image.svg

ISSUER = "Porchlight"
CODE_LENGTH = 6


def new_secret() -> str:
    """A fresh random secret (160 bits, base32), as authenticator apps expect."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The URI as an SVG QR code: inline markup, so no image request and no data: URL."""
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=10)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue().decode("utf-8")


def matching_step(secret: str, code: str, at: datetime) -> int | None:
    """The time step a code belongs to (now, or one step either side for clock drift).

    Returns None for a wrong code. The caller must also refuse a step already used, so a
    code read over someone's shoulder cannot be replayed.
    """
    code = code.strip().replace(" ", "")
    if len(code) != CODE_LENGTH or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    step = totp.timecode(at)
    for candidate in (step, step - 1, step + 1):
        if pyotp.utils.strings_equal(totp.generate_otp(candidate), code):
            return candidate
    return None
