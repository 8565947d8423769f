"""What RFID readers send on a serial line, turned into tag ids: bytes in, tags out, no I/O.

Two protocols:

``line``
    ASCII lines, one card number each, ended by ``\\r\\n``, ``\\n`` or ``\\r``: what
    most serial and USB-serial readers print. Hex (``04A2B3C4``, ``04:a2:b3:c4``,
    ``0x04A2B3C4``) or decimal (``0004718171``); a decimal number is kept as its
    digits (it is what is printed on such cards), not converted.

``rdm6300``
    The frame of the common 125 kHz module: STX (0x02), 10 ASCII hex characters
    (2 of version, 8 of tag), 2 ASCII hex characters of checksum (the XOR of the 5
    data bytes), ETX (0x03). The tag id is the 8 tag characters; frames with a
    bad checksum, or that are not frames, are dropped and counted.

Tag ids are upper-case hex, 1 to 20 characters (an OCPP 1.6 IdToken); anything
else is dropped and counted as rejected. Feed bytes as they arrive, split
anywhere: a decoder keeps what it has not framed yet.
"""

from __future__ import annotations

import re
from functools import reduce
from typing import Literal, Protocol

__all__ = [
    "MAX_TAG_LENGTH",
    "PROTOCOLS",
    "Decoder",
    "LineDecoder",
    "Rdm6300Decoder",
    "decoder_for",
    "normalise_tag",
]

# OCPP 1.6 IdToken: CiString20Type.
MAX_TAG_LENGTH = 20

ProtocolName = Literal["line", "rdm6300"]
PROTOCOLS: tuple[ProtocolName, ...] = ("line", "rdm6300")

_HEX = re.compile(f"[0-9A-F]{{1,{MAX_TAG_LENGTH}}}")
# Readers group the bytes of a UID with these; none of them is part of the id.
_SEPARATORS = str.maketrans("", "", " \t:-.")


def normalise_tag(text: str) -> str | None:
    """The tag id in ``text`` as upper-case hex, or None when it is not one."""
    tag = text.strip().translate(_SEPARATORS).upper()
    tag = tag.removeprefix("0X")
    return tag if _HEX.fullmatch(tag) else None


class Decoder(Protocol):
    """Bytes from a reader in, tag ids out."""

    @property
    def rejected(self) -> int:
        """How many frames or lines were dropped as unreadable so far."""
        ...

    def feed(self, data: bytes) -> list[str]:
        """The tags completed by ``data``, in order."""
        ...

    def reset(self) -> None:
        """Forget a partial frame (the port was closed and opened again)."""
        ...


# Around a line, and no line by themselves: whitespace, NUL, and the STX/ETX
# some readers wrap each line in.
_BLANK = b" \t\x00\x02\x03"


class LineDecoder:
    """ASCII lines, one tag each (protocol ``line``)."""

    __slots__ = ("_buffer", "_overflowed", "max_line", "rejected")

    def __init__(self, *, max_line: int = 256) -> None:
        # A reader that never ends its line must not fill our memory.
        self.max_line = max_line
        self._buffer = bytearray()
        self._overflowed = False
        self.rejected = 0

    def feed(self, data: bytes) -> list[str]:
        tags: list[str] = []
        for chunk in re.split(rb"([\r\n])", bytes(data)):
            if chunk in (b"\r", b"\n"):
                line, self._buffer = bytes(self._buffer), bytearray()
                if self._overflowed:
                    self._overflowed = False
                elif line.strip(_BLANK):
                    tag = self._read_line(line)
                    if tag is None:
                        self.rejected += 1
                    else:
                        tags.append(tag)
            elif not self._overflowed:
                self._buffer += chunk
                if len(self._buffer) > self.max_line:
                    self._buffer.clear()
                    self._overflowed = True
                    self.rejected += 1
        return tags

    @staticmethod
    def _read_line(line: bytes) -> str | None:
        # Any byte that is not a hex digit or a separator makes the line unreadable.
        return normalise_tag(line.strip(_BLANK).decode("ascii", errors="replace"))

    def reset(self) -> None:
        self._buffer.clear()
        self._overflowed = False


STX = 0x02
ETX = 0x03
_FRAME_LENGTH = 14  # STX, 10 data, 2 checksum, ETX
_HEX_DIGITS = frozenset(b"0123456789ABCDEFabcdef")


class Rdm6300Decoder:
    """Frames of the RDM6300 125 kHz module (protocol ``rdm6300``)."""

    __slots__ = ("_buffer", "bad_checksums", "malformed")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.bad_checksums = 0
        self.malformed = 0

    @property
    def rejected(self) -> int:
        return self.bad_checksums + self.malformed

    def feed(self, data: bytes) -> list[str]:
        buffer = self._buffer
        buffer += data
        tags: list[str] = []
        while True:
            start = buffer.find(STX)
            if start < 0:
                buffer.clear()  # noise: nothing here can begin a frame
                break
            del buffer[:start]
            if len(buffer) < _FRAME_LENGTH:
                break
            frame = bytes(buffer[:_FRAME_LENGTH])
            if frame[-1] != ETX or not _HEX_DIGITS.issuperset(frame[1:-1]):
                # Not a frame (a truncated one, or noise with an STX in it):
                # look for the next STX after this one.
                self.malformed += 1
                del buffer[:1]
                continue
            del buffer[:_FRAME_LENGTH]
            payload = bytes.fromhex(frame[1:11].decode("ascii"))
            if reduce(lambda a, b: a ^ b, payload) != int(frame[11:13], 16):
                self.bad_checksums += 1
                continue
            tags.append(frame[3:11].decode("ascii").upper())
        return tags

    def reset(self) -> None:
        self._buffer.clear()


def decoder_for(protocol: str) -> Decoder:
    """A fresh decoder for ``line`` or ``rdm6300``."""
    if protocol == "line":
        return LineDecoder()
    if protocol == "rdm6300":
        return Rdm6300Decoder()
    raise ValueError(f"unknown reader protocol {protocol!r}: one of {', '.join(PROTOCOLS)}")
