"""The notice period: when the holder's time to object ends.

Default: 10 working days (Monday to Friday; bank holidays are not known to the node)
after the request, at the same time of day. FMAR_SWITCH_NOTICE_SECONDS replaces it with
a plain number of seconds (tests, trials)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def notice_ends(requested: datetime, working_days: int, seconds: float | None) -> datetime:
    if seconds is not None:
        return requested + timedelta(seconds=seconds)
    end, left = requested, working_days
    while left > 0:
        end += timedelta(days=1)
        if end.weekday() < 5:
            left -= 1
    return end


def iso(moment: datetime) -> str:
    stamp = moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "")
    whole, _, fraction = stamp.partition(".")
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}Z" if fraction else f"{whole}Z"


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def now() -> datetime:
    return datetime.now(UTC)
