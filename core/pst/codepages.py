"""Code pages for ANSI PSTs: naming them, and detecting them from item properties.

An ANSI PST stores 8-bit strings in the Windows code page of the machine that wrote them.
Items record it as PidTagMessageCodepage, or imply it by PidTagMessageLocaleId (an LCID)
or PidTagInternetCodepage. We take the most common answer over a sample of items.
"""

from __future__ import annotations

import codecs
from collections import Counter
from collections.abc import Iterable, Mapping

from core.errors import UserError
from core.mapi import PidTagInternetCodepage, PidTagMessageCodepage, PidTagMessageLocaleId

DEFAULT_CODEPAGE = "cp1252"

# Windows ANSI code page by primary language of an LCID (low 10 bits), for the languages
# whose ANSI code page is not 1252.
ANSI_CODEPAGE_BY_LANGUAGE = {
    0x11: "cp932",  # Japanese
    0x12: "cp949",  # Korean
    0x1E: "cp874",  # Thai
    0x2A: "cp1258",  # Vietnamese
    0x19: "cp1251",
    0x22: "cp1251",
    0x23: "cp1251",
    0x02: "cp1251",
    0x2F: "cp1251",
    0x05: "cp1250",
    0x0E: "cp1250",
    0x15: "cp1250",
    0x18: "cp1250",
    0x1B: "cp1250",
    0x24: "cp1250",
    0x1C: "cp1250",
    0x08: "cp1253",  # Greek
    0x1F: "cp1254",
    0x2C: "cp1254",  # Turkish, Azeri (Latin)
    0x0D: "cp1255",  # Hebrew
    0x01: "cp1256",
    0x29: "cp1256",
    0x20: "cp1256",  # Arabic, Farsi, Urdu
    0x25: "cp1257",
    0x26: "cp1257",
    0x27: "cp1257",  # Baltic
}
# Chinese depends on the sub-language: Taiwan and Hong Kong use Big5 (cp950).
CHINESE_LANGUAGE = 0x04
TRADITIONAL_CHINESE_LCIDS = {0x0404, 0x0C04, 0x1404}
# Internet code pages that imply an ANSI one.
ANSI_BY_INTERNET_CODEPAGE = {
    50220: "cp932",
    50221: "cp932",
    50222: "cp932",
    51932: "cp932",
    932: "cp932",
    936: "cp936",
    54936: "cp936",
    52936: "cp936",
    950: "cp950",
    949: "cp949",
    51949: "cp949",
    20866: "cp1251",
    21866: "cp1251",
    28595: "cp1251",
    28597: "cp1253",
    28599: "cp1254",
    28598: "cp1255",
    28596: "cp1256",
    28592: "cp1250",
    874: "cp874",
}


def normalize_codepage(name: str) -> str:
    """A code page name as Python knows it ("932", "CP932", "shift_jis" -> "cp932").

    Raises:
        UserError: the name is not a code page Python can decode.
    """
    text = str(name).strip().lower()
    if text.isdigit():
        text = f"cp{text}"
    elif text.startswith("windows-"):
        text = "cp" + text.removeprefix("windows-")
    try:
        codec = codecs.lookup(text)
    except LookupError:
        raise UserError(f"unknown code page {name!r} (try e.g. cp1252, cp932, cp1251)") from None
    return text if text.startswith("cp") else codec.name


def _from_one(props: Mapping[int, object]) -> str | None:
    cp = props.get(PidTagMessageCodepage.id)
    if isinstance(cp, int) and cp > 0:
        try:
            return normalize_codepage(str(cp))
        except UserError:
            pass
    lcid = props.get(PidTagMessageLocaleId.id)
    if isinstance(lcid, int) and lcid > 0:
        language = lcid & 0x3FF
        if language == CHINESE_LANGUAGE:
            return "cp950" if lcid in TRADITIONAL_CHINESE_LCIDS else "cp936"
        if language in ANSI_CODEPAGE_BY_LANGUAGE:
            return ANSI_CODEPAGE_BY_LANGUAGE[language]
        return DEFAULT_CODEPAGE
    internet = props.get(PidTagInternetCodepage.id)
    if isinstance(internet, int):
        return ANSI_BY_INTERNET_CODEPAGE.get(internet)
    return None


def codepage_from_properties(samples: Iterable[Mapping[int, object]]) -> str | None:
    """The most common code page the sampled items imply, or None when none says anything."""
    votes = Counter(cp for cp in (_from_one(p) for p in samples) if cp)
    return votes.most_common(1)[0][0] if votes else None
