"""NDB and LTP wire constants of [MS-PST], each under its spec name.

Sections cited are those of [MS-PST] (Outlook Personal Folders File Format). Only the
NDB (node database) and LTP (lists, tables, properties) layers live here; MAPI property
tags and types belong in `core.mapi`.
"""

from __future__ import annotations

from enum import IntEnum

# -- 2.2.2.6 HEADER --------------------------------------------------------------------
HEADER_MAGIC = b"!BDN"  # dwMagic
CLIENT_MAGIC_PST = b"SM"  # wMagicClient of a PST
CLIENT_MAGIC_OST = b"SO"  # wMagicClient of an OST
CLIENT_MAGIC_PAB = b"AB"  # wMagicClient of a personal address book (not a mail store)

# wVer: the file format version.
NDB_VERSION_ANSI = 14  # 14 or 15: ANSI (32-bit offsets and ids)
NDB_VERSION_ANSI_MAX = 15
NDB_VERSION_UNICODE = 23  # >= 23: Unicode (64-bit offsets and ids)
NDB_VERSION_UNICODE_4K = 36  # Unicode with 4 KiB pages (OST 2013+)
NDB_CLIENT_VERSION = 19  # wVerClient written by Outlook

NDB_SENTINEL = 0x80  # bSentinel

HEADER_SIZE_UNICODE = 564
HEADER_SIZE_ANSI = 512
HEADER_CRC_PARTIAL_FIELD = 4  # where dwCRCPartial is stored
HEADER_CRC_PARTIAL_OFFSET = 8  # dwCRCPartial covers 471 bytes from wMagicClient
HEADER_CRC_PARTIAL_SIZE = 471
HEADER_CRC_FULL_SIZE = 516  # Unicode only: dwCRCFull covers 516 bytes from wMagicClient
HEADER_CRYPT_METHOD_UNICODE = 513  # where bCryptMethod is stored in a Unicode header
HEADER_CRYPT_METHOD_ANSI = 461  # ... and in an ANSI header


class CryptMethod(IntEnum):
    """bCryptMethod: how data blocks are encoded (2.2.2.6, section 5)."""

    NDB_CRYPT_NONE = 0x00
    NDB_CRYPT_PERMUTE = 0x01  # "compressible encryption"
    NDB_CRYPT_CYCLIC = 0x02  # "high encryption"
    NDB_CRYPT_EDPCRYPTED = 0x10  # Windows Information Protection; not readable here


NDB_CRYPT_NONE = CryptMethod.NDB_CRYPT_NONE
NDB_CRYPT_PERMUTE = CryptMethod.NDB_CRYPT_PERMUTE
NDB_CRYPT_CYCLIC = CryptMethod.NDB_CRYPT_CYCLIC
NDB_CRYPT_EDPCRYPTED = CryptMethod.NDB_CRYPT_EDPCRYPTED

# -- 2.2.2.1 NID ------------------------------------------------------------------------
NID_TYPE_MASK = 0x1F  # nidType is the low 5 bits; nidIndex the other 27


class NidType(IntEnum):
    """nidType values (2.2.2.1)."""

    NID_TYPE_HID = 0x00
    NID_TYPE_INTERNAL = 0x01
    NID_TYPE_NORMAL_FOLDER = 0x02
    NID_TYPE_SEARCH_FOLDER = 0x03
    NID_TYPE_NORMAL_MESSAGE = 0x04
    NID_TYPE_ATTACHMENT = 0x05
    NID_TYPE_SEARCH_UPDATE_QUEUE = 0x06
    NID_TYPE_SEARCH_CRITERIA_OBJECT = 0x07
    NID_TYPE_ASSOC_MESSAGE = 0x08
    NID_TYPE_CONTENTS_TABLE_INDEX = 0x0A
    NID_TYPE_RECEIVE_FOLDER_TABLE = 0x0B
    NID_TYPE_OUTGOING_QUEUE_TABLE = 0x0C
    NID_TYPE_HIERARCHY_TABLE = 0x0D
    NID_TYPE_CONTENTS_TABLE = 0x0E
    NID_TYPE_ASSOC_CONTENTS_TABLE = 0x0F
    NID_TYPE_SEARCH_CONTENTS_TABLE = 0x10
    NID_TYPE_ATTACHMENT_TABLE = 0x11
    NID_TYPE_RECIPIENT_TABLE = 0x12
    NID_TYPE_SEARCH_TABLE_INDEX = 0x13
    NID_TYPE_LTP = 0x1F


NID_TYPE_HID = NidType.NID_TYPE_HID
NID_TYPE_INTERNAL = NidType.NID_TYPE_INTERNAL
NID_TYPE_NORMAL_FOLDER = NidType.NID_TYPE_NORMAL_FOLDER
NID_TYPE_SEARCH_FOLDER = NidType.NID_TYPE_SEARCH_FOLDER
NID_TYPE_NORMAL_MESSAGE = NidType.NID_TYPE_NORMAL_MESSAGE
NID_TYPE_ATTACHMENT = NidType.NID_TYPE_ATTACHMENT
NID_TYPE_SEARCH_UPDATE_QUEUE = NidType.NID_TYPE_SEARCH_UPDATE_QUEUE
NID_TYPE_SEARCH_CRITERIA_OBJECT = NidType.NID_TYPE_SEARCH_CRITERIA_OBJECT
NID_TYPE_ASSOC_MESSAGE = NidType.NID_TYPE_ASSOC_MESSAGE
NID_TYPE_CONTENTS_TABLE_INDEX = NidType.NID_TYPE_CONTENTS_TABLE_INDEX
NID_TYPE_RECEIVE_FOLDER_TABLE = NidType.NID_TYPE_RECEIVE_FOLDER_TABLE
NID_TYPE_OUTGOING_QUEUE_TABLE = NidType.NID_TYPE_OUTGOING_QUEUE_TABLE
NID_TYPE_HIERARCHY_TABLE = NidType.NID_TYPE_HIERARCHY_TABLE
NID_TYPE_CONTENTS_TABLE = NidType.NID_TYPE_CONTENTS_TABLE
NID_TYPE_ASSOC_CONTENTS_TABLE = NidType.NID_TYPE_ASSOC_CONTENTS_TABLE
NID_TYPE_SEARCH_CONTENTS_TABLE = NidType.NID_TYPE_SEARCH_CONTENTS_TABLE
NID_TYPE_ATTACHMENT_TABLE = NidType.NID_TYPE_ATTACHMENT_TABLE
NID_TYPE_RECIPIENT_TABLE = NidType.NID_TYPE_RECIPIENT_TABLE
NID_TYPE_SEARCH_TABLE_INDEX = NidType.NID_TYPE_SEARCH_TABLE_INDEX
NID_TYPE_LTP = NidType.NID_TYPE_LTP

# 2.4.1 Special internal NIDs, and the template NIDs of 2.4.4.
NID_MESSAGE_STORE = 0x21
NID_NAME_TO_ID_MAP = 0x61
NID_NORMAL_FOLDER_TEMPLATE = 0xA1
NID_SEARCH_FOLDER_TEMPLATE = 0xC1
NID_ROOT_FOLDER = 0x122
NID_SEARCH_MANAGEMENT_QUEUE = 0x1E1
NID_SEARCH_ACTIVITY_LIST = 0x201
NID_RESERVED1 = 0x241
NID_SEARCH_DOMAIN_OBJECT = 0x261
NID_SEARCH_GATHERER_QUEUE = 0x281
NID_SEARCH_GATHERER_DESCRIPTOR = 0x2A1
NID_RESERVED2 = 0x2E1
NID_RESERVED3 = 0x301
NID_SEARCH_GATHERER_FOLDER_QUEUE = 0x321
NID_HIERARCHY_TABLE_TEMPLATE = 0x60D
NID_CONTENTS_TABLE_TEMPLATE = 0x60E
NID_ASSOC_CONTENTS_TABLE_TEMPLATE = 0x60F
NID_SEARCH_CONTENTS_TABLE_TEMPLATE = 0x610
NID_ATTACHMENT_TABLE = 0x671  # attachment table template, and subnode NID in a message
NID_RECIPIENT_TABLE = 0x692  # recipient table template, and subnode NID in a message


def nid_type(nid: int) -> int:
    """The nidType (low 5 bits) of a NID."""
    return nid & NID_TYPE_MASK


def make_nid(nid_type_: int, nid_index: int) -> int:
    """Build a NID from its nidType and nidIndex."""
    return (nid_index << 5) | (nid_type_ & NID_TYPE_MASK)


# -- 2.2.2.2 BID ------------------------------------------------------------------------
BID_RESERVED_BIT = 0x1  # "A" bit: reserved, readers ignore it
BID_INTERNAL_BIT = 0x2  # "B" bit (fInternal): the block is an XBLOCK/XXBLOCK/SLBLOCK/SIBLOCK

# -- 2.2.2.7 Pages ----------------------------------------------------------------------
PAGE_SIZE = 512  # 4096 in wVer 36 files (not supported by this reader)
PAGE_SIZE_4K = 4096
PAGE_TRAILER_SIZE_UNICODE = 16
PAGE_TRAILER_SIZE_ANSI = 12


class PageType(IntEnum):
    """PAGETRAILER.ptype (2.2.2.7.1)."""

    ptypeBBT = 0x80
    ptypeNBT = 0x81
    ptypeFMap = 0x82
    ptypePMap = 0x83
    ptypeAMap = 0x84
    ptypeFPMap = 0x85
    ptypeDL = 0x86


# BTPAGE layout (2.2.2.7.7.1): entries area, then cEnt, cEntMax, cbEnt, cLevel (+ padding).
BTPAGE_ENTRIES_SIZE_UNICODE = 488
BTPAGE_ENTRIES_SIZE_ANSI = 496
# Entry sizes (2.2.2.7.7.2-4).
BTENTRY_SIZE_UNICODE = 24
BTENTRY_SIZE_ANSI = 12
BBTENTRY_SIZE_UNICODE = 24
BBTENTRY_SIZE_ANSI = 12
NBTENTRY_SIZE_UNICODE = 32
NBTENTRY_SIZE_ANSI = 16

# -- 2.2.2.8 Blocks ---------------------------------------------------------------------
BLOCK_ALIGNMENT = 64  # blocks (data + trailer) are padded to 64-byte multiples
BLOCK_TRAILER_SIZE_UNICODE = 16
BLOCK_TRAILER_SIZE_ANSI = 12
MAX_BLOCK_SIZE = 8192  # whole block, trailer included
MAX_BLOCK_DATA_UNICODE = MAX_BLOCK_SIZE - BLOCK_TRAILER_SIZE_UNICODE  # 8176
MAX_BLOCK_DATA_ANSI = MAX_BLOCK_SIZE - BLOCK_TRAILER_SIZE_ANSI  # 8180


class BlockType(IntEnum):
    """btype of an internal block (2.2.2.8.3)."""

    XBLOCK = 0x01  # also XXBLOCK (cLevel 2)
    SLBLOCK = 0x02  # also SIBLOCK (cLevel 1)


BTYPE_XBLOCK = BlockType.XBLOCK
BTYPE_SLBLOCK = BlockType.SLBLOCK
XBLOCK_LEVEL = 1
XXBLOCK_LEVEL = 2
SLBLOCK_LEVEL = 0
SIBLOCK_LEVEL = 1

# -- 2.3.1 Heap-on-node (HN) ------------------------------------------------------------
HN_SIGNATURE = 0xEC  # bSig of HNHDR


class ClientSig(IntEnum):
    """bClientSig of HNHDR (2.3.1.2): what the heap holds."""

    bTypeReserved1 = 0x6C
    bTypeTC = 0x7C
    bTypeReserved2 = 0x8C
    bTypeReserved3 = 0x9C
    bTypeReserved4 = 0xA5
    bTypeReserved5 = 0xAC
    bTypeBTH = 0xB5
    bTypePC = 0xBC
    bTypeReserved6 = 0xCC


bTypeTC = ClientSig.bTypeTC
bTypeBTH = ClientSig.bTypeBTH
bTypePC = ClientSig.bTypePC
bTypeHN = HN_SIGNATURE  # the heap signature itself (HNHDR.bSig)

HNHDR_SIZE = 12  # first block of a heap
HNPAGEHDR_SIZE = 2  # other blocks
HNBITMAPHDR_SIZE = 66  # blocks 8, 136, 264, ... (every 128th after the 8th)
HN_MAX_ALLOCATIONS = 2048  # per heap block (11 bits of hidIndex)

# HID (2.3.1.1): hidType (5 bits, NID_TYPE_HID), hidIndex (11 bits, 1-based), hidBlockIndex (16).
HID_INDEX_SHIFT = 5
HID_INDEX_MASK = 0x7FF
HID_BLOCK_SHIFT = 16

# -- 2.3.3 Property context, 2.3.4 Table context -----------------------------------------
PC_KEY_SIZE = 2  # BTH key: the property id
PC_DATA_SIZE = 6  # BTH data: wPropType (2) + dwValueHnid (4)
TCINFO_HEADER_SIZE = 22  # bType, cCols, rgib[4], hidRowIndex, hnidRows, hidIndex
TCOLDESC_SIZE = 8
TCI_4B = 0  # rgib indexes: end of 4/8-byte columns,
TCI_2B = 1  # of 2-byte columns,
TCI_1B = 2  # of 1-byte columns,
TCI_BM = 3  # and of the cell existence bitmap (= row size)
TC_ROW_ID = 0x67F2  # PidTagLtpRowId column: dwRowID, always at offset 0
TC_ROW_VER = 0x67F3  # PidTagLtpRowVer column
