"""The gromox fixture itself: a private instance answers plain exchangelib, and leases never share a mailbox."""

from __future__ import annotations


def test_leased_mailboxes_are_private_and_answer_exchangelib(gromox_server) -> None:
    """Two leases are two different, empty mailboxes that plain exchangelib can sign in to."""
    from tests.gromox import exchangelib_account

    a, b = gromox_server.lease(), gromox_server.lease()
    assert a.email != b.email
    for mb in (a, b):
        acc = exchangelib_account(mb)
        assert acc.inbox.all().count() == 0
        assert acc.version.build.major_version == 15
