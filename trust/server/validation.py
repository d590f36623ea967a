"""Input checks of the directory (DIR-001..DIR-004)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from trust.server.errors import ApiError

# Companies House: 8 digits, or a 2-letter prefix and 6 digits (SC, NI, OC, SO, NC, ...).
COMPANY_NUMBER = re.compile(r"^(\d{8}|[A-Z]{2}\d{6}|[A-Z]{2}\d{5}[A-Z])$")
EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def company_number(value: str) -> str:
    normalised = value.strip().upper().replace(" ", "")
    if not COMPANY_NUMBER.fullmatch(normalised):
        raise ApiError(422, "DIR-001", "The UK company number is not valid (8 digits, or 2 letters "
                       "and 6 digits).", {"field": "registration_number", "value": value})
    return normalised


def email(value: str, field: str = "email") -> str:
    normalised = value.strip()
    if len(normalised) > 254 or not EMAIL.fullmatch(normalised):
        raise ApiError(422, "DIR-002", "The e-mail address is not valid.",
                       {"field": field, "value": value})
    return normalised.lower()


def phone(value: str, field: str = "mobile") -> str:
    normalised = re.sub(r"[\s()-]", "", value)
    if not E164.fullmatch(normalised):
        raise ApiError(422, "DIR-003", "The phone number must be in E.164 format, e.g. "
                       "+447700900123.", {"field": field, "value": value})
    return normalised


def country_code(e164: str) -> str:
    """The dialling code of an E.164 number (the common ones; else the first digit)."""
    for length in (3, 2, 1):
        code = e164[1:1 + length]
        if code in {"44", "1", "353", "33", "49", "31", "32", "34", "39", "45", "46", "47"}:
            return "+" + code
    return "+" + e164[1]


def https_url(value: str, field: str) -> str:
    """DSI-DIR-040: a URL the directory publishes for a member (logo, privacy policy) is an
    absolute https URL with a host, no spaces, at most 2000 characters."""
    normalised = value.strip()
    try:
        parts = urlsplit(normalised)
        ok = (parts.scheme == "https" and bool(parts.hostname) and len(normalised) <= 2000
              and not re.search(r"[\s<>\"{}|\\^`]", normalised) and not parts.username)
    except ValueError:
        ok = False
    if not ok:
        raise ApiError(422, "DSI-DIR-040", "The URL must be an absolute https URL.",
                       {"field": field, "value": value})
    return normalised
