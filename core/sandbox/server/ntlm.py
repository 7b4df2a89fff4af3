"""The server side of NTLM (MS-NLMP): a CHALLENGE for a NEGOTIATE, NTLMv2 verification of an AUTHENTICATE.

Only NTLMv2 responses are accepted, as a hardened Exchange (LmCompatibilityLevel 5) does.
MD4 is written out here because OpenSSL 3 no longer offers it to hashlib.
"""

from __future__ import annotations

import hmac
import os
import struct
import time
from dataclasses import dataclass

SIGNATURE = b"NTLMSSP\x00"
NEGOTIATE_MESSAGE = 1
CHALLENGE_MESSAGE = 2
AUTHENTICATE_MESSAGE = 3

# NEGOTIATE flags (MS-NLMP 2.2.2.5)
NTLMSSP_NEGOTIATE_UNICODE = 0x00000001
NTLMSSP_REQUEST_TARGET = 0x00000004
NTLMSSP_NEGOTIATE_SIGN = 0x00000010
NTLMSSP_NEGOTIATE_SEAL = 0x00000020
NTLMSSP_NEGOTIATE_NTLM = 0x00000200
NTLMSSP_NEGOTIATE_ALWAYS_SIGN = 0x00008000
NTLMSSP_TARGET_TYPE_DOMAIN = 0x00010000
NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000
NTLMSSP_NEGOTIATE_TARGET_INFO = 0x00800000
NTLMSSP_NEGOTIATE_VERSION = 0x02000000
NTLMSSP_NEGOTIATE_128 = 0x20000000
NTLMSSP_NEGOTIATE_KEY_EXCH = 0x40000000
NTLMSSP_NEGOTIATE_56 = 0x80000000

# AV_PAIR ids (MS-NLMP 2.2.2.1)
MsvAvEOL = 0
MsvAvNbComputerName = 1
MsvAvNbDomainName = 2
MsvAvDnsComputerName = 3
MsvAvDnsDomainName = 4
MsvAvTimestamp = 7


class NtlmError(Exception):
    """A malformed NTLM message or a failed verification."""


def md4(data: bytes) -> bytes:
    """RFC 1320 MD4."""

    def f(x, y, z):
        return (x & y) | (~x & z)

    def g(x, y, z):
        return (x & y) | (x & z) | (y & z)

    def h(x, y, z):
        return x ^ y ^ z

    def rol(v, s):
        v &= 0xFFFFFFFF
        return ((v << s) | (v >> (32 - s))) & 0xFFFFFFFF

    msg = bytearray(data)
    bit_len = (8 * len(data)) & 0xFFFFFFFFFFFFFFFF
    msg.append(0x80)
    while len(msg) % 64 != 56:
        msg.append(0)
    msg += struct.pack("<Q", bit_len)
    a, b, c, d = 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476
    for off in range(0, len(msg), 64):
        x = struct.unpack("<16I", msg[off : off + 64])
        aa, bb, cc, dd = a, b, c, d
        for i in range(16):
            k = i
            s = (3, 7, 11, 19)[i % 4]
            if i % 4 == 0:
                a = rol(a + f(b, c, d) + x[k], s)
            elif i % 4 == 1:
                d = rol(d + f(a, b, c) + x[k], s)
            elif i % 4 == 2:
                c = rol(c + f(d, a, b) + x[k], s)
            else:
                b = rol(b + f(c, d, a) + x[k], s)
        for i in range(16):
            k = (i % 4) * 4 + i // 4
            s = (3, 5, 9, 13)[i % 4]
            if i % 4 == 0:
                a = rol(a + g(b, c, d) + x[k] + 0x5A827999, s)
            elif i % 4 == 1:
                d = rol(d + g(a, b, c) + x[k] + 0x5A827999, s)
            elif i % 4 == 2:
                c = rol(c + g(d, a, b) + x[k] + 0x5A827999, s)
            else:
                b = rol(b + g(c, d, a) + x[k] + 0x5A827999, s)
        order = (0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15)
        for i in range(16):
            k = order[i]
            s = (3, 9, 11, 15)[i % 4]
            if i % 4 == 0:
                a = rol(a + h(b, c, d) + x[k] + 0x6ED9EBA1, s)
            elif i % 4 == 1:
                d = rol(d + h(a, b, c) + x[k] + 0x6ED9EBA1, s)
            elif i % 4 == 2:
                c = rol(c + h(d, a, b) + x[k] + 0x6ED9EBA1, s)
            else:
                b = rol(b + h(c, d, a) + x[k] + 0x6ED9EBA1, s)
        a = (a + aa) & 0xFFFFFFFF
        b = (b + bb) & 0xFFFFFFFF
        c = (c + cc) & 0xFFFFFFFF
        d = (d + dd) & 0xFFFFFFFF
    return struct.pack("<4I", a, b, c, d)


def ntowfv2(nt_hash: bytes, user: str, domain: str) -> bytes:
    """NTOWFv2 (MS-NLMP 3.3.2) from the NT hash, MD4(UTF-16LE(password))."""
    return hmac.new(nt_hash, (user.upper() + domain).encode("utf-16-le"), "md5").digest()


@dataclass
class Authenticate:
    """The parts of an AUTHENTICATE message the verifier needs."""

    user: str
    domain: str
    workstation: str
    nt_response: bytes


def _av_pairs(pairs: list[tuple[int, bytes]]) -> bytes:
    out = b"".join(struct.pack("<HH", av, len(val)) + val for av, val in pairs)
    return out + struct.pack("<HH", MsvAvEOL, 0)


def make_challenge(
    negotiate: bytes, server_challenge: bytes, domain: str = "SANDBOX", computer: str = "EXCH01"
) -> bytes:
    """A CHALLENGE message answering `negotiate`."""
    if not negotiate.startswith(SIGNATURE) or struct.unpack("<I", negotiate[8:12])[0] != NEGOTIATE_MESSAGE:
        raise NtlmError("not an NTLM NEGOTIATE message")
    client_flags = struct.unpack("<I", negotiate[12:16])[0]
    flags = (
        NTLMSSP_NEGOTIATE_UNICODE
        | NTLMSSP_REQUEST_TARGET
        | NTLMSSP_NEGOTIATE_NTLM
        | NTLMSSP_NEGOTIATE_ALWAYS_SIGN
        | NTLMSSP_TARGET_TYPE_DOMAIN
        | NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
        | NTLMSSP_NEGOTIATE_TARGET_INFO
        | NTLMSSP_NEGOTIATE_VERSION
    )
    # Echo the security options the client asked for, so its session-key setup stays consistent.
    flags |= client_flags & (
        NTLMSSP_NEGOTIATE_SIGN
        | NTLMSSP_NEGOTIATE_SEAL
        | NTLMSSP_NEGOTIATE_128
        | NTLMSSP_NEGOTIATE_56
        | NTLMSSP_NEGOTIATE_KEY_EXCH
    )
    target = domain.encode("utf-16-le")
    filetime = int((time.time() + 11644473600) * 10_000_000)
    info = _av_pairs(
        [
            (MsvAvNbDomainName, target),
            (MsvAvNbComputerName, computer.encode("utf-16-le")),
            (MsvAvDnsDomainName, f"{domain.lower()}.test".encode("utf-16-le")),
            (MsvAvDnsComputerName, f"{computer.lower()}.{domain.lower()}.test".encode("utf-16-le")),
            (MsvAvTimestamp, struct.pack("<Q", filetime)),
        ]
    )
    header_len = 56
    version = bytes([10, 0]) + struct.pack("<H", 17763) + b"\x00\x00\x00\x0f"
    return (
        SIGNATURE
        + struct.pack("<I", CHALLENGE_MESSAGE)
        + struct.pack("<HHI", len(target), len(target), header_len)
        + struct.pack("<I", flags)
        + server_challenge
        + b"\x00" * 8
        + struct.pack("<HHI", len(info), len(info), header_len + len(target))
        + version
        + target
        + info
    )


def parse_authenticate(msg: bytes) -> Authenticate:
    """The user, domain and NT response of an AUTHENTICATE message."""
    if not msg.startswith(SIGNATURE) or len(msg) < 64:
        raise NtlmError("not an NTLM message")
    if struct.unpack("<I", msg[8:12])[0] != AUTHENTICATE_MESSAGE:
        raise NtlmError("not an NTLM AUTHENTICATE message")

    def field(offset: int) -> bytes:
        length, _max, where = struct.unpack("<HHI", msg[offset : offset + 8])
        if where + length > len(msg):
            raise NtlmError("NTLM field out of range")
        return msg[where : where + length]

    flags = struct.unpack("<I", msg[60:64])[0]
    enc = "utf-16-le" if flags & NTLMSSP_NEGOTIATE_UNICODE else "latin-1"
    return Authenticate(
        user=field(36).decode(enc),
        domain=field(28).decode(enc),
        workstation=field(44).decode(enc),
        nt_response=field(20),
    )


def verify_ntlmv2(auth: Authenticate, nt_hash: bytes, server_challenge: bytes) -> bool:
    """True when `auth`'s NTLMv2 response proves knowledge of the password behind `nt_hash` (MS-NLMP 3.3.2)."""
    if len(auth.nt_response) <= 24:  # NTLMv1 or anonymous: refused
        return False
    proof, blob = auth.nt_response[:16], auth.nt_response[16:]
    key = ntowfv2(nt_hash, auth.user, auth.domain)
    expected = hmac.new(key, server_challenge + blob, "md5").digest()
    return hmac.compare_digest(proof, expected)


def new_server_challenge() -> bytes:
    return os.urandom(8)
