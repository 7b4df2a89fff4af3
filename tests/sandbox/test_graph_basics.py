"""The sandbox's Graph front end: routing, Bearer authentication, mailbox access and the error shape."""

from __future__ import annotations

import httpx

from tests.sandbox.conftest import ALICE, APP_ID, BOB, SERVICE

GUID = "4a3b1f4e-6c2d-4e8a-9f17-2d5c8b0e7a61"


def assert_error(reply: httpx.Response, status: int, code: str) -> dict:
    """The reply is Graph's error JSON with this status and code."""
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["code"] == code, error
    assert error["message"] and error["innerError"]["request-id"]
    return error


def test_no_token_is_401_with_graph_error(graph):
    """A request without a Bearer token gets 401 InvalidAuthenticationToken as JSON, with a Bearer challenge."""
    bare = graph.client(None)
    reply = bare.get(f"/users/{ALICE}/mailFolders")
    assert_error(reply, 401, "InvalidAuthenticationToken")
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_and_expired_tokens_are_401(graph):
    """A token the sandbox never issued, and one that expired, are both refused."""
    assert_error(graph.client("made-up").get(f"/users/{ALICE}"), 401, "InvalidAuthenticationToken")
    expired = graph.sb.mint_token(APP_ID, kind="app", lifetime_s=-1)
    error = assert_error(graph.client(expired).get(f"/users/{ALICE}"), 401, "InvalidAuthenticationToken")
    assert "expired" in error["message"]


def test_token_from_the_token_endpoint_works(graph):
    """A client-credentials token from the sandbox's OAuth endpoint is accepted by the Graph front end."""
    from tests.sandbox.conftest import APP_SECRET

    form = {"grant_type": "client_credentials", "client_id": APP_ID, "client_secret": APP_SECRET,
            "scope": "https://graph.microsoft.com/.default"}  # fmt: skip
    token = httpx.post(graph.sb.token_url("contoso"), data=form, timeout=10).json()["access_token"]
    reply = graph.client(token).get(f"/users/{BOB}/mailFolders/inbox")
    assert reply.status_code == 200 and reply.json()["displayName"] == "Inbox"


def test_app_token_reaches_every_mailbox(graph):
    """An app-only token acts on any mailbox of the tenant (Mail.ReadWrite application permission)."""
    for address in (ALICE, BOB):
        assert graph.app.get(f"/users/{address}/mailFolders/inbox").status_code == 200


def test_user_token_own_mailbox_only_unless_granted(graph):
    """A delegated token reaches its own mailbox; another one only when granted."""
    bob = graph.as_user(BOB)
    assert bob.get(f"/users/{BOB}/mailFolders/inbox").status_code == 200
    assert_error(bob.get(f"/users/{ALICE}/mailFolders/inbox"), 403, "ErrorAccessDenied")
    service = graph.as_user(SERVICE)  # impersonate_all in the store
    assert service.get(f"/users/{ALICE}/mailFolders/inbox").status_code == 200
    graph.sb.store.grant_impersonation(BOB, [ALICE])
    assert bob.get(f"/users/{ALICE}/mailFolders/inbox").status_code == 200


def test_me_needs_a_delegated_token(graph):
    """/me is the signed-in user's mailbox; with an app token it is a 400."""
    me = graph.as_user(ALICE).get("/me/mailFolders/inbox")
    assert me.status_code == 200 and "alice" in me.json()["@odata.context"]
    error = assert_error(graph.app.get("/me/mailFolders/inbox"), 400, "BadRequest")
    assert "delegated" in error["message"]


def test_unknown_user_and_segment(graph):
    """An unknown mailbox is 404 ErrorInvalidUser; an unknown path segment is 400 BadRequest."""
    assert_error(graph.app.get("/users/nobody@sandbox.test/mailFolders"), 404, "ErrorInvalidUser")
    assert_error(graph.app.get(f"/users/{ALICE}/noSuchThing"), 400, "BadRequest")


def test_user_by_upn_and_by_object_id(graph):
    """GET /users/{upn} answers a user whose id also works as the path key."""
    user = graph.app.get(f"/users/{ALICE}").json()
    assert user["userPrincipalName"] == ALICE and user["mail"] == ALICE
    again = graph.app.get(f"/users/{user['id']}/mailFolders/inbox")
    assert again.status_code == 200 and f"users('{ALICE.replace('@', '%40')}')" in again.json()["@odata.context"]


def test_mailbox_settings(graph):
    """mailboxSettings answers the preflight's needs: time zone, language, the Archive folder's id."""
    settings = graph.app.get(f"/users/{ALICE}/mailboxSettings").json()
    assert settings["timeZone"] and settings["language"]["locale"]
    archive = graph.app.get(f"/users/{ALICE}/mailFolders/archive").json()
    assert settings["archiveFolder"] == archive["id"]


def test_archive_mailbox_is_out_of_reach(graph):
    """beta settings/exchange names the In-Place Archive, but the mail API cannot address it (use EWS)."""
    settings = graph.beta.get(f"/users/{ALICE}/settings/exchange").json()
    assert settings["primaryMailboxId"] and settings["inPlaceArchiveMailboxId"]
    assert "inPlaceArchiveMailboxId" not in graph.beta.get(f"/users/{BOB}/settings/exchange").json()
    assert_error(graph.app.get(f"/users/{ALICE}/settings/exchange"), 400, "BadRequest")  # beta only
    for name in ("archivemsgfolderroot", "archiveinbox"):
        assert_error(graph.app.get(f"/users/{ALICE}/mailFolders/{name}"), 400, "ErrorInvalidIdMalformed")
    # "archive" is the primary mailbox's Archive folder, not the archive mailbox
    assert graph.app.get(f"/users/{ALICE}/mailFolders/archive").json()["displayName"] == "Archive"


def test_malformed_id_and_wrong_method(graph):
    """A made-up folder id is 400 ErrorInvalidIdMalformed; a DELETE where none is served is 405."""
    assert_error(graph.app.get(f"/users/{ALICE}/mailFolders/not-an-id"), 400, "ErrorInvalidIdMalformed")
    assert_error(graph.app.delete(f"/users/{ALICE}/mailFolders/inbox"), 405, "Request_BadRequest")


def test_sandbox_info_names_the_graph_url(graph):
    """The JSON `sandbox serve` prints carries graph_url, the v1.0 root."""
    info = graph.sb.info()
    assert info["graph_url"] == graph.sb.graph_url and info["graph_url"].endswith("/v1.0")


def test_exchanges_are_recorded(graph):
    """Every Graph request is recorded with its operation, mailbox, status and outcome."""
    graph.app.get(f"/users/{BOB}/mailFolders/inbox")
    graph.as_user(BOB).get(f"/users/{ALICE}/mailFolders/inbox")
    recorded = [e for e in graph.sb.exchanges if e.protocol == "graph"]
    assert recorded[-2].operation == "GET get_mail_folder" and recorded[-2].status == 200
    assert recorded[-2].mailbox == BOB and recorded[-2].principal == APP_ID and recorded[-2].outcome == "ok"
    assert (recorded[-1].status, recorded[-1].mailbox, recorded[-1].principal) == (403, ALICE, BOB)
    graph.client(None).get(f"/users/{BOB}")
    assert graph.sb.exchanges[-1].outcome == "unauthenticated" and graph.sb.exchanges[-1].status == 401
