"""Pure-Python, read-only NDB/LTP layer of [MS-PST], used where pypff cannot go.

The API is documented in `core.pst.ndb.reader`; the constants (`format`), CRC (`crc`) and
block encodings (`crypt`) are shared with the PST writer.
"""

from .errors import NdbError
from .reader import Header, NdbFile, RawAttachment, RawMessage, RawProp

__all__ = ["NdbFile", "NdbError", "Header", "RawProp", "RawMessage", "RawAttachment"]
