"""Item bodies: plain text, HTML and compressed RTF, and the choice between them.

RTF is decompressed with `compressed-rtf` (MS-OXRTFCP). Its CRC check raises on a bad CRC, which
Outlook itself tolerates; we then decompress with the CRC field corrected and report it.
Encapsulated HTML or text (MS-OXRTFEX, `\\fromhtml1` / `\\fromtext`) is recovered with RTFDE.
Native RTF (no encapsulation) becomes text: the item's own PidTagBody when present, else a
plain-text extraction of the RTF.
"""

from __future__ import annotations

import codecs
import logging
import re
import struct
import zlib
from typing import NamedTuple

import compressed_rtf
from compressed_rtf.compressed_rtf import INIT_DICT as _RTF_INIT_DICT

from core.convert.payload import Body
from core.mapi import PidTagBody, PidTagHtml, PidTagInternetCodepage, PidTagMessageCodepage

# RTFDE logs every malformed stream at warning level; our report carries the problem instead.
logging.getLogger("RTFDE").setLevel(logging.CRITICAL)

# Windows code page numbers whose Python codec name is not simply "cp<N>".
_CODEPAGE_NAMES = {
    65001: "utf-8",
    65000: "utf-7",
    1200: "utf-16-le",
    1201: "utf-16-be",
    20127: "ascii",
    20866: "koi8-r",
    21866: "koi8-u",
    28591: "iso-8859-1",
    28592: "iso-8859-2",
    28593: "iso-8859-3",
    28594: "iso-8859-4",
    28595: "iso-8859-5",
    28596: "iso-8859-6",
    28597: "iso-8859-7",
    28598: "iso-8859-8",
    28599: "iso-8859-9",
    28603: "iso-8859-13",
    28605: "iso-8859-15",
    50220: "iso-2022-jp",
    50221: "iso-2022-jp",
    50222: "iso-2022-jp",
    50225: "iso-2022-kr",
    51932: "euc-jp",
    51936: "gb2312",
    51949: "euc-kr",
    52936: "hz",
    54936: "gb18030",
    936: "gbk",
    949: "cp949",
    950: "big5",
    932: "cp932",
    10000: "mac-roman",
}


def codec_for(codepage: int | str | None) -> str | None:
    """The Python codec name for a Windows code page number (or a codec name), or None."""
    if codepage is None:
        return None
    if isinstance(codepage, str):
        name = codepage
    else:
        name = _CODEPAGE_NAMES.get(codepage, f"cp{codepage}")
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


class RtfError(Exception):
    pass


_LZFU = b"LZFu"
_MELA = b"MELA"


def rtf_crc(data: bytes) -> int:
    """The MS-OXRTFCP 2.1.3.2 CRC: CRC-32 table, initial value 0 and no final inversion."""
    return zlib.crc32(data, 0xFFFFFFFF) ^ 0xFFFFFFFF


def _lzfu(contents: bytes, raw_size: int) -> bytes:
    """MS-OXRTFCP 2.2.3.1 decompression over a linear buffer: the 4096-byte ring dictionary is
    the last 4096 bytes written, so a reference becomes a slice copy (byte by byte only when it
    overlaps what it writes). Same output as compressed_rtf, which the tests check."""
    init = _RTF_INIT_DICT
    buf = bytearray(init)
    filler = b" " * (4096 - len(init))  # as compressed_rtf fills it
    pos = 0
    n = len(contents)
    while pos < n:
        control = contents[pos]
        pos += 1
        for bit in range(8):
            if pos >= n:
                break
            if control & (1 << bit):
                if pos + 1 >= n:
                    pos = n
                    break
                token = (contents[pos] << 8) | contents[pos + 1]
                pos += 2
                offset = token >> 4
                length = (token & 0xF) + 2
                wp = len(buf)
                back = (wp - offset) % 4096
                if back == 0:
                    pos = n  # end marker: the reference points at the write position
                    break
                src = wp - back
                if src < 0:  # the never-written tail of the initial dictionary
                    for i in range(length):
                        j = src + i
                        buf.append(filler[j + 4096 - len(init)] if j < 0 else buf[j])
                elif src + length <= wp:
                    buf += buf[src : src + length]
                else:
                    for i in range(length):
                        buf.append(buf[src + i])
            else:
                buf.append(contents[pos])
                pos += 1
    out = bytes(buf[len(init) :])
    return out[:raw_size] if raw_size and len(out) > raw_size else out


def decompress_rtf(data: bytes) -> tuple[bytes, str | None]:
    """Decompress PidTagRtfCompressed. Returns (rtf, problem); problem notes a bad CRC, which
    Outlook tolerates and compressed_rtf refuses, so we decompress regardless and report it.

    Raises:
        RtfError: the stream is too damaged to decompress.
    """
    if len(data) < 16:
        raise RtfError("shorter than its 16-byte header")
    comp_size, raw_size, comp_type, crc = struct.unpack_from("<II4sI", data, 0)
    contents = data[16 : 4 + comp_size]
    if comp_type == _MELA:
        return contents[:raw_size], None
    if comp_type != _LZFU:
        raise RtfError(f"unknown compression type {comp_type!r}")
    problem = None
    if rtf_crc(contents) != crc:
        problem = "RTF body has a bad CRC; decompressed without the check"
    try:
        return _lzfu(contents, raw_size), problem
    except Exception:  # noqa: BLE001 - fall back to the reference implementation
        fixed = data[:12] + struct.pack("<I", rtf_crc(contents)) + data[16:]
        try:
            return compressed_rtf.decompress(fixed), problem
        except Exception as e:
            raise RtfError(str(e) or type(e).__name__) from None


def decompress_rtf_reference(data: bytes) -> bytes:
    """compressed_rtf's decompression (CRC corrected first); the oracle for tests."""
    comp_size = struct.unpack_from("<I", data, 0)[0]
    contents = data[16 : 4 + comp_size]
    if data[8:12] == _MELA:
        return compressed_rtf.decompress(data)
    return compressed_rtf.decompress(data[:12] + struct.pack("<I", rtf_crc(contents)) + data[16:])


def rtf_encapsulation(rtf: bytes) -> str | None:
    """'html', 'text' or None (native RTF), from the header control words (MS-OXRTFEX 2.1.3.1)."""
    head = rtf[:2048]
    if b"\\fromhtml" in head:
        return "html"
    if b"\\fromtext" in head:
        return "text"
    return None


def deencapsulate(rtf: bytes) -> tuple[str | None, str | None]:
    """(html, text) recovered from encapsulating RTF with RTFDE; (None, None) if it cannot."""
    from RTFDE.deencapsulate import DeEncapsulator

    try:
        de = DeEncapsulator(rtf)
        de.deencapsulate()
    except Exception:  # RTFDE raises many types on malformed input; the caller falls back
        return None, None
    html = getattr(de, "html", None)
    text = getattr(de, "text", None)
    if isinstance(html, bytes):
        html = html.decode("utf-8", "replace")
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return html, text


_FCHARSET_CODEC = {
    128: "cp932",
    129: "cp949",
    130: "cp1361",
    134: "gbk",
    136: "big5",
    161: "cp1253",
    162: "cp1254",
    163: "cp1258",
    177: "cp1255",
    178: "cp1256",
    186: "cp1257",
    204: "cp1251",
    222: "cp874",
    238: "cp1250",
}
# One RTF tokenizer for both readers below: a control word with its optional parameter (at most
# 32 letters and 10 digits, RTF 1.9.1), \'hh, a control symbol, a brace, line ends (ignored in
# RTF), or a run of plain text.
_RTF_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\([^a-zA-Z'])|([{}])|[\r\n]+|([^\\{}\r\n]+)"
)
# Destinations whose content is never text (RTF 1.9.1 and MS-OXRTFEX).
_SKIP_DESTINATIONS = frozenset(
    {
        b"colortbl",
        b"stylesheet",
        b"info",
        b"pict",
        b"object",
        b"listtable",
        b"listoverridetable",
        b"rsidtbl",
        b"generator",
        b"xmlnstbl",
        b"themedata",
        b"latentstyles",
        b"datastore",
        b"filetbl",
        b"revtbl",
        b"colorschememapping",
    }
)


class _RtfMode(NamedTuple):
    """How `_rtf_walk` reads a document: which control words stand for which text, which further
    destinations it skips, and whether it de-encapsulates HTML (MS-OXRTFEX)."""

    words: dict[bytes, str]
    skip: frozenset[bytes]
    html: bool


# De-encapsulation: \*\htmltag groups are copied, \htmlrtf regions dropped; line breaks as Outlook writes them.
_DEENCAPSULATE = _RtfMode({b"par": "\r\n", b"line": "\r\n", b"tab": "\t"}, _SKIP_DESTINATIONS, True)
# Plain text of native RTF: page furniture, fields' instructions and HTML fragments are skipped.
_PLAIN_TEXT = _RtfMode(
    {
        b"par": "\n",
        b"line": "\n",
        b"sect": "\n",
        b"page": "\n",
        b"row": "\n",
        b"tab": "\t",
        b"cell": "\t",
        b"emdash": "\u2014",
        b"endash": "\u2013",
        b"lquote": "'",
        b"rquote": "'",
        b"ldblquote": '"',
        b"rdblquote": '"',
        b"bullet": "\u2022",
    },
    _SKIP_DESTINATIONS
    | {
        b"header",
        b"footer",
        b"headerl",
        b"headerr",
        b"footerl",
        b"footerr",
        b"pgdsctbl",
        b"mmathPr",
        b"htmltag",
        b"mhtmltag",
        b"fldinst",
    },
    False,
)
_SYMBOLS = {b"\\": None, b"{": None, b"}": None, b"~": "\u00a0", b"_": "-"}  # None: the character itself
# Destination states of a group.
_TEXT, _HTMLTAG, _SKIP, _FONTTBL = 0, 1, 2, 3


_BIN = re.compile(rb"\\bin(\d{1,10}) ?")


def _without_binary(rtf: bytes) -> bytes:
    """The document with the raw bytes after each \\binN removed (pictures and objects carry
    them): they may hold braces and backslashes that would break the group structure."""
    if b"\\bin" not in rtf:
        return rtf
    parts: list[bytes] = []
    pos = 0
    while m := _BIN.search(rtf, pos):
        parts.append(rtf[pos : m.end()])
        pos = m.end() + int(m.group(1))
    parts.append(rtf[pos:])
    return b"".join(parts)


def _document_codec(rtf: bytes, fallback: str) -> str:
    m = re.search(rb"\\ansicpg(\d+)", rtf[:2048])
    return (codec_for(int(m.group(1))) if m else None) or fallback


def _rtf_walk(rtf: bytes, mode: _RtfMode, default: str) -> str:
    """The text of an RTF document, in one regex pass.

    Groups save and restore their state (destination, \\htmlrtf, \\uc, current code page).
    8-bit runs (\\'hh and plain bytes) are decoded with the code page of the current font
    (\\fcharset in the font table) or the document's (`default`); \\uN gives a character and skips
    the next \\ucN fallback characters. In `mode.html`, `\\*\\htmltag` groups are copied (in the
    document code page) and text under `\\htmlrtf` is left out.
    """
    words, skip, html = mode
    fonts: dict[int, str] = {}
    out: list[str] = []
    raw = bytearray()
    codec = default
    htmlrtf = False
    dest = _TEXT
    uc = 1
    pending = 0  # fallback characters still to skip after \uN
    stack: list[tuple[bool, int, int, str]] = []
    group_start = False
    star = False
    font_no: int | None = None

    def flush() -> None:
        if raw:
            out.append(raw.decode(codec, "replace"))
            raw.clear()

    for tok in _RTF_TOKEN.finditer(_without_binary(rtf)):
        word, arg, hexv, sym, brace, text = tok.groups()
        if brace is not None:
            if brace == b"{":
                stack.append((htmlrtf, dest, uc, codec))
                group_start = True
                star = False
            else:
                flush()
                if stack:
                    htmlrtf, dest, uc, codec = stack.pop()
                group_start = False
            continue
        if group_start:
            if sym == b"*":
                star = True
                continue
            group_start = False
            if dest != _SKIP and word is not None:
                if html and word == b"htmltag" and star:
                    flush()
                    dest = _HTMLTAG
                    codec = default  # HTML fragments are in the document code page, not the font's
                    continue
                if word == b"fonttbl":
                    dest = _FONTTBL
                    continue
                if star or word in skip:
                    dest = _SKIP
                    continue
            elif star and dest != _SKIP:
                dest = _SKIP
        if dest == _SKIP:
            continue
        if dest == _FONTTBL:
            if word == b"f" and arg is not None:
                font_no = int(arg)
            elif word == b"fcharset" and arg is not None and font_no is not None:
                cs = _FCHARSET_CODEC.get(int(arg))
                if cs:
                    fonts[font_no] = cs
            continue
        emit = dest == _HTMLTAG or not htmlrtf
        if word is not None:
            if html and word == b"htmlrtf":
                htmlrtf = arg != b"0"
            elif word == b"f" and arg is not None and dest != _HTMLTAG:
                new = fonts.get(int(arg), default)
                if new != codec:
                    flush()
                    codec = new
            elif not emit:
                continue
            elif word == b"uc" and arg is not None:
                uc = int(arg)
            elif word == b"u" and arg is not None:
                flush()
                n = int(arg)
                out.append(chr(n + 65536 if n < 0 else n))
                pending = uc
            elif word in words:
                flush()
                out.append(words[word])
            continue
        if not emit:
            continue
        if hexv is not None:
            if pending:
                pending -= 1
                continue
            raw.append(int(hexv, 16))
        elif sym is not None:
            if sym in _SYMBOLS:
                char = _SYMBOLS[sym]
                if char is None:
                    raw += sym
                else:
                    flush()
                    out.append(char)
        elif text is not None:
            if pending:
                n = min(pending, len(text))
                text = text[n:]
                pending -= n
            raw += text
    flush()
    return "".join(out)


def fast_deencapsulate(rtf: bytes) -> str | None:
    """The HTML or text encapsulated in RTF (MS-OXRTFEX 2.1.3), in one regex pass.

    Content of `\\*\\htmltag` groups is copied; text outside them is copied unless an
    `\\htmlrtf` region suppresses it; `\\*\\mhtmltag` and other ignorable destinations are
    skipped. None when the stream is not encapsulated. RTFDE is the reference this is tested
    against; this one is ~100x faster.
    """
    if rtf_encapsulation(rtf) is None:
        return None
    return _rtf_walk(rtf, _DEENCAPSULATE, _document_codec(rtf, "cp1252"))


def rtf_to_text(rtf: bytes, codepage: str = "cp1252") -> str:
    """A readable plain-text rendering of native RTF: paragraphs, tabs, \\'hh and \\uN escapes.

    Not a layout engine: tables and fields become runs of text. Used only when an item has
    RTF and no other body."""
    result = _rtf_walk(rtf, _PLAIN_TEXT, _document_codec(rtf, codepage)).replace("\x00", "")
    return re.sub(r"\n{3,}", "\n\n", result).strip("\n") + ("\n" if result else "")


def item_codec(item) -> str | None:  # noqa: ANN001
    """The codec for an item's 8-bit strings: the reader's code page, else the message code page."""
    return codec_for(item.codepage) or codec_for(item.props.int(PidTagMessageCodepage))


def html_codec(item) -> str:  # noqa: ANN001
    """The codec of PidTagHtml bytes: the internet code page, else the message code page, else UTF-8."""
    return (
        codec_for(item.props.int(PidTagInternetCodepage))
        or codec_for(item.props.int(PidTagMessageCodepage))
        or codec_for(item.codepage)
        or "utf-8"
    )


def _decode_html(data: bytes, codec: str) -> str:
    m = re.search(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_\-]+)", data[:4096], re.IGNORECASE)
    if m:
        try:
            declared = codecs.lookup(m.group(1).decode("ascii")).name
            if declared != codec:
                try:
                    return data.decode(declared)
                except UnicodeDecodeError:
                    pass
        except LookupError:
            pass
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return data.decode(codec, "replace")


def _text_value(item, key) -> str | None:  # noqa: ANN001
    value = item.props.get(key)
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode(item_codec(item) or "cp1252", "replace")
    return None


def extract_body(item) -> tuple[Body, list[str]]:  # noqa: ANN001
    """The best body of an item and the problems met: HTML (PidTagHtml, else HTML encapsulated
    in RTF), and text (PidTagBody, else text encapsulated in or extracted from RTF)."""
    problems: list[str] = []
    text = _text_value(item, PidTagBody)
    html: str | None = None
    raw_html = item.props.get(PidTagHtml)
    if isinstance(raw_html, str):
        html = raw_html
    elif isinstance(raw_html, bytes) and raw_html:
        html = _decode_html(raw_html, html_codec(item))
    if html is None:
        rtf_c = item.rtf_compressed
        if rtf_c:
            # the PST library's C decompression when it has the item; the Python decoder otherwise
            rtf = item.rtf_body() if hasattr(item, "rtf_body") else None
            if rtf is None:
                try:
                    rtf, problem = decompress_rtf(rtf_c)
                    if problem:
                        problems.append(problem)
                except RtfError as e:
                    rtf = None
                    problems.append(f"RTF body could not be decompressed: {e}")
            if rtf:
                kind = rtf_encapsulation(rtf)
                cp = item_codec(item) or "cp1252"
                if kind == "html":
                    h = fast_deencapsulate(rtf)
                    if h is None:
                        h = deencapsulate(rtf)[0]
                    if h:
                        html = h
                    elif not text:
                        text = rtf_to_text(rtf, cp)
                        problems.append("HTML encapsulated in RTF could not be recovered; kept as text")
                elif kind == "text":
                    if not text:
                        t = fast_deencapsulate(rtf)
                        if t is None:
                            t = deencapsulate(rtf)[1]
                        text = t if t else rtf_to_text(rtf, cp)
                elif not text:
                    text = rtf_to_text(rtf, cp)
    if text is not None:
        text = text.replace("\x00", "")
    return Body(text=text or None, html=html or None), problems
