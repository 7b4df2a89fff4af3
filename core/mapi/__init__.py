"""MAPI vocabulary: property types, property tags, named properties and well-known values.

Every Microsoft or MAPI constant the project uses is defined once, here, under its
specification name (MS-OXPROPS, MS-OXCDATA, MS-OXOMSG, ...). Other modules import
these names; they never spell the numbers themselves.
"""

from core.mapi.blobs import *  # noqa: F403
from core.mapi.props import *  # noqa: F403
from core.mapi.types import *  # noqa: F403
