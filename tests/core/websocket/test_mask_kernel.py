"""The compiled build's frame kernel (``_mask.c``) gives exactly what its Python twins
(``_frames._plain``, ``_frames._unmask``) give, on generated streams of frames: plain and
not, masked and not, of every length class, whole and cut short, UTF-8 and not."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workerman.core import _extensions
from workerman.core.websocket._frames import _plain, _unmask

try:
    from workerman.core.websocket import _mask
except ImportError:  # the pure build
    _mask = None  # type: ignore[assignment]

_LENGTHS = st.one_of(
    st.integers(0, 3), st.integers(4, 140), st.sampled_from([125, 126, 127, 65535, 65536, 70000])
)
_PAYLOADS = st.one_of(
    _LENGTHS.flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    st.text(max_size=60).map(str.encode),
)


@st.composite
def _frame(draw: st.DrawFn) -> bytes:
    b0 = draw(st.sampled_from([0x81, 0x82, 0x01, 0x80, 0x89, 0xC1, 0x91]))
    masked = draw(st.booleans())
    payload = draw(_PAYLOADS)
    n = len(payload)
    long = draw(st.sampled_from(["short", "16", "64"])) if n < 126 else "any"
    if n < 126 and long == "short":
        head = bytes((b0, n | (0x80 if masked else 0)))
    elif n < 65536 and long != "64":
        head = bytes((b0, 126 | (0x80 if masked else 0))) + n.to_bytes(2, "big")
    else:
        head = bytes((b0, 127 | (0x80 if masked else 0))) + n.to_bytes(8, "big")
    if not masked:
        return head + payload
    key = draw(st.binary(min_size=4, max_size=4))
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(_frame(), max_size=5).map(b"".join),
    st.integers(0, 8),
    st.booleans(),
    st.sampled_from([0, 3, 125, 1 << 20, 2**70, -1]),
    st.integers(0, 400),
)
def test_plain_decodes_as_its_twin(
    stream: bytes, cut: int, masked: bool, max_size: int, start: int
) -> None:
    view = stream[: len(stream) - cut] if cut < len(stream) else stream
    pos = min(start, len(view))
    twin: list[tuple[int, Any]] = []
    expected = _plain(view, pos, twin, max_size, masked)
    assert pos <= expected <= len(view)
    if _mask is not None:
        events: list[tuple[int, Any]] = []
        assert _mask.plain(view, pos, events, max_size, masked) == expected
        assert events == twin
        assert [type(p) for _, p in events] == [type(p) for _, p in twin]


@settings(max_examples=1500, deadline=None)
@given(st.binary(min_size=4, max_size=4), _PAYLOADS, st.binary(max_size=3))
def test_unmask_unmasks_as_its_twin(key: bytes, payload: bytes, tail: bytes) -> None:
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    view = b"\x82\x00" + key + masked + tail
    assert _unmask(view, 6, 6 + len(payload)) == payload
    if _mask is not None:
        assert _mask.unmask(view, 6, 6 + len(payload)) == payload


def test_the_kernel_refuses_what_is_not_a_view_of_frames() -> None:
    if _mask is None:
        pytest.skip("the pure build has no kernel")
    with pytest.raises(ValueError, match="within"):
        _mask.plain(b"\x81\x80", 3, [], 10, True)
    with pytest.raises(ValueError, match="masked payload"):
        _mask.unmask(b"\x82\x80ab", 3, 4)
    with pytest.raises(TypeError):
        _mask.plain(bytearray(b"\x81\x00"), 0, [], 10, False)  # type: ignore[arg-type]


def test_the_frame_kernel_loads_with_the_compiled_build_only() -> None:
    assert (_mask is not None) == (_extensions.choose() == "compiled")
