"""Property tags, named properties, property sets and well-known values.

Tags are `Tag(id, type)`: the canonical type from MS-OXPROPS. A PST may store a string
property as PT_STRING8 instead of PT_UNICODE; readers key property bags by id, so a
tag's type is what we write and what we expect, not a filter on what we read.
Named properties are `Named(property_set, lid_or_name, type)` (MS-OXPROPS 1.3.2).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from core.mapi.types import PropType as T


@dataclass(frozen=True, slots=True)
class Tag:
    """A MAPI property tag: 16-bit id and its canonical type."""

    id: int
    type: int

    @property
    def tag(self) -> int:
        return (self.id << 16) | self.type

    def __int__(self) -> int:
        return self.tag


@dataclass(frozen=True, slots=True)
class Named:
    """A named property: a property set GUID and a numeric id (LID) or a string name."""

    guid: uuid.UUID
    key: int | str
    type: int


# --- property sets (MS-OXPROPS 1.3.2) --------------------------------------------------
PS_MAPI = uuid.UUID("00020328-0000-0000-c000-000000000046")
PS_PUBLIC_STRINGS = uuid.UUID("00020329-0000-0000-c000-000000000046")
PS_INTERNET_HEADERS = uuid.UUID("00020386-0000-0000-c000-000000000046")
PSETID_Common = uuid.UUID("00062008-0000-0000-c000-000000000046")
PSETID_Address = uuid.UUID("00062004-0000-0000-c000-000000000046")
PSETID_Appointment = uuid.UUID("00062002-0000-0000-c000-000000000046")
PSETID_Meeting = uuid.UUID("6ed8da90-450b-101b-98da-00aa003f1305")
PSETID_Task = uuid.UUID("00062003-0000-0000-c000-000000000046")
PSETID_Note = uuid.UUID("0006200e-0000-0000-c000-000000000046")
PSETID_Log = uuid.UUID("0006200a-0000-0000-c000-000000000046")
PSETID_Sharing = uuid.UUID("00062040-0000-0000-c000-000000000046")
PSETID_PostRss = uuid.UUID("00062041-0000-0000-c000-000000000046")
PSETID_UnifiedMessaging = uuid.UUID("4442858e-a9e3-4e80-b900-317a210cc15b")
PSETID_AirSync = uuid.UUID("71035549-0739-4dcb-9163-00f0580dbbdf")
PSETID_Messaging = uuid.UUID("41f28f13-83f4-4114-a584-eedb5a6b0bff")
PSETID_Attachment = uuid.UUID("96357f7f-59e1-47d0-99a7-46515c183b54")
PSETID_CalendarAssistant = uuid.UUID("11000e07-b51b-40d6-af21-caa85edab1d0")

# pstimport's own property set for the source stamp (DESIGN.md, "The source stamp").
PSETID_PstImport = uuid.UUID("4a3b1f4e-6c2d-4e8a-9f17-2d5c8b0e7a61")

# --- message object (MS-OXOMSG, MS-OXCMSG) ---------------------------------------------
PidTagMessageClass = Tag(0x001A, T.PT_UNICODE)
PidTagSubject = Tag(0x0037, T.PT_UNICODE)
PidTagSubjectPrefix = Tag(0x003D, T.PT_UNICODE)
PidTagNormalizedSubject = Tag(0x0E1D, T.PT_UNICODE)
PidTagConversationTopic = Tag(0x0070, T.PT_UNICODE)
PidTagConversationIndex = Tag(0x0071, T.PT_BINARY)
PidTagImportance = Tag(0x0017, T.PT_LONG)
PidTagPriority = Tag(0x0026, T.PT_LONG)
PidTagSensitivity = Tag(0x0036, T.PT_LONG)
PidTagClientSubmitTime = Tag(0x0039, T.PT_SYSTIME)
PidTagMessageDeliveryTime = Tag(0x0E06, T.PT_SYSTIME)
PidTagCreationTime = Tag(0x3007, T.PT_SYSTIME)
PidTagLastModificationTime = Tag(0x3008, T.PT_SYSTIME)
PidTagMessageFlags = Tag(0x0E07, T.PT_LONG)
PidTagMessageSize = Tag(0x0E08, T.PT_LONG)
PidTagMessageStatus = Tag(0x0E17, T.PT_LONG)
PidTagHasAttachments = Tag(0x0E1B, T.PT_BOOLEAN)
PidTagReadReceiptRequested = Tag(0x0029, T.PT_BOOLEAN)
PidTagOriginatorDeliveryReportRequested = Tag(0x0023, T.PT_BOOLEAN)
PidTagReplyRequested = Tag(0x0C17, T.PT_BOOLEAN)
PidTagResponseRequested = Tag(0x0063, T.PT_BOOLEAN)
PidTagBody = Tag(0x1000, T.PT_UNICODE)
PidTagRtfCompressed = Tag(0x1009, T.PT_BINARY)
PidTagRtfInSync = Tag(0x0E1F, T.PT_BOOLEAN)
PidTagHtml = Tag(0x1013, T.PT_BINARY)  # PidTagBodyHtml is the same id typed PT_UNICODE
PidTagNativeBody = Tag(0x1016, T.PT_LONG)
PidTagInternetCodepage = Tag(0x3FDE, T.PT_LONG)
PidTagMessageCodepage = Tag(0x3FFD, T.PT_LONG)
PidTagMessageLocaleId = Tag(0x3FF1, T.PT_LONG)
PidTagTransportMessageHeaders = Tag(0x007D, T.PT_UNICODE)
PidTagInternetMessageId = Tag(0x1035, T.PT_UNICODE)
PidTagInReplyToId = Tag(0x1042, T.PT_UNICODE)
PidTagInternetReferences = Tag(0x1039, T.PT_UNICODE)
PidTagListUnsubscribe = Tag(0x1045, T.PT_UNICODE)
PidTagDisplayTo = Tag(0x0E04, T.PT_UNICODE)
PidTagDisplayCc = Tag(0x0E03, T.PT_UNICODE)
PidTagDisplayBcc = Tag(0x0E02, T.PT_UNICODE)
PidTagIconIndex = Tag(0x1080, T.PT_LONG)
PidTagLastVerbExecuted = Tag(0x1081, T.PT_LONG)
PidTagLastVerbExecutionTime = Tag(0x1082, T.PT_SYSTIME)
PidTagFlagStatus = Tag(0x1090, T.PT_LONG)
PidTagFlagCompleteTime = Tag(0x1091, T.PT_SYSTIME)
PidTagFollowupIcon = Tag(0x1095, T.PT_LONG)
PidTagToDoItemFlags = Tag(0x0E2B, T.PT_LONG)
PidTagBlockStatus = Tag(0x1096, T.PT_LONG)
PidTagSearchKey = Tag(0x300B, T.PT_BINARY)
PidTagEntryId = Tag(0x0FFF, T.PT_BINARY)
PidTagRecordKey = Tag(0x0FF9, T.PT_BINARY)
PidTagObjectType = Tag(0x0FFE, T.PT_LONG)
PidTagDisplayName = Tag(0x3001, T.PT_UNICODE)
PidTagComment = Tag(0x3004, T.PT_UNICODE)
PidTagAddressType = Tag(0x3002, T.PT_UNICODE)
PidTagEmailAddress = Tag(0x3003, T.PT_UNICODE)
PidTagSmtpAddress = Tag(0x39FE, T.PT_UNICODE)
PidTagDisplayType = Tag(0x3900, T.PT_LONG)
PidTagDisplayTypeEx = Tag(0x3905, T.PT_LONG)
PidTagPrimarySmtpAddress = PidTagSmtpAddress  # the GAL name of the same property

# sender and sent-representing (MS-OXOMSG 2.2.1)
PidTagSenderName = Tag(0x0C1A, T.PT_UNICODE)
PidTagSenderEmailAddress = Tag(0x0C1F, T.PT_UNICODE)
PidTagSenderAddressType = Tag(0x0C1E, T.PT_UNICODE)
PidTagSenderEntryId = Tag(0x0C19, T.PT_BINARY)
PidTagSenderSearchKey = Tag(0x0C1D, T.PT_BINARY)
PidTagSenderSmtpAddress = Tag(0x5D01, T.PT_UNICODE)
PidTagSentRepresentingName = Tag(0x0042, T.PT_UNICODE)
PidTagSentRepresentingEmailAddress = Tag(0x0065, T.PT_UNICODE)
PidTagSentRepresentingAddressType = Tag(0x0064, T.PT_UNICODE)
PidTagSentRepresentingEntryId = Tag(0x0041, T.PT_BINARY)
PidTagSentRepresentingSearchKey = Tag(0x003B, T.PT_BINARY)
PidTagSentRepresentingSmtpAddress = Tag(0x5D02, T.PT_UNICODE)
PidTagReceivedByName = Tag(0x0040, T.PT_UNICODE)
PidTagReceivedByEmailAddress = Tag(0x0076, T.PT_UNICODE)
PidTagReceivedByAddressType = Tag(0x0075, T.PT_UNICODE)
PidTagReceivedBySmtpAddress = Tag(0x5D07, T.PT_UNICODE)
PidTagReceivedRepresentingName = Tag(0x0044, T.PT_UNICODE)
PidTagReceivedRepresentingEmailAddress = Tag(0x0078, T.PT_UNICODE)
PidTagReceivedRepresentingAddressType = Tag(0x0077, T.PT_UNICODE)
PidTagReceivedRepresentingSmtpAddress = Tag(0x5D08, T.PT_UNICODE)
PidTagOriginalSenderName = Tag(0x005A, T.PT_UNICODE)
PidTagOriginalSenderEmailAddress = Tag(0x0067, T.PT_UNICODE)
PidTagOriginalSenderAddressType = Tag(0x0066, T.PT_UNICODE)

# recipient table rows (MS-OXCMSG 2.2.1.4, MS-OXOMSG 2.2.3)
PidTagRecipientType = Tag(0x0C15, T.PT_LONG)
PidTagRowid = Tag(0x3000, T.PT_LONG)
PidTagRecipientDisplayName = Tag(0x5FF6, T.PT_UNICODE)
PidTagRecipientEntryId = Tag(0x5FF7, T.PT_BINARY)
PidTagRecipientFlags = Tag(0x5FFD, T.PT_LONG)
PidTagRecipientTrackStatus = Tag(0x5FFF, T.PT_LONG)
PidTagRecipientOrder = Tag(0x5FDF, T.PT_LONG)
PidTagResponsibility = Tag(0x0E0F, T.PT_BOOLEAN)
PidTagSendRichInfo = Tag(0x3A40, T.PT_BOOLEAN)

# attachments (MS-OXCMSG 2.2.2)
PidTagAttachMethod = Tag(0x3705, T.PT_LONG)
PidTagAttachFilename = Tag(0x3704, T.PT_UNICODE)
PidTagAttachLongFilename = Tag(0x3707, T.PT_UNICODE)
PidTagAttachPathname = Tag(0x3708, T.PT_UNICODE)
PidTagAttachLongPathname = Tag(0x370D, T.PT_UNICODE)
PidTagAttachExtension = Tag(0x3703, T.PT_UNICODE)
PidTagAttachDataBinary = Tag(0x3701, T.PT_BINARY)
PidTagAttachDataObject = Tag(0x3701, T.PT_OBJECT)
PidTagAttachSize = Tag(0x0E20, T.PT_LONG)
PidTagAttachNumber = Tag(0x0E21, T.PT_LONG)
PidTagAttachMimeTag = Tag(0x370E, T.PT_UNICODE)
PidTagAttachContentId = Tag(0x3712, T.PT_UNICODE)
PidTagAttachContentLocation = Tag(0x3713, T.PT_UNICODE)
PidTagAttachContentBase = Tag(0x3711, T.PT_UNICODE)
PidTagAttachFlags = Tag(0x3714, T.PT_LONG)
PidTagAttachmentHidden = Tag(0x7FFE, T.PT_BOOLEAN)
PidTagAttachmentContactPhoto = Tag(0x7FFF, T.PT_BOOLEAN)
PidTagAttachmentLinkId = Tag(0x7FFA, T.PT_LONG)
PidTagAttachmentFlags = Tag(0x7FFD, T.PT_LONG)
PidTagRenderingPosition = Tag(0x370B, T.PT_LONG)
PidTagAttachEncoding = Tag(0x3702, T.PT_BINARY)
PidTagAttachTag = Tag(0x370A, T.PT_BINARY)
PidTagAttachRendering = Tag(0x3709, T.PT_BINARY)
PidTagExceptionStartTime = Tag(0x7FFB, T.PT_SYSTIME)
PidTagExceptionEndTime = Tag(0x7FFC, T.PT_SYSTIME)
PidTagExceptionReplaceTime = Tag(0x7FF9, T.PT_SYSTIME)

# folders (MS-OXCFOLD, MS-OXOSFLD)
PidTagContainerClass = Tag(0x3613, T.PT_UNICODE)
PidTagContentCount = Tag(0x3602, T.PT_LONG)
PidTagContentUnreadCount = Tag(0x3603, T.PT_LONG)
PidTagSubfolders = Tag(0x360A, T.PT_BOOLEAN)
PidTagFolderType = Tag(0x3601, T.PT_LONG)
PidTagAssociatedContentCount = Tag(0x3617, T.PT_LONG)
PidTagIpmAppointmentEntryId = Tag(0x36D0, T.PT_BINARY)
PidTagIpmContactEntryId = Tag(0x36D1, T.PT_BINARY)
PidTagIpmJournalEntryId = Tag(0x36D2, T.PT_BINARY)
PidTagIpmNoteEntryId = Tag(0x36D3, T.PT_BINARY)
PidTagIpmTaskEntryId = Tag(0x36D4, T.PT_BINARY)
PidTagRemindersOnlineEntryId = Tag(0x36D5, T.PT_BINARY)
PidTagIpmDraftsEntryId = Tag(0x36D7, T.PT_BINARY)
PidTagAdditionalRenEntryIds = Tag(0x36D8, T.PT_MV_BINARY)
PidTagAdditionalRenEntryIdsEx = Tag(0x36D9, T.PT_BINARY)
PidTagFreeBusyEntryIds = Tag(0x36E4, T.PT_MV_BINARY)

# message store (MS-OXCSTOR, MS-PST 2.4.3)
PidTagIpmSubtreeEntryId = Tag(0x35E0, T.PT_BINARY)
PidTagIpmOutboxEntryId = Tag(0x35E2, T.PT_BINARY)
PidTagIpmWastebasketEntryId = Tag(0x35E3, T.PT_BINARY)
PidTagIpmSentMailEntryId = Tag(0x35E4, T.PT_BINARY)
PidTagViewsEntryId = Tag(0x35E5, T.PT_BINARY)
PidTagCommonViewsEntryId = Tag(0x35E6, T.PT_BINARY)
PidTagFinderEntryId = Tag(0x35E7, T.PT_BINARY)
PidTagPstPassword = Tag(0x67FF, T.PT_LONG)
PidTagStoreSupportMask = Tag(0x340D, T.PT_LONG)
PidTagStoreProvider = Tag(0x3414, T.PT_BINARY)
PidTagValidFolderMask = Tag(0x35DF, T.PT_LONG)
PidTagReplItemid = Tag(0x0E30, T.PT_LONG)
# columns of the PST table templates (MS-PST 2.4.4.4.1, 2.4.4.5.1, 2.4.5.3): used by the PST writer
PidTagMessageToMe = Tag(0x0057, T.PT_BOOLEAN)
PidTagMessageCcMe = Tag(0x0058, T.PT_BOOLEAN)
PidTagReplChangenum = Tag(0x0E33, T.PT_I8)
PidTagReplVersionHistory = Tag(0x0E34, T.PT_BINARY)
PidTagReplFlags = Tag(0x0E38, T.PT_LONG)
PidTagReplCopiedfromVersionhistory = Tag(0x0E3C, T.PT_BINARY)
PidTagReplCopiedfromItemid = Tag(0x0E3D, T.PT_BINARY)
PidTagItemTemporaryFlags = Tag(0x1097, T.PT_LONG)
PidTagSecureSubmitFlags = Tag(0x65C6, T.PT_LONG)
PidTagPstHiddenCount = Tag(0x6635, T.PT_LONG)
PidTagPstHiddenUnread = Tag(0x6636, T.PT_LONG)
PidTag7BitDisplayName = Tag(0x39FF, T.PT_STRING8)
PidTagLtpParentNid = Tag(0x67F1, T.PT_LONG)
PidTagLtpRowId = Tag(0x67F2, T.PT_LONG)
PidTagLtpRowVer = Tag(0x67F3, T.PT_LONG)

# name-to-id map streams (MS-PST 2.4.7)
PidTagNameidBucketCount = Tag(0x0001, T.PT_LONG)
PidTagNameidStreamGuid = Tag(0x0002, T.PT_BINARY)
PidTagNameidStreamEntry = Tag(0x0003, T.PT_BINARY)
PidTagNameidStreamString = Tag(0x0004, T.PT_BINARY)
PidTagNameidBucketBase = Tag(0x1000, T.PT_BINARY)

# contacts (MS-OXOCNTC 2.2.1)
PidTagGivenName = Tag(0x3A06, T.PT_UNICODE)
PidTagSurname = Tag(0x3A11, T.PT_UNICODE)
PidTagMiddleName = Tag(0x3A44, T.PT_UNICODE)
PidTagGeneration = Tag(0x3A05, T.PT_UNICODE)
PidTagDisplayNamePrefix = Tag(0x3A45, T.PT_UNICODE)
PidTagNickname = Tag(0x3A4F, T.PT_UNICODE)
PidTagInitials = Tag(0x3A0A, T.PT_UNICODE)
PidTagCompanyName = Tag(0x3A16, T.PT_UNICODE)
PidTagDepartmentName = Tag(0x3A18, T.PT_UNICODE)
PidTagTitle = Tag(0x3A17, T.PT_UNICODE)
PidTagOfficeLocation = Tag(0x3A19, T.PT_UNICODE)
PidTagProfession = Tag(0x3A46, T.PT_UNICODE)
PidTagManagerName = Tag(0x3A4E, T.PT_UNICODE)
PidTagAssistant = Tag(0x3A30, T.PT_UNICODE)
PidTagSpouseName = Tag(0x3A48, T.PT_UNICODE)
PidTagBirthday = Tag(0x3A42, T.PT_SYSTIME)
PidTagWeddingAnniversary = Tag(0x3A41, T.PT_SYSTIME)
PidTagBusinessTelephoneNumber = Tag(0x3A08, T.PT_UNICODE)
PidTagBusiness2TelephoneNumber = Tag(0x3A1B, T.PT_UNICODE)
PidTagHomeTelephoneNumber = Tag(0x3A09, T.PT_UNICODE)
PidTagHome2TelephoneNumber = Tag(0x3A2F, T.PT_UNICODE)
PidTagMobileTelephoneNumber = Tag(0x3A1C, T.PT_UNICODE)
PidTagPagerTelephoneNumber = Tag(0x3A21, T.PT_UNICODE)
PidTagCarTelephoneNumber = Tag(0x3A1E, T.PT_UNICODE)
PidTagBusinessFaxNumber = Tag(0x3A24, T.PT_UNICODE)
PidTagHomeFaxNumber = Tag(0x3A25, T.PT_UNICODE)
PidTagPrimaryTelephoneNumber = Tag(0x3A1A, T.PT_UNICODE)
PidTagAssistantTelephoneNumber = Tag(0x3A2E, T.PT_UNICODE)
PidTagOtherTelephoneNumber = Tag(0x3A1F, T.PT_UNICODE)
PidTagCompanyMainTelephoneNumber = Tag(0x3A57, T.PT_UNICODE)
PidTagBusinessHomePage = Tag(0x3A51, T.PT_UNICODE)
PidTagPersonalHomePage = Tag(0x3A50, T.PT_UNICODE)
PidTagStreetAddress = Tag(0x3A29, T.PT_UNICODE)
PidTagLocality = Tag(0x3A27, T.PT_UNICODE)
PidTagStateOrProvince = Tag(0x3A28, T.PT_UNICODE)
PidTagPostalCode = Tag(0x3A2A, T.PT_UNICODE)
PidTagCountry = Tag(0x3A26, T.PT_UNICODE)
PidTagHomeAddressStreet = Tag(0x3A5D, T.PT_UNICODE)
PidTagHomeAddressCity = Tag(0x3A59, T.PT_UNICODE)
PidTagHomeAddressStateOrProvince = Tag(0x3A5C, T.PT_UNICODE)
PidTagHomeAddressPostalCode = Tag(0x3A5B, T.PT_UNICODE)
PidTagHomeAddressCountry = Tag(0x3A5A, T.PT_UNICODE)
PidTagOtherAddressStreet = Tag(0x3A63, T.PT_UNICODE)
PidTagOtherAddressCity = Tag(0x3A5F, T.PT_UNICODE)
PidTagOtherAddressStateOrProvince = Tag(0x3A62, T.PT_UNICODE)
PidTagOtherAddressPostalCode = Tag(0x3A61, T.PT_UNICODE)
PidTagOtherAddressCountry = Tag(0x3A60, T.PT_UNICODE)

# --- named properties (MS-OXPROPS) -----------------------------------------------------
PidNameKeywords = Named(PS_PUBLIC_STRINGS, "Keywords", T.PT_MV_UNICODE)  # categories
PidLidFlagRequest = Named(PSETID_Common, 0x8530, T.PT_UNICODE)
PidLidReminderSet = Named(PSETID_Common, 0x8503, T.PT_BOOLEAN)
PidLidReminderTime = Named(PSETID_Common, 0x8502, T.PT_SYSTIME)
PidLidReminderDelta = Named(PSETID_Common, 0x8501, T.PT_LONG)
PidLidReminderSignalTime = Named(PSETID_Common, 0x8560, T.PT_SYSTIME)
PidLidCommonStart = Named(PSETID_Common, 0x8516, T.PT_SYSTIME)
PidLidCommonEnd = Named(PSETID_Common, 0x8517, T.PT_SYSTIME)
PidLidToDoTitle = Named(PSETID_Common, 0x85A4, T.PT_UNICODE)
PidLidPrivate = Named(PSETID_Common, 0x8506, T.PT_BOOLEAN)
PidLidCategories = PidNameKeywords
PidLidTaskStartDate = Named(PSETID_Task, 0x8104, T.PT_SYSTIME)
PidLidTaskDueDate = Named(PSETID_Task, 0x8105, T.PT_SYSTIME)
PidLidTaskDateCompleted = Named(PSETID_Task, 0x810F, T.PT_SYSTIME)
PidLidTaskStatus = Named(PSETID_Task, 0x8101, T.PT_LONG)
PidLidPercentComplete = Named(PSETID_Task, 0x8102, T.PT_DOUBLE)
PidLidTaskComplete = Named(PSETID_Task, 0x811C, T.PT_BOOLEAN)
PidLidTaskRecurrence = Named(PSETID_Task, 0x8116, T.PT_BINARY)
PidLidTaskFRecurring = Named(PSETID_Task, 0x8126, T.PT_BOOLEAN)
PidLidTaskOwner = Named(PSETID_Task, 0x811F, T.PT_UNICODE)
PidLidTaskActualEffort = Named(PSETID_Task, 0x8110, T.PT_LONG)
PidLidTaskEstimatedEffort = Named(PSETID_Task, 0x8111, T.PT_LONG)
PidLidAppointmentStartWhole = Named(PSETID_Appointment, 0x820D, T.PT_SYSTIME)
PidLidAppointmentEndWhole = Named(PSETID_Appointment, 0x820E, T.PT_SYSTIME)
PidLidAppointmentSubType = Named(PSETID_Appointment, 0x8215, T.PT_BOOLEAN)  # all-day
PidLidBusyStatus = Named(PSETID_Appointment, 0x8205, T.PT_LONG)
PidLidLocation = Named(PSETID_Appointment, 0x8208, T.PT_UNICODE)
PidLidRecurring = Named(PSETID_Appointment, 0x8223, T.PT_BOOLEAN)
PidLidAppointmentRecur = Named(PSETID_Appointment, 0x8216, T.PT_BINARY)
PidLidRecurrencePattern = Named(PSETID_Appointment, 0x8232, T.PT_UNICODE)
PidLidTimeZoneStruct = Named(PSETID_Appointment, 0x8233, T.PT_BINARY)
PidLidTimeZoneDescription = Named(PSETID_Appointment, 0x8234, T.PT_UNICODE)
PidLidAppointmentTimeZoneDefinitionStartDisplay = Named(PSETID_Appointment, 0x825E, T.PT_BINARY)
PidLidAppointmentTimeZoneDefinitionEndDisplay = Named(PSETID_Appointment, 0x825F, T.PT_BINARY)
PidLidAppointmentTimeZoneDefinitionRecur = Named(PSETID_Appointment, 0x8260, T.PT_BINARY)
PidLidAppointmentStateFlags = Named(PSETID_Appointment, 0x8217, T.PT_LONG)
PidLidResponseStatus = Named(PSETID_Appointment, 0x8218, T.PT_LONG)
PidLidAppointmentDuration = Named(PSETID_Appointment, 0x8213, T.PT_LONG)
PidLidOrganizerAlias = Named(PSETID_Appointment, 0x8243, T.PT_UNICODE)
PidLidClipStart = Named(PSETID_Appointment, 0x8235, T.PT_SYSTIME)
PidLidClipEnd = Named(PSETID_Appointment, 0x8236, T.PT_SYSTIME)
PidLidExceptionReplaceTime = Named(PSETID_Appointment, 0x8228, T.PT_SYSTIME)
# Attendee lists as text (MS-OXOCAL 2.2.1.16-18): what Graph can keep without sending invitations.
PidLidAllAttendeesString = Named(PSETID_Appointment, 0x8238, T.PT_UNICODE)
PidLidToAttendeesString = Named(PSETID_Appointment, 0x823B, T.PT_UNICODE)
PidLidCcAttendeesString = Named(PSETID_Appointment, 0x823C, T.PT_UNICODE)
PidLidGlobalObjectId = Named(PSETID_Meeting, 0x0003, T.PT_BINARY)
PidLidCleanGlobalObjectId = Named(PSETID_Meeting, 0x0023, T.PT_BINARY)
PidLidEmail1DisplayName = Named(PSETID_Address, 0x8080, T.PT_UNICODE)
PidLidEmail1AddressType = Named(PSETID_Address, 0x8082, T.PT_UNICODE)
PidLidEmail1EmailAddress = Named(PSETID_Address, 0x8083, T.PT_UNICODE)
PidLidEmail1OriginalDisplayName = Named(PSETID_Address, 0x8084, T.PT_UNICODE)
PidLidEmail1OriginalEntryId = Named(PSETID_Address, 0x8085, T.PT_BINARY)
PidLidEmail2DisplayName = Named(PSETID_Address, 0x8090, T.PT_UNICODE)
PidLidEmail2AddressType = Named(PSETID_Address, 0x8092, T.PT_UNICODE)
PidLidEmail2EmailAddress = Named(PSETID_Address, 0x8093, T.PT_UNICODE)
PidLidEmail2OriginalDisplayName = Named(PSETID_Address, 0x8094, T.PT_UNICODE)
PidLidEmail3DisplayName = Named(PSETID_Address, 0x80A0, T.PT_UNICODE)
PidLidEmail3AddressType = Named(PSETID_Address, 0x80A2, T.PT_UNICODE)
PidLidEmail3EmailAddress = Named(PSETID_Address, 0x80A3, T.PT_UNICODE)
PidLidEmail3OriginalDisplayName = Named(PSETID_Address, 0x80A4, T.PT_UNICODE)
PidLidFileUnder = Named(PSETID_Address, 0x8005, T.PT_UNICODE)
PidLidWorkAddressStreet = Named(PSETID_Address, 0x8045, T.PT_UNICODE)
PidLidWorkAddressCity = Named(PSETID_Address, 0x8046, T.PT_UNICODE)
PidLidWorkAddressState = Named(PSETID_Address, 0x8047, T.PT_UNICODE)
PidLidWorkAddressPostalCode = Named(PSETID_Address, 0x8048, T.PT_UNICODE)
PidLidWorkAddressCountry = Named(PSETID_Address, 0x8049, T.PT_UNICODE)
PidLidHtml = Named(PSETID_Address, 0x802B, T.PT_UNICODE)  # contact web page
PidLidInstantMessagingAddress = Named(PSETID_Address, 0x8062, T.PT_UNICODE)
PidLidDistributionListMembers = Named(PSETID_Address, 0x8055, T.PT_MV_BINARY)
PidLidDistributionListOneOffMembers = Named(PSETID_Address, 0x8054, T.PT_MV_BINARY)
PidLidDistributionListName = Named(PSETID_Address, 0x8053, T.PT_UNICODE)
PidLidNoteColor = Named(PSETID_Note, 0x8B00, T.PT_LONG)
PidLidNoteWidth = Named(PSETID_Note, 0x8B02, T.PT_LONG)
PidLidNoteHeight = Named(PSETID_Note, 0x8B03, T.PT_LONG)
PidLidLogType = Named(PSETID_Log, 0x8700, T.PT_UNICODE)
PidLidLogStart = Named(PSETID_Log, 0x8706, T.PT_SYSTIME)
PidLidLogEnd = Named(PSETID_Log, 0x8708, T.PT_SYSTIME)
PidLidLogDuration = Named(PSETID_Log, 0x8707, T.PT_LONG)
# used by core/convert (issue 5)
PidLidLogTypeDesc = Named(PSETID_Log, 0x8712, T.PT_UNICODE)
PidLidCompanies = Named(PSETID_Common, 0x8539, T.PT_MV_UNICODE)
PidLidContacts = Named(PSETID_Common, 0x853A, T.PT_MV_UNICODE)
PidLidHasPicture = Named(PSETID_Address, 0x8015, T.PT_BOOLEAN)
PidLidEmail2OriginalEntryId = Named(PSETID_Address, 0x8095, T.PT_BINARY)
PidLidEmail3OriginalEntryId = Named(PSETID_Address, 0x80A5, T.PT_BINARY)
PidLidIntendedBusyStatus = Named(PSETID_Appointment, 0x8224, T.PT_LONG)
PidTagStartDate = Tag(0x0060, T.PT_SYSTIME)
PidTagEndDate = Tag(0x0061, T.PT_SYSTIME)
PidTagRadioTelephoneNumber = Tag(0x3A1D, T.PT_UNICODE)
PidTagCallbackTelephoneNumber = Tag(0x3A02, T.PT_UNICODE)
PidTagIsdnNumber = Tag(0x3A2D, T.PT_UNICODE)
PidTagTelexNumber = Tag(0x3A2C, T.PT_UNICODE)
PidTagTtyTddPhoneNumber = Tag(0x3A4B, T.PT_UNICODE)
PidTagPrimaryFaxNumber = Tag(0x3A23, T.PT_UNICODE)
PidTagChildrensNames = Tag(0x3A58, T.PT_MV_UNICODE)
PidTagReplyRecipientNames = Tag(0x0050, T.PT_UNICODE)
PidTagReplyRecipientEntries = Tag(0x004F, T.PT_BINARY)
PidNamePstImportSourceKey = Named(PSETID_PstImport, "PstImportSourceKey", T.PT_UNICODE)
# The source stamp as an internet header inside the MIME we give Graph's importMime, which takes no
# extended properties: Exchange promotes X- headers to PS_INTERNET_HEADERS named properties (names
# case-insensitive, kept lower-case, MS-OXCMAIL 2.2.3.2.x / MS-OXCPRPT), so an imported item is
# findable by its stamp from the moment it exists, before the stamp property itself is PATCHed on.
SOURCE_KEY_HEADER = "X-PstImport-SourceKey"
PidNamePstImportSourceKeyHeader = Named(PS_INTERNET_HEADERS, SOURCE_KEY_HEADER.lower(), T.PT_UNICODE)

# --- well-known values -----------------------------------------------------------------
# PidTagMessageFlags bits (MS-OXCMSG 2.2.1.6)
MSGFLAG_READ = 0x0001
MSGFLAG_UNMODIFIED = 0x0002
MSGFLAG_SUBMIT = 0x0004
MSGFLAG_UNSENT = 0x0008
MSGFLAG_HASATTACH = 0x0010
MSGFLAG_FROMME = 0x0020
MSGFLAG_ASSOCIATED = 0x0040
MSGFLAG_RESEND = 0x0080

# PidTagRecipientType (MS-OXOMSG 2.2.3.1)
MAPI_ORIG = 0
MAPI_TO = 1
MAPI_CC = 2
MAPI_BCC = 3
MAPI_P1 = 0x10000000  # resend flag bit

# PidTagAttachMethod (MS-OXCMSG 2.2.2.9)
afNone = 0
afByValue = 1
afByReference = 2
afByReferenceOnly = 4
afEmbeddedMessage = 5
afStorage = 6
afByWebReference = 7

# PidTagAttachFlags (MS-OXCMSG 2.2.2.18)
ATT_INVISIBLE_IN_HTML = 0x1
ATT_INVISIBLE_IN_RTF = 0x2
ATT_MHTML_REF = 0x4

# PidTagImportance, PidTagSensitivity (MS-OXCMSG 2.2.1.11, 2.2.1.13)
IMPORTANCE_LOW = 0
IMPORTANCE_NORMAL = 1
IMPORTANCE_HIGH = 2
SENSITIVITY_NONE = 0
SENSITIVITY_PERSONAL = 1
SENSITIVITY_PRIVATE = 2
SENSITIVITY_CONFIDENTIAL = 3

# PidTagFlagStatus (MS-OXOFLAG 2.2.1.1)
followupComplete = 0x1
followupFlagged = 0x2

# PidTagLastVerbExecuted (MS-OXOMSG 2.2.1.37)
NOTEIVERB_REPLYTOSENDER = 102
NOTEIVERB_REPLYTOALL = 103
NOTEIVERB_FORWARD = 104

# PidTagIconIndex values used for replied / forwarded mail (MS-OXOMSG 2.2.1.10)
ICON_MAIL_READ = 0x00000100
ICON_MAIL_UNREAD = 0x00000101
ICON_MAIL_REPLIED = 0x00000105
ICON_MAIL_FORWARDED = 0x00000106

# PidTagObjectType (MS-OXCPRPT, mapidefs.h)
MAPI_STORE = 0x1
MAPI_FOLDER = 0x3
MAPI_MESSAGE = 0x5
MAPI_MAILUSER = 0x6
MAPI_ATTACH = 0x7
MAPI_DISTLIST = 0x8

# Outlook profiles (mspst.h): the file of a PST/OST store provider's profile section. The Windows
# registry keeps each profile property as a value named "<type><id>" in hex, i.e. "001f6700".
PR_PST_PATH_W = Tag(0x6700, T.PT_UNICODE)

# Address types (MS-OXCDATA 2.2.5)
ADDRTYPE_SMTP = "SMTP"
ADDRTYPE_EX = "EX"

__all__ = [name for name in dir() if not name.startswith("_") and name not in {"annotations", "uuid", "dataclass", "T"}]
