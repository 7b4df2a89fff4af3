"""Verification: per-folder counts (PST selection, imported, mailbox, stamped) and the reports.

`verify_run` is called by the engine at the end of a run with the run's own counts;
`recount_report` by `pstimport verify` (`core.engine.recount`), which recounts the selection from
the PSTs and takes `imported` from the journal. Both count the mailbox side the same way: the
folder's item count, and the distinct items that carry a stamp of this PST (a stamp on two items is
a duplicate, reported as a mismatch). This package sits below the engine: it never imports it.
"""

from core.verify.counts import recount_report, verify_run
from core.verify.report import render_html, write_reports

__all__ = ["recount_report", "render_html", "verify_run", "write_reports"]
