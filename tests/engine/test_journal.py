"""The run journal's item states on a real SQLite file."""

from __future__ import annotations

from core.engine.journal import ROWS_PER_STATEMENT, Journal


def test_states_round_trip_across_multi_row_statements(tmp_path):
    """Batches larger than one statement's rows land whole; re-sending a done stamp makes it 'sending' again."""
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    stamps = [(f"key:{i}", 100 + i) for i in range(ROWS_PER_STATEMENT * 2 + 3)]
    journal.mark_sending("F1", "Inbox", stamps)
    journal.mark_done([(s, f"id-{s}") for s, _ in stamps[: ROWS_PER_STATEMENT + 1]])
    journal.mark_failed([(stamps[-1][0], "refused")])
    journal.mark_sending("F1", "Inbox", stamps[:1])
    journal.close()

    journal = Journal(path)  # what a resumed run reads
    try:
        assert journal.count("F1", "done") == ROWS_PER_STATEMENT
        assert journal.count("F1", "failed") == 1
        assert len(journal.in_flight()["F1"]) == len(stamps) - ROWS_PER_STATEMENT - 1
        assert journal.done_in("F1") == {s for s, _ in stamps[1 : ROWS_PER_STATEMENT + 1]}
    finally:
        journal.close()


def test_done_rows_found_by_a_scan_are_created(tmp_path):
    """mark_done of stamps the journal never saw (found in the mailbox) creates them as done in that folder."""
    journal = Journal(tmp_path / "j.sqlite")
    try:
        journal.mark_done([("a:1", "id1"), ("a:2", "id2")], "F2")
        journal.mark_done([], "F2")
        assert journal.done_in("F2") == {"a:1", "a:2"} and journal.in_flight() == {}
    finally:
        journal.close()
