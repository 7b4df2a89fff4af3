"""Block encodings of [MS-PST] section 5: NDB_CRYPT_PERMUTE (5.1) and NDB_CRYPT_CYCLIC (5.2).

Only external (data) blocks are encoded; pages and internal blocks never are. Both
functions work on whole block payloads and use `bytes.translate`, so a block costs a few
C-level passes instead of a Python loop per byte.
"""

from __future__ import annotations

from .format import CryptMethod

__all__ = [
    "MPBB_CRYPT",
    "permute_encode",
    "permute_decode",
    "cyclic",
    "cyclic_encode",
    "cyclic_decode",
    "decode_block",
    "encode_block",
]

# mpbbCrypt (5.1): three 256-byte tables. mpbbR encodes, mpbbI (its inverse) decodes,
# and mpbbS (an involution) is the middle step of the cyclic cipher.
MPBB_CRYPT = bytes.fromhex(
    "41361362a8216ebbf416cc047f64e85d1ef2cb2a74c55e35d295479e962d9a88"
    "4c7d843fdbac31b6485ff6c4d8398be7233b388ec8c1df25b120a546604e9cfb"
    "aad35651457c550007c92b9d859b09a08fadb30f63ab894bd7a7155a716642bf"
    "264a6b98faea7753b270052cfd593a867ece06eb827857c78d43afb41cd45bcd"
    "e2e9274fc3087280cfb0eff5286dbe304d3492d50e3c2232e5e4f99fc2d10a81"
    "12e1ee918376e397e6618a1779a4b7dc907a5c8c02a6ca69de501a1193b95287"
    "58fced1d37491b6ae0293399bd6cd994f340546ff0c673b8d63e6518441fdd67"
    "10f10c19ecae03a1147ba90bfff8a3c0a201f72ebc2468750dfeba2fb5d0da3d"
    "14530f56b3c87a9ceb65481716159f02cc547c83000d0c0ba262a876dbd9edc7"
    "c5a4dcac8574d6d0a79bae9a967166c36399b8dd73928e847da55ed15d93b157"
    "5150808952944f4e0a6bbc8d7f6e47464140440111cb033ff7f4e1a98f3c3af9"
    "fbf0193082092ec99da08649ee6f4d6dc42d813425871b88aafc06a11238fd4c"
    "4272641337246a757743ffe6b44b365ce4d8353d45b92cecb7312b290768a30e"
    "697b189e2139be281a5b78f523ca2ab0af3efe048ce7e5983295d3f64ae8a6ea"
    "e9f3d52f7020f21f0567ad5510cecde3273bdabad7c226d4911dd21c2233f8fa"
    "f15aefcf90b68bb5bdc0bf08971e6ce261e0c6c159abbb58de5fdf60797eb28a"
    "47f1b4e60b6a7248854e9eebe2f89453e0bba002e85a09abdbe3bac67cc310dd"
    "39059630f53760828cc9134a6b1df3fb8f2697ca911701c4322d6e3195ffd923"
    "d1005e79dc443b1a28c5615720903d83b943be67d2464276c06d5b7eb20f1629"
    "3ca903540dda5ddff6b7c762cd8d06d3695c86d614f7a56675acb1e94521700c"
    "879f74a4224c6fbf1f56aa2eb3783350b0a392bccf191ca763cb1e4d3e4b1b9b"
    "4fe7f0eead3ab55904ea40552551e57a893868527bfc27aed7bdfa07f4cc8e5f"
    "ef359c842b15d5773449b6120a7f7188fd9d18417d93d8582ccefe24afdeb836"
    "c8a180a69998a82f0e816573e4c2a28ad4e111d0088b2af2ed9a643fc16cf9ec"
)
_MPBB_R = MPBB_CRYPT[0:256]
_MPBB_S = MPBB_CRYPT[256:512]
_MPBB_I = MPBB_CRYPT[512:768]

# _ADD[k] maps b to (b + k) mod 256: adding a per-position key byte becomes a translate.
_ADD = [bytes((b + k) & 0xFF for b in range(256)) for k in range(256)]


def permute_encode(data: bytes | bytearray) -> bytes:
    """NDB_CRYPT_PERMUTE encoding (CryptPermute with fEncrypt=TRUE)."""
    return bytes(data).translate(_MPBB_R)


def permute_decode(data: bytes | bytearray) -> bytes:
    """NDB_CRYPT_PERMUTE decoding (CryptPermute with fEncrypt=FALSE)."""
    return bytes(data).translate(_MPBB_I)


def cyclic(data: bytes | bytearray, key: int) -> bytes:
    """NDB_CRYPT_CYCLIC (CryptCyclic): its own inverse, keyed by the block's BID.

    `key` is dwKey, the low 32 bits of the block's BID. Per byte i the cipher uses the
    16-bit w = (dwKey ^ dwKey >> 16) + i: add its low byte, mpbbR, add its high byte,
    mpbbS, subtract the high byte, mpbbI, subtract the low byte. The low byte repeats
    every 256 positions and the high byte is constant over runs of up to 256 bytes, so
    each step is a translate over strided slices or runs.
    """
    buf = bytearray(data)
    n = len(buf)
    if not n:
        return b""
    w = ((key & 0xFFFFFFFF) ^ ((key & 0xFFFFFFFF) >> 16)) & 0xFFFF
    lows = [((w + k) & 0xFF) for k in range(min(256, n))]
    for k, lo in enumerate(lows):
        buf[k::256] = buf[k::256].translate(_ADD[lo])
    buf = buf.translate(_MPBB_R)
    runs = []  # (start, end, high byte) with the high byte of w + i constant
    start = 0
    while start < n:
        end = min(n, start + 256 - ((w + start) & 0xFF))
        runs.append((start, end, ((w + start) >> 8) & 0xFF))
        start = end
    for a, b, hi in runs:
        buf[a:b] = buf[a:b].translate(_ADD[hi])
    buf = buf.translate(_MPBB_S)
    for a, b, hi in runs:
        buf[a:b] = buf[a:b].translate(_ADD[-hi & 0xFF])
    buf = buf.translate(_MPBB_I)
    for k, lo in enumerate(lows):
        buf[k::256] = buf[k::256].translate(_ADD[-lo & 0xFF])
    return bytes(buf)


cyclic_encode = cyclic
cyclic_decode = cyclic


def decode_block(data: bytes | bytearray, method: int, bid: int) -> bytes:
    """Decode a data block's payload as stored under `method` (bCryptMethod)."""
    if method == CryptMethod.NDB_CRYPT_NONE:
        return bytes(data)
    if method == CryptMethod.NDB_CRYPT_PERMUTE:
        return permute_decode(data)
    if method == CryptMethod.NDB_CRYPT_CYCLIC:
        return cyclic(data, bid & 0xFFFFFFFF)
    raise ValueError(f"unsupported bCryptMethod 0x{method:02X}")


def encode_block(data: bytes | bytearray, method: int, bid: int) -> bytes:
    """Encode a data block's payload for storage under `method` (bCryptMethod)."""
    if method == CryptMethod.NDB_CRYPT_NONE:
        return bytes(data)
    if method == CryptMethod.NDB_CRYPT_PERMUTE:
        return permute_encode(data)
    if method == CryptMethod.NDB_CRYPT_CYCLIC:
        return cyclic(data, bid & 0xFFFFFFFF)
    raise ValueError(f"unsupported bCryptMethod 0x{method:02X}")
