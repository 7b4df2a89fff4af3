"""Constants of the binary structures stored in properties: recurrence patterns and time zones
(MS-OXOCAL 2.2.1.41-2.2.1.44), entry ids (MS-OXCDATA 2.2.5, MS-OXOCNTC 2.2.1.2.7), and their values.
"""

from __future__ import annotations

# --- RecurrencePattern (MS-OXOCAL 2.2.1.44.1) -----------------------------------------
RECUR_READER_VERSION = 0x3004
RECUR_WRITER_VERSION = 0x3004
# RecurFrequency
IDC_RCEV_PAT_ORB_DAILY = 0x200A
IDC_RCEV_PAT_ORB_WEEKLY = 0x200B
IDC_RCEV_PAT_ORB_MONTHLY = 0x200C
IDC_RCEV_PAT_ORB_YEARLY = 0x200D
# PatternType
PATTERN_TYPE_DAY = 0x0000
PATTERN_TYPE_WEEK = 0x0001
PATTERN_TYPE_MONTH = 0x0002
PATTERN_TYPE_MONTH_END = 0x0004
PATTERN_TYPE_MONTH_NTH = 0x0003
PATTERN_TYPE_HJ_MONTH = 0x000A
PATTERN_TYPE_HJ_MONTH_NTH = 0x000B
PATTERN_TYPE_HJ_MONTH_END = 0x000C
# EndType
END_AFTER_DATE = 0x00002021
END_AFTER_N_OCCURRENCES = 0x00002022
END_NEVER_END = 0x00002023
END_NEVER_END_OLD = 0xFFFFFFFF
# DayOfWeek bits of PatternTypeSpecific (Sunday first)
DOW_SUNDAY = 0x01
DOW_MONDAY = 0x02
DOW_TUESDAY = 0x04
DOW_WEDNESDAY = 0x08
DOW_THURSDAY = 0x10
DOW_FRIDAY = 0x20
DOW_SATURDAY = 0x40
# "N" of a MonthNth pattern; 5 is "last"
RECUR_NTH_LAST = 0x0005

# --- AppointmentRecurrencePattern (MS-OXOCAL 2.2.1.44.2) ------------------------------
APPT_RECUR_READER_VERSION2 = 0x3006
APPT_RECUR_WRITER_VERSION2_MIN = 0x3008
APPT_RECUR_WRITER_VERSION2_HIGHLIGHT = 0x3009  # ExtendedException carries ChangeHighlight from here on
# ExceptionInfo OverrideFlags (MS-OXOCAL 2.2.1.44.2)
ARO_SUBJECT = 0x0001
ARO_MEETINGTYPE = 0x0002
ARO_REMINDERDELTA = 0x0004
ARO_REMINDER = 0x0008
ARO_LOCATION = 0x0010
ARO_BUSYSTATUS = 0x0020
ARO_ATTACHMENT = 0x0040
ARO_SUBTYPE = 0x0080
ARO_APPTCOLOR = 0x0100
ARO_EXCEPTIONAL_BODY = 0x0200

# --- time zones (MS-OXOCAL 2.2.1.39, 2.2.1.41) -----------------------------------------
TZDEFINITION_MAJOR_VERSION = 0x02
TZDEFINITION_MINOR_VERSION = 0x01
TZDEFINITION_RESERVED = 0x0002  # TZDEFINITION wReserved: MUST be 0x0002 (2.2.1.41)
TZRULE_RESERVED = 0x003E  # TZRULE wReserved: MUST be 0x003E (2.2.1.41.1)
TZRULE_FLAG_RECUR_CURRENT_TZREG = 0x0001
TZRULE_FLAG_EFFECTIVE_TZREG = 0x0002

# PidLidBusyStatus (MS-OXOCAL 2.2.1.2)
olFree = 0
olTentative = 1
olBusy = 2
olOutOfOffice = 3
olWorkingElsewhere = 4

# PidLidAppointmentStateFlags (MS-OXOCAL 2.2.1.10)
asfMeeting = 0x1
asfReceived = 0x2
asfCanceled = 0x4

# PidTagRecipientFlags (MS-OXOCAL 2.2.4.10.1)
recipSendable = 0x0001
recipOrganizer = 0x0002
recipExceptionalResponse = 0x0010
recipExceptionalDeleted = 0x0020
recipOriginal = 0x0100

# PidTagRecipientTrackStatus / PidLidResponseStatus (MS-OXOCAL 2.2.1.11)
respNone = 0
respOrganized = 1
respTentative = 2
respAccepted = 3
respDeclined = 4
respNotResponded = 5

# PidLidTaskStatus (MS-OXOTASK 2.2.2.2.2)
tsvNotStarted = 0
tsvInProgress = 1
tsvComplete = 2
tsvWaitingOnOther = 3
tsvDeferred = 4

# PidLidNoteColor (MS-OXONOTE 2.2.1.1)
NOTE_COLOR_BLUE = 0
NOTE_COLOR_GREEN = 1
NOTE_COLOR_PINK = 2
NOTE_COLOR_YELLOW = 3
NOTE_COLOR_WHITE = 4

# --- entry ids (MS-OXCDATA 2.2.5) ------------------------------------------------------
# One-off entry id provider (MS-OXCDATA 2.2.5.1)
ONE_OFF_PROVIDER_UID = bytes.fromhex("812b1fa4bea310199d6e00dd010f5402")
MAPI_ONE_OFF_UNICODE = 0x8000
MAPI_ONE_OFF_NO_RICH_INFO = 0x0001
# Address book (EX) entry id provider (MS-OXCDATA 2.2.5.2)
EX_ADDRESS_BOOK_PROVIDER_UID = bytes.fromhex("dca740c8c042101ab4b908002b2fe182")
# Wrapped entry id of a distribution list member (MS-OXOCNTC 2.2.1.2.7)
WRAPPED_ENTRY_ID_PROVIDER_UID = bytes.fromhex("c091add3519dcf11a4a900aa0047faa4")
WRAPPED_TYPE_ONE_OFF = 0x00
WRAPPED_TYPE_CONTACT = 0x03
WRAPPED_TYPE_PERSONAL_DL = 0x04
WRAPPED_TYPE_GAL_USER = 0x05
WRAPPED_TYPE_GAL_DL = 0x06
WRAPPED_TYPE_MASK = 0x0F
WRAPPED_EMBEDDED_IS_MESSAGE = 0x80


# --- the name-to-id map (MS-PST 2.4.7) ----------------------------------------------------------
NAMEID_FIRST_PROP_ID = 0x8000  # named properties' ids start here; an NPID is this plus the entry's wPropIdx
NAMEID_GUID_PS_MAPI = 1  # wGuid 1: PS_MAPI (2.4.7.1)
NAMEID_GUID_PS_PUBLIC_STRINGS = 2  # wGuid 2: PS_PUBLIC_STRINGS
NAMEID_GUID_STREAM_BASE = 3  # wGuid 3 and up: index into the GUID stream, plus 3
NAMEID_BUCKET_COUNT = 251  # PidTagNameidBucketCount as Outlook writes it (2.4.7.5)

__all__ = [name for name in dir() if not name.startswith("_") and name != "annotations"]
