"""A PST writer for tests and demos: `make-pst` writes sample PSTs and their ground truth.

Layers follow [MS-PST]: `ndb` (blocks, B-trees, allocation maps, header), `ltp` (heap,
BTH, property and table contexts), `messaging` (store, folders, messages), and `content`
(the seeded generator of realistic and scale mailboxes with their ground truth).
"""

from core.sandbox.pstwriter.content import generate
from core.sandbox.pstwriter.messaging import Attachment, FolderHandle, Message, PstWriter

__all__ = ["Attachment", "FolderHandle", "Message", "PstWriter", "generate"]
