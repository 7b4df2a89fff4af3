"""Bodies: compressed RTF (including a bad CRC), de-encapsulation, and the body choice."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from core.convert import ConvertContext, convert
from core.convert.body import (
    decompress_rtf,
    decompress_rtf_reference,
    deencapsulate,
    extract_body,
    fast_deencapsulate,
    rtf_crc,
    rtf_encapsulation,
    rtf_to_text,
)
from core.mapi import PidTagBody, PidTagHtml
from core.pst import open_pst
from tests.convert.fidelity import body_parts, norm_text, parse, without_props

VARIOUS = "tika_testPST_variousBodyTypes.pst"


def _rtf_items(corpus: Path, name: str, limit: int = 50):
    with open_pst(corpus / name) as pst:
        for folder in pst.folders():
            for item in pst.items(folder):
                if hasattr(item, "props") and item.rtf_compressed:
                    yield item
                    limit -= 1
                    if limit == 0:
                        return


def test_lzfu_matches_compressed_rtf_on_corpus(corpus: Path) -> None:
    """Our LZFu decompression gives the same bytes as compressed_rtf for real RTF bodies."""
    seen = 0
    for name in (
        "pst2john_2003_no-encryption_quickquick.pst",
        "aspose-net_passwordprotectedPST.pst",
        VARIOUS,
        "enron-edrm_sample_32-bit.pst",
        "aspose-net_SampleOstFile.ost",
    ):
        for item in _rtf_items(corpus, name, 20):
            rtf, problem = decompress_rtf(item.rtf_compressed)
            assert problem is None
            assert rtf == decompress_rtf_reference(item.rtf_compressed)
            assert rtf.startswith(b"{\\rtf")
            seen += 1
    assert seen >= 20


def test_library_rtf_matches_python_decoder_on_corpus(corpus: Path) -> None:
    """Items read by pypff carry its C-decompressed RTF, byte-identical to our decoder's output;
    where it declines (a bad CRC, or an uncompressed MELA stream whose CRC field is 0 and which it
    checks anyway) the Python decoder takes over."""
    taken = declined = 0
    for name in (
        "pst2john_2003_no-encryption_quickbrownfox.pst",
        "pst2john_2007_default_orxgnm.pst",
        "aspose-net_passwordprotectedPST.pst",
        "pst2john_97_outlook_pass12345.pst",
        "pstreader-hughbe_hughbe_Outlook.pst",
        VARIOUS,
    ):
        for item in _rtf_items(corpus, name, 40):
            rtf, problem = decompress_rtf(item.rtf_compressed)
            fast = item.rtf_body()
            if fast is None:
                declined += 1
                assert problem is not None or item.rtf_compressed[8:12] == b"MELA", f"{name}: declined a good body"
            else:
                taken += 1
                assert fast == rtf and problem is None
    assert taken >= 100 and declined >= 1


def test_bad_crc_is_decompressed_and_reported(corpus: Path) -> None:
    """A compressed RTF whose CRC field is wrong still decompresses, and the loss is reported."""
    item = next(i for i in _rtf_items(corpus, VARIOUS) if i.rtf_compressed[8:12] == b"LZFu")
    good = item.rtf_compressed
    crc = struct.unpack_from("<I", good, 12)[0]
    assert crc == rtf_crc(good[16 : 4 + struct.unpack_from("<I", good, 0)[0]])
    bad = good[:12] + struct.pack("<I", crc ^ 0xDEADBEEF) + good[16:]
    rtf, problem = decompress_rtf(bad)
    assert rtf == decompress_rtf(good)[0]
    assert problem and "bad CRC" in problem


def test_truncated_rtf_is_reported_not_raised(corpus: Path) -> None:
    """A damaged RTF stream yields a per-item problem, never an exception out of extract_body."""
    item = next(i for i in _rtf_items(corpus, VARIOUS))
    from core.mapi import PidTagRtfCompressed
    from core.pst.model import PropValue

    broken = without_props(item, PidTagBody, PidTagHtml)
    broken.props._values[PidTagRtfCompressed.id] = PropValue(0x102, b"\x01\x02")  # noqa: SLF001
    body, problems = extract_body(broken)
    assert body.empty
    assert any("RTF body could not be decompressed" in p for p in problems)


def test_fast_deencapsulation_agrees_with_rtfde(corpus: Path) -> None:
    """For encapsulated HTML and text on the corpus, our de-encapsulator gives RTFDE's output."""
    compared = 0
    for name in (
        "pst2john_2003_no-encryption_quickquick.pst",
        "aspose-net_passwordprotectedPST.pst",
        "pst2john_97_outlook_pass12345.pst",
    ):
        for item in _rtf_items(corpus, name, 6):
            rtf, _ = decompress_rtf(item.rtf_compressed)
            kind = rtf_encapsulation(rtf)
            if kind is None:
                continue
            html, text = deencapsulate(rtf)
            reference = html if kind == "html" else text
            assert reference is not None
            assert norm_text(fast_deencapsulate(rtf)) == norm_text(reference)
            compared += 1
    assert compared >= 6


def test_rtf_only_body_is_readable_text(corpus: Path) -> None:
    """tika variousBodyTypes: the RTF-only message, with no plain body to fall back on, becomes
    readable text equal to Outlook's own plain rendering, not RTF source."""
    with open_pst(corpus / VARIOUS) as pst:
        ctx = ConvertContext.for_pst(pst)
        items = [i for f in pst.folders() for i in pst.items(f)]
        rtf_only = [i for i in items if i.rtf_compressed and not i.body_html]
        assert rtf_only
        for item in rtf_only:
            stripped = without_props(item, PidTagBody)
            text, html = body_parts(parse(convert(stripped, ctx).mime))
            assert html is None
            assert "{\\rtf" not in text and "\\par" not in text
            assert norm_text(text) == norm_text(item.body_text)


def test_html_only_body_is_html(corpus: Path) -> None:
    """tika variousBodyTypes: an HTML message without its plain body comes out as text/html."""
    with open_pst(corpus / VARIOUS) as pst:
        ctx = ConvertContext.for_pst(pst)
        items = [i for f in pst.folders() for i in pst.items(f) if i.body_html]
        assert items
        for item in items:
            text, html = body_parts(parse(convert(without_props(item, PidTagBody), ctx).mime))
            assert text is None
            assert html is not None and "<html" in html.lower() and "original</b> email" in html
            assert not html.lstrip().startswith("{\\rtf")


def test_every_various_body_item_is_readable(corpus: Path) -> None:
    """Every item of tika variousBodyTypes, as stored, has a readable body and keeps its HTML."""
    with open_pst(corpus / VARIOUS) as pst:
        ctx = ConvertContext.for_pst(pst)
        for folder in pst.folders():
            for item in pst.items(folder):
                text, html = body_parts(parse(convert(item, ctx).mime))
                assert "original email" in (text or "") or "original</b> email" in (html or "")
                assert bool(html) == bool(item.body_html)
                for part in (text, html):
                    assert not (part or "").lstrip().startswith("{\\rtf")


def test_encapsulated_html_recovered_when_no_html_property(corpus: Path) -> None:
    """A message whose HTML lives only in its RTF (\\fromhtml1) gets a text/html part from it."""
    for item in _rtf_items(corpus, "pst2john_2003_no-encryption_quickquick.pst", 5):
        rtf, _ = decompress_rtf(item.rtf_compressed)
        if rtf_encapsulation(rtf) != "html" or item.body_html:
            continue
        body, problems = extract_body(item)
        assert body.html and "<html" in body.html.lower()
        assert body.text  # the plain body stays as the alternative
        assert not problems
        return
    pytest.skip("no RTF-encapsulated HTML item without an HTML body in this file")


def test_rtf_to_text_handles_escapes() -> None:
    """Native RTF text extraction decodes \\'hh in the document code page, \\uN and paragraphs."""
    rtf = rb"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0 Arial;}}{\*\generator x;}Caf\'e9 \u8364?5\par next\tab line}"
    assert rtf_to_text(rtf) == "Caf\u00e9 \u20ac5\nnext\tline\n"


def test_deencapsulation_code_pages_and_htmlrtf() -> None:
    """Text runs decode in their font's charset, tags in the document code page, \\htmlrtf regions
    are dropped and \\mhtmltag groups ignored (MS-OXRTFEX 2.1.3.1)."""
    rtf = (
        rb"{\rtf1\ansi\ansicpg1252\fromhtml1 {\fonttbl{\f0 Arial;}{\f1\fcharset161 Greek;}}"
        rb"{\*\htmltag64 <p title='caf\'e9'>}\htmlrtf {\b bold-rtf-only}\htmlrtf0 \f1 \'e1\'e2\f0 "
        rb"{\*\mhtmltag84 <img src=cid:x>}{\*\htmltag84 <img src=x>}{\*\htmltag72 </p>}\par }"
    )
    assert fast_deencapsulate(rtf) == "<p title='caf\u00e9'>\u03b1\u03b2<img src=x></p>\r\n"
    assert fast_deencapsulate(rb"{\rtf1\ansi plain}") is None


def test_binary_picture_data_is_not_text() -> None:
    """\\binN data (pictures in native RTF) is skipped by length, even when its bytes hold braces
    and backslashes, so neither reader turns a picture into text or loses the group structure."""
    png = b"\x89PNG}{\\par}}junk{"
    rtf = (
        rb"{\rtf1\ansi\ansicpg1252 before{\*\shppict{\pict\pngblip\bin"
        + str(len(png)).encode()
        + b" "
        + png
        + rb"}}\par after\par}"
    )
    assert rtf_to_text(rtf) == "before\nafter\n"
    html = rb"{\rtf1\ansi\fromhtml1 {\*\htmltag64 <p>}x{\pict\bin" + str(len(png)).encode() + b" " + png + rb"}y}"
    assert fast_deencapsulate(html) == "<p>xy"
