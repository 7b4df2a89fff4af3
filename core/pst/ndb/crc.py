"""The CRC-32 of [MS-PST] 5.3, used by the header, page trailers and block trailers.

It is the ordinary reflected CRC-32 (polynomial 0xEDB88320, zlib's), but the spec
starts from the given value (0 for a new computation) and applies no final inversion.
zlib pre- and post-inverts, so inverting around it yields the spec's raw CRC, at C speed.
"""

from __future__ import annotations

import zlib

__all__ = ["crc32"]


def crc32(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """[MS-PST] ComputeCRC(dwCRC=crc, pv=data): raw CRC-32, no final xor.

    Pass a previous result as `crc` to continue over more data.
    """
    return zlib.crc32(data, crc ^ 0xFFFFFFFF) ^ 0xFFFFFFFF
