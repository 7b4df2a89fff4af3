"""Pure-Python, read-only NDB/LTP layer of [MS-PST], used where pypff cannot go.

See `core.pst.ndb.reader` for the API.
"""
