"""Reading PST and OST files. `core.pst.reader` is the only module that touches pypff.

with open_pst(path) as pst:
    for folder in pst.folders():
        for item in pst.items(folder):
            ...
"""

from core.pst.reader import PstFile, open_pst

__all__ = ["PstFile", "open_pst"]
