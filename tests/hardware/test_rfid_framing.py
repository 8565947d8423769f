"""RFID framing, debouncing and backoff: bytes in, tags out, no port and no database."""

from __future__ import annotations

import itertools
from functools import reduce

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pgcsms.hardware.framing import LineDecoder, Rdm6300Decoder, decoder_for, normalise_tag
from pgcsms.hardware.rfid import Backoff, Debouncer


def rdm6300_frame(data: str, checksum: int | None = None) -> bytes:
    """STX, 10 hex characters (version and tag), their XOR checksum, ETX."""
    if checksum is None:
        checksum = reduce(lambda a, b: a ^ b, bytes.fromhex(data))
    return b"\x02" + data.encode() + b"%02X" % checksum + b"\x03"


def feed_bytewise(decoder: LineDecoder | Rdm6300Decoder, data: bytes) -> list[str]:
    return [tag for i in range(len(data)) for tag in decoder.feed(data[i:i + 1])]


# -- tag ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "tag"), [
    ("04A2B3C4", "04A2B3C4"),
    ("04a2b3c4", "04A2B3C4"),
    ("  04a2b3c4\t", "04A2B3C4"),
    ("04:A2:B3:C4", "04A2B3C4"),
    ("04 a2 b3 c4", "04A2B3C4"),
    ("04-A2-B3-C4", "04A2B3C4"),
    ("0x04A2B3C4", "04A2B3C4"),
    ("0004718171", "0004718171"),  # decimal card numbers keep their digits
    ("04A2B3C4D5E6F70819AB", "04A2B3C4D5E6F70819AB"),  # 20: the longest IdToken
])
def test_normalise_tag(text, tag):
    assert normalise_tag(text) == tag


@pytest.mark.parametrize("text", [
    "", "   ", "0x", "hello", "UID: 04A2B3C4", "04A2B3C4D5E6F70819ABC", "04A2\x07B3C4", "04A2B3C4\u00e9",
])
def test_what_is_not_a_tag(text):
    assert normalise_tag(text) is None


# -- protocol line ---------------------------------------------------------------------


@pytest.mark.parametrize("ending", [b"\r\n", b"\n", b"\r"])
def test_line_endings(ending):
    decoder = LineDecoder()
    assert decoder.feed(b"04a2b3c4" + ending + b"0004718171" + ending) == ["04A2B3C4", "0004718171"]
    assert decoder.rejected == 0


def test_line_split_anywhere():
    decoder = LineDecoder()
    assert feed_bytewise(decoder, b"04A2B3C4\r\n11223344\r\n") == ["04A2B3C4", "11223344"]
    assert decoder.feed(b"AABB") == []
    assert decoder.feed(b"CCDD\r") == ["AABBCCDD"]  # a line ends at \r...
    assert decoder.feed(b"\n") == []  # ...and the \n after it is no line
    assert decoder.rejected == 0


def test_line_without_ending_waits():
    decoder = LineDecoder()
    assert decoder.feed(b"04A2B3C4") == []
    assert decoder.feed(b"\n") == ["04A2B3C4"]


def test_line_noise_is_dropped_and_counted():
    decoder = LineDecoder()
    tags = decoder.feed(b"\xff\xfe\x00garbage\r\n\r\n\n   \nhello\n04A2B3C4\n\x1b[0m\n")
    assert tags == ["04A2B3C4"]
    assert decoder.rejected == 3  # the binary line, "hello", the escape sequence; blank lines are no lines


def test_line_wrapped_in_stx_etx():
    assert LineDecoder().feed(b"\x0204A2B3C4\r\n\x03") == ["04A2B3C4"]


def test_line_too_long_for_an_id_tag():
    decoder = LineDecoder()
    assert decoder.feed(b"04A2B3C4D5E6F70819ABC\n") == []
    assert decoder.rejected == 1


def test_a_line_that_never_ends_is_dropped_once():
    decoder = LineDecoder(max_line=16)
    assert decoder.feed(b"A" * 10) == []
    assert decoder.feed(b"B" * 10) == []  # past 16 bytes: dropped
    assert decoder.feed(b"C" * 1000) == []  # still the same line: not kept
    assert decoder.rejected == 1
    assert decoder.feed(b"\n04A2B3C4\n") == ["04A2B3C4"]
    assert decoder.rejected == 1


def test_line_reset_forgets_a_partial_line():
    decoder = LineDecoder()
    decoder.feed(b"04A2")
    decoder.reset()
    assert decoder.feed(b"B3C4\n") == ["B3C4"]


# -- protocol rdm6300 ------------------------------------------------------------------

# The example of the RDM6300 datasheet: version 62, tag E3086CED, checksum 08.
DATASHEET_FRAME = b"\x0262E3086CED08\x03"


def test_rdm6300_datasheet_frame():
    assert rdm6300_frame("62E3086CED") == DATASHEET_FRAME
    decoder = Rdm6300Decoder()
    assert decoder.feed(DATASHEET_FRAME) == ["E3086CED"]
    assert decoder.rejected == 0


def test_rdm6300_split_anywhere():
    stream = rdm6300_frame("0100AABBCC") + rdm6300_frame("1A0047FE5B")
    decoder = Rdm6300Decoder()
    assert feed_bytewise(decoder, stream) == ["00AABBCC", "0047FE5B"]
    assert decoder.rejected == 0


def test_rdm6300_lower_case_hex():
    assert Rdm6300Decoder().feed(rdm6300_frame("62e3086ced")) == ["E3086CED"]


def test_rdm6300_bad_checksum_is_dropped_and_counted():
    decoder = Rdm6300Decoder()
    bad = rdm6300_frame("62E3086CED", checksum=0x09)
    assert decoder.feed(bad + DATASHEET_FRAME + bad) == ["E3086CED"]
    assert (decoder.bad_checksums, decoder.malformed, decoder.rejected) == (2, 0, 2)


def test_rdm6300_noise_around_frames():
    decoder = Rdm6300Decoder()
    stream = b"\xff\x00noise\r\n" + DATASHEET_FRAME + b"\x03\x03junk" + DATASHEET_FRAME + b"\xaa"
    assert decoder.feed(stream) == ["E3086CED", "E3086CED"]
    assert decoder.rejected == 0  # bytes outside frames are not frames


def test_rdm6300_truncated_frame_then_a_good_one():
    decoder = Rdm6300Decoder()
    assert decoder.feed(DATASHEET_FRAME[:7] + DATASHEET_FRAME) == ["E3086CED"]
    assert decoder.malformed == 1


def test_rdm6300_frame_with_a_stray_byte_inside():
    decoder = Rdm6300Decoder()
    assert decoder.feed(b"\x0262E3086CZD08\x03" + DATASHEET_FRAME) == ["E3086CED"]
    assert decoder.malformed == 1


def test_rdm6300_frame_without_etx():
    decoder = Rdm6300Decoder()
    assert decoder.feed(b"\x0262E3086CED08\x04" + DATASHEET_FRAME) == ["E3086CED"]
    assert decoder.malformed == 1


def test_rdm6300_noise_alone_is_not_kept():
    decoder = Rdm6300Decoder()
    assert decoder.feed(b"x" * 100_000) == []
    assert len(decoder._buffer) == 0


def test_rdm6300_reset_forgets_a_partial_frame():
    decoder = Rdm6300Decoder()
    decoder.feed(DATASHEET_FRAME[:5])
    decoder.reset()
    assert decoder.feed(DATASHEET_FRAME[5:] + DATASHEET_FRAME) == ["E3086CED"]


def test_decoder_for():
    assert isinstance(decoder_for("line"), LineDecoder)
    assert isinstance(decoder_for("rdm6300"), Rdm6300Decoder)
    with pytest.raises(ValueError, match="unknown reader protocol"):
        decoder_for("wiegand")


# -- any split of a stream gives the same tags -------------------------------------------

hex_data = st.binary(min_size=5, max_size=5).map(lambda b: b.hex().upper())
splits = st.lists(st.integers(min_value=0, max_value=400), max_size=30)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@given(st.lists(hex_data, min_size=1, max_size=8), splits)
def test_rdm6300_any_split(datas, cuts):
    stream = b"".join(rdm6300_frame(d) for d in datas)
    decoder = Rdm6300Decoder()
    assert [t for chunk in split_at(stream, cuts) for t in decoder.feed(chunk)] == [d[2:] for d in datas]
    assert decoder.rejected == 0


@given(st.lists(st.tuples(hex_data, st.sampled_from([b"\r\n", b"\n", b"\r"])), min_size=1, max_size=8), splits)
def test_line_any_split(lines, cuts):
    stream = b"".join(d.lower().encode() + end for d, end in lines)
    decoder = LineDecoder()
    assert [t for chunk in split_at(stream, cuts) for t in decoder.feed(chunk)] == [d for d, _ in lines]
    assert decoder.rejected == 0


# -- debouncing ----------------------------------------------------------------------------


def test_repeats_while_held_are_one_scan():
    debounce = Debouncer(2.0)
    # A reader repeating the card every 100 ms for 10 s: one scan.
    assert [debounce.accept("A", t / 10) for t in range(100)].count(True) == 1


def test_the_same_card_again_after_the_window():
    debounce = Debouncer(2.0)
    assert debounce.accept("A", 0.0) is True
    assert debounce.accept("A", 1.9) is False
    assert debounce.accept("A", 3.8) is False  # read 1.9 s after the last read: still held
    assert debounce.accept("A", 5.8) is True  # gone for 2 s: presented again


def test_cards_are_debounced_each_on_its_own():
    debounce = Debouncer(2.0)
    assert [debounce.accept(tag, t) for tag, t in [("A", 0), ("B", 0.5), ("A", 1), ("B", 1.5), ("C", 1.6)]] == [
        True, True, False, False, True]


def test_no_debounce():
    debounce = Debouncer(0)
    assert [debounce.accept("A", 0.0) for _ in range(3)] == [True, True, True]


def test_debouncer_forgets_cards_gone():
    debounce = Debouncer(1.0)
    for i in range(1000):
        debounce.accept(f"{i:08X}", float(i))
    assert len(debounce._last_read) <= 2


def test_backoff_doubles_up_to_its_maximum_and_resets():
    backoff = Backoff(0.5, 3.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.next() == 0.5
