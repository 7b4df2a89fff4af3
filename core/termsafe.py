"""Text from PSTs (folder names, subjects, file names) made safe to write to a terminal.

A PST is input from anyone: a folder named `Evil\\x1b]0;PWNED\\x07\\x1b[31m` would retitle the
window and colour everything after it if written raw. `safe(text)` writes every control character
(C0, DEL, C1) and every bidirectional override as a visible escape (`\\x1b`, `\\u202e`), so what
reaches the terminal is exactly what is shown. Printable text, including CJK and emoji, is kept.
The JSON outputs need none of this: json.dumps escapes C0 characters itself.
"""

from __future__ import annotations

import re

# C0 controls (tab and newline too: a name holding them would break a table or a line), DEL, C1
# controls (U+009B is a one-character CSI to some terminals), and the Unicode bidi embedding,
# override and isolate characters that can make a line display in another order than it is.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: object) -> str:
    """`text` with every control or bidi-override character written as a visible escape."""
    value = str(text)
    return _UNSAFE.sub(_escape, value) if _UNSAFE.search(value) else value


def safe_lines(text: object) -> str:
    """Like `safe`, but newlines stay line breaks (for messages of several lines)."""
    return "\n".join(safe(line) for line in str(text).split("\n"))
