"""Type stub of the compiled probe loop (``_mihprobe.c``); arrays arrive through the buffer protocol."""

from typing_extensions import Buffer

POS_BITS: int

def probe(
    queries: Buffer,
    t: int,
    cols: Buffer,
    alive: Buffer | None,
    tables: tuple[Buffer, ...],
    offsets: tuple[Buffer, ...],
    masks: tuple[Buffer, ...],
    plan: tuple[tuple[int, int, int, int], ...],
) -> tuple[bytes, bytes, bytes]: ...
def scan(queries: Buffer, t: int, cols: Buffer, alive: Buffer | None) -> tuple[bytes, bytes, bytes]: ...
