# the compiled build's C kernels (_mask.c); the pure build runs their Python twins:
# _frames._plain and _frames._unmask
from typing import Any

def plain(
    view: bytes, pos: int, events: list[tuple[int, Any]], max_size: int, masked: bool, /
) -> int: ...
def unmask(view: bytes, start: int, stop: int, /) -> bytes: ...
