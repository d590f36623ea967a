"""The small DER encoding of the IB1 certificate extensions (roles, member URL)."""

from __future__ import annotations


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def utf8_string(value: str) -> bytes:
    raw = value.encode()
    return b"\x0c" + _length(len(raw)) + raw


def sequence_of_utf8(values: list[str]) -> bytes:
    body = b"".join(utf8_string(v) for v in values)
    return b"\x30" + _length(len(body)) + body


def _read(data: bytes, pos: int) -> tuple[int, bytes, int]:
    tag = data[pos]
    n = data[pos + 1]
    pos += 2
    if n & 0x80:
        size = n & 0x7F
        n = int.from_bytes(data[pos:pos + size], "big")
        pos += size
    return tag, data[pos:pos + n], pos + n


def decode_utf8(data: bytes) -> str:
    tag, body, _ = _read(data, 0)
    if tag != 0x0C:
        raise ValueError("not a UTF8String")
    return body.decode()


def decode_sequence_of_utf8(data: bytes) -> list[str]:
    tag, body, _ = _read(data, 0)
    if tag != 0x30:
        raise ValueError("not a SEQUENCE")
    out, pos = [], 0
    while pos < len(body):
        tag, value, pos = _read(body, pos)
        if tag != 0x0C:
            raise ValueError("not a UTF8String")
        out.append(value.decode())
    return out
