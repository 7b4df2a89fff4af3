"""Verification: per-folder counts (PST selection, imported, mailbox, stamped) and the reports.

`verify_run` is called at the end of a run with the run's own counts; `verify_profile` (the
`pstimport verify` command) recounts the selection from the PSTs and takes `imported` from the
journal. Both count the mailbox side the same way: the folder's item count, and the items that
carry a stamp of this PST (a stamp found twice is a duplicate, reported as a mismatch).
"""

from core.verify.counts import verify_profile, verify_run
from core.verify.report import render_html, write_reports

__all__ = ["render_html", "verify_profile", "verify_run", "write_reports"]
