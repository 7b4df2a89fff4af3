"""Secrets with a real keyring backend: cached, prompted, stdin, environment, and no backend at all."""

from __future__ import annotations

import io
import logging
import stat
from pathlib import Path

import keyring
import pytest
from keyring.backends import chainer, fail
from keyrings.cryptfile.file import PlaintextKeyring

from core.errors import SecretError
from core.profile import Profile, load_profile
from core.profile import secrets as S
from tests.profile.conftest import KEYRING_PASSWORD, VALID_ONLINE, VALID_ONPREM, fast_cryptfile

PASSWORD = "Tr0ub4dor&3-test-only"


class Prompt:
    """A prompt callable that answers from a list and records what it was asked."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def __call__(self, text: str) -> str:
        self.asked.append(text)
        return self.answers.pop(0)


@pytest.fixture
def onprem(write_profile) -> Profile:
    return load_profile(write_profile(VALID_ONPREM))


@pytest.fixture
def online(write_profile) -> Profile:
    return load_profile(write_profile(VALID_ONLINE))


def no_prompt(text: str) -> str:
    raise AssertionError(f"unexpected prompt: {text}")


# ----- cached in the keyring --------------------------------------------------------------------


def test_cached_in_keyring(onprem: Profile, cryptfile_keyring, tmp_path: Path) -> None:
    """A stored password is found in the keyring at run time, under service pstimport and the derived key."""
    where = S.store_secret(onprem, "password", PASSWORD, env={})
    assert "encrypted file" in where
    found = S.lookup_secret(onprem, env={}, interactive=False, prompt=no_prompt)
    assert (found.value, found.source) == (PASSWORD, "keyring")
    key = "password:on-premises:https://mail.example.com/EWS/Exchange.asmx:svc@example.com"
    assert S.secret_key(onprem, "password") == key
    # a fresh backend on the same file, unlocked with the same password, sees it: it really is on disk
    again = fast_cryptfile(tmp_path / "keyring.cfg")
    assert again.get_password("pstimport", key) == PASSWORD
    assert PASSWORD.encode() not in (tmp_path / "keyring.cfg").read_bytes()


def test_client_secret_keyed_by_app(online: Profile, cryptfile_keyring) -> None:
    """An app's client secret is keyed by tenant and client ID, and resolved for oauth-app profiles."""
    S.store_secret(online, "client_secret", "app-secret-value", env={})
    assert S.secret_key(online, "client_secret") == (
        "client_secret:contoso.onmicrosoft.com:6731de76-14a6-49ae-97bc-6eba6914391e"
    )
    assert S.resolve_secret(online, env={}, interactive=False) == "app-secret-value"
    assert S.required_secrets(online) == ["client_secret"]


def test_keys_differ_per_connection(write_profile) -> None:
    """Two connections (other server or user) never share a keyring entry."""
    a = load_profile(write_profile(VALID_ONPREM, "a.yaml"))
    b = load_profile(write_profile(VALID_ONPREM.replace("mail.example.com", "mail2.example.com"), "b.yaml"))
    c = load_profile(write_profile(VALID_ONPREM.replace("svc@", "other@"), "c.yaml"))
    keys = {S.secret_key(p, "password") for p in (a, b, c)}
    assert len(keys) == 3


def test_delete_secret(onprem: Profile, cryptfile_keyring) -> None:
    """forget: a deleted secret is gone, and deleting again says there was none."""
    S.store_secret(onprem, "password", PASSWORD, env={})
    assert S.delete_secret(onprem, "password", env={}) is True
    assert S.delete_secret(onprem, "password", env={}) is False
    assert S.secret_status(onprem, "password", env={}).state == "missing"


# ----- prompted -----------------------------------------------------------------------------------


def test_prompted_each_run_when_not_cached(write_profile, cryptfile_keyring, tmp_path: Path) -> None:
    """With cache_password: false the keyring is neither read nor written: the prompt answers."""
    text = VALID_ONPREM.replace(
        "    username: svc@example.com\n", "    username: svc@example.com\n    cache_password: false\n"
    )
    profile = load_profile(write_profile(text))
    S.store_secret(profile, "password", "stale-cached-value", env={})
    before = (tmp_path / "keyring.cfg").read_bytes()
    prompt = Prompt(PASSWORD)
    found = S.lookup_secret(profile, env={}, interactive=True, prompt=prompt)
    assert (found.value, found.source) == (PASSWORD, "prompt")
    assert prompt.asked == ["The password for svc@example.com (on-premises): "]
    assert (tmp_path / "keyring.cfg").read_bytes() == before


def test_prompted_when_missing_and_not_stored_by_itself(onprem: Profile, cryptfile_keyring) -> None:
    """Missing from the keyring and at a terminal: asked for, and not stored until the caller says so."""
    found = S.lookup_secret(onprem, env={}, interactive=True, prompt=Prompt(PASSWORD))
    assert (found.value, found.source) == (PASSWORD, "prompt")
    assert cryptfile_keyring.get_password("pstimport", S.secret_key(onprem, "password")) is None


def test_not_cached_and_no_terminal(write_profile, cryptfile_keyring) -> None:
    """Prompting is impossible without a terminal: the error says how to give the secret instead."""
    text = VALID_ONPREM.replace(
        "    username: svc@example.com\n", "    username: svc@example.com\n    cache_password: false\n"
    )
    with pytest.raises(
        SecretError,
        match="asked for on each run and there is no terminal to ask: set PSTIMPORT_PASSWORD or pass --password-st",
    ):
        S.resolve_secret(load_profile(write_profile(text)), env={}, interactive=False, prompt=no_prompt)


def test_nothing_anywhere(onprem: Profile, cryptfile_keyring) -> None:
    """Cached mode with an empty keyring and no terminal names all three ways to give the password."""
    with pytest.raises(SecretError) as exc:
        S.resolve_secret(onprem, env={}, interactive=False, prompt=no_prompt)
    msg = str(exc.value)
    assert "not in the keyring yet" in msg and "--password-stdin" in msg and "PSTIMPORT_PASSWORD" in msg
    assert "profile set-secret" in msg and "\n" not in msg


# ----- stdin and environment ----------------------------------------------------------------------


def test_stdin(onprem: Profile, cryptfile_keyring) -> None:
    """--password-stdin's first line (without its newline) wins over the environment and the keyring."""
    S.store_secret(onprem, "password", "from-keyring", env={})
    found = S.lookup_secret(
        onprem, stdin=io.StringIO(PASSWORD + "\r\nignored\n"), env={"PSTIMPORT_PASSWORD": "from-env"}, interactive=False
    )
    assert (found.value, found.source) == (PASSWORD, "stdin")


def test_empty_stdin(onprem: Profile) -> None:
    """An empty standard input is an error, not an empty password."""
    with pytest.raises(SecretError, match="nothing was given on standard input"):
        S.resolve_secret(onprem, stdin=io.StringIO(""), env={}, interactive=False)


def test_environment(onprem: Profile, online: Profile, cryptfile_keyring) -> None:
    """PSTIMPORT_PASSWORD / PSTIMPORT_CLIENT_SECRET win over the keyring."""
    S.store_secret(onprem, "password", "from-keyring", env={})
    found = S.lookup_secret(onprem, env={"PSTIMPORT_PASSWORD": PASSWORD}, interactive=False)
    assert (found.value, found.source) == (PASSWORD, "environment")
    assert S.resolve_secret(online, env={"PSTIMPORT_CLIENT_SECRET": "cs"}, interactive=False) == "cs"


def test_environment_works_without_keyring(onprem: Profile, set_keyring) -> None:
    """Automation on a box with no keyring at all works from the environment."""
    set_keyring(fail.Keyring())
    assert S.resolve_secret(onprem, env={"PSTIMPORT_PASSWORD": PASSWORD}, interactive=False) == PASSWORD


def test_secret_not_in_repr(onprem: Profile) -> None:
    """A resolved secret's repr never shows its value (tracebacks, debuggers, logs)."""
    found = S.lookup_secret(onprem, env={"PSTIMPORT_PASSWORD": PASSWORD}, interactive=False)
    assert PASSWORD not in repr(found) and "hidden" in repr(found)


# ----- no usable keyring --------------------------------------------------------------------------


def test_no_backend_headless(onprem: Profile, set_keyring) -> None:
    """keyring's fail backend: said plainly, offering the encrypted file and prompting."""
    set_keyring(fail.Keyring())
    with pytest.raises(SecretError) as exc:
        S.resolve_secret(onprem, env={}, interactive=False, prompt=no_prompt)
    msg = str(exc.value)
    # one short line naming the fix (it was a 480-character paragraph)
    assert msg == (
        "the password for svc@example.com is not available (this machine has no usable OS keyring): "
        "set PSTIMPORT_PASSWORD or pass --password-stdin"
    )
    with pytest.raises(S.KeyringUnavailable):
        S.store_secret(onprem, "password", PASSWORD, env={})


def test_no_backend_interactive_prompts(onprem: Profile, set_keyring, caplog) -> None:
    """At a terminal with no keyring, the user is told why and asked for the password."""
    set_keyring(fail.Keyring())
    with caplog.at_level(logging.WARNING):
        found = S.lookup_secret(onprem, env={}, interactive=True, prompt=Prompt(PASSWORD))
    assert found.source == "prompt" and found.value == PASSWORD
    assert "no OS keyring is available" in caplog.text and PASSWORD not in caplog.text


def test_chainer_of_file_backends_is_not_an_os_keyring(onprem: Profile, set_keyring, tmp_path, monkeypatch) -> None:
    """keyring's default chain on a headless box (only file backends) is refused, and nothing is written."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    chain = chainer.ChainerBackend()
    if any(S._backend_kind(b) == "os" for b in chain.backends):
        pytest.skip("this machine has an OS keyring, so keyring's chain is usable here")
    set_keyring(chain)
    with pytest.raises(S.KeyringUnavailable, match="no OS keyring is available"):
        S.store_secret(onprem, "password", PASSWORD, env={})
    assert not (tmp_path / "data").exists()


def test_plaintext_backend_refused(onprem: Profile, set_keyring, tmp_path: Path) -> None:
    """A plain-text backend, even when configured, is refused: never a silent plaintext fallback."""
    plain = PlaintextKeyring()
    plain.file_path = str(tmp_path / "plain.cfg")
    set_keyring(plain)
    with pytest.raises(S.KeyringUnavailable, match="plain text, which pstimport refuses"):
        S.store_secret(onprem, "password", PASSWORD, env={})
    assert not (tmp_path / "plain.cfg").exists()


def test_keyring_turned_off(onprem: Profile, cryptfile_keyring) -> None:
    """PSTIMPORT_KEYRING=none never touches the keyring; an unknown value is an error."""
    with pytest.raises(S.KeyringUnavailable, match="turned off"):
        S.store_secret(onprem, "password", PASSWORD, env={"PSTIMPORT_KEYRING": "none"})
    with pytest.raises(SecretError, match="not one of: system, cryptfile, none"):
        S.store_secret(onprem, "password", PASSWORD, env={"PSTIMPORT_KEYRING": "gnome"})


# ----- the encrypted file offered on headless boxes ----------------------------------------------


def cryptfile_env(tmp_path: Path, password: str | None = KEYRING_PASSWORD) -> dict[str, str]:
    env = {"PSTIMPORT_KEYRING": "cryptfile", "PSTIMPORT_KEYRING_FILE": str(tmp_path / "kr" / "keyring.cfg")}
    if password:
        env["PSTIMPORT_KEYRING_PASSWORD"] = password
    return env


def test_cryptfile_opt_in(onprem: Profile, set_keyring, tmp_path: Path) -> None:
    """PSTIMPORT_KEYRING=cryptfile stores in an encrypted, owner-only file and reads it back."""
    set_keyring(fail.Keyring())  # no OS keyring at all
    env = cryptfile_env(tmp_path)
    S.store_secret(onprem, "password", PASSWORD, env=env)
    path = tmp_path / "kr" / "keyring.cfg"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert PASSWORD.encode() not in path.read_bytes()
    assert S.resolve_secret(onprem, env=env, interactive=False, prompt=no_prompt) == PASSWORD
    assert S.secret_status(onprem, "password", env=env).state == "keyring"


def test_cryptfile_locked_and_wrong_password(onprem: Profile, tmp_path: Path) -> None:
    """The encrypted file needs its password: locked without a terminal, refused when wrong."""
    S.store_secret(onprem, "password", PASSWORD, env=cryptfile_env(tmp_path))
    with pytest.raises(
        SecretError, match="in the encrypted keyring file .* which is locked: set PSTIMPORT_KEYRING_PASS"
    ):
        S.resolve_secret(onprem, env=cryptfile_env(tmp_path, None), interactive=False, prompt=no_prompt)
    with pytest.raises(SecretError, match="wrong password for the encrypted keyring file"):
        S.resolve_secret(onprem, env=cryptfile_env(tmp_path, "not-it"), interactive=False)
    status = S.secret_status(onprem, "password", env=cryptfile_env(tmp_path, None))
    assert status.state == "keyring" and "locked, so not decrypted" in status.detail
    other = load_profile(onprem.path).model_copy(deep=True)
    other.connection.auth.username = "someone-else@example.com"
    assert S.secret_status(other, "password", env=cryptfile_env(tmp_path, None)).state == "missing"


def test_cryptfile_prompts_for_its_password(onprem: Profile, tmp_path: Path) -> None:
    """At a terminal the encrypted file's password is asked for (twice when the file is new)."""
    env = cryptfile_env(tmp_path, None)
    prompt = Prompt(KEYRING_PASSWORD, KEYRING_PASSWORD)
    S.store_secret(onprem, "password", PASSWORD, env=env, interactive=True, prompt=prompt)
    assert len(prompt.asked) == 2 and "encrypted keyring file" in prompt.asked[0]
    prompt = Prompt(KEYRING_PASSWORD)
    assert S.resolve_secret(onprem, env=env, interactive=True, prompt=prompt) == PASSWORD
    assert len(prompt.asked) == 1


# ----- status for `profile show` ------------------------------------------------------------------


def test_status(onprem: Profile, cryptfile_keyring, set_keyring) -> None:
    """secret_status tells where the secret would come from without revealing or prompting."""
    assert S.secret_status(onprem, "password", env={}).state == "missing"
    S.store_secret(onprem, "password", PASSWORD, env={})
    st = S.secret_status(onprem, "password", env={})
    assert st.state == "keyring" and PASSWORD not in repr(st)
    assert S.secret_status(onprem, "password", env={"PSTIMPORT_PASSWORD": "x"}).state == "environment"
    set_keyring(fail.Keyring())
    assert S.secret_status(onprem, "password", env={}).state == "no-keyring"


def test_device_code_needs_no_secret(write_profile) -> None:
    """oauth-device stores nothing; a certificate password is optional."""
    text = VALID_ONLINE.replace("method: oauth-app", "method: oauth-device")
    p = load_profile(write_profile(text))
    assert S.primary_secret(p) is None and S.required_secrets(p) == []
    with pytest.raises(SecretError, match="signs in without a stored secret"):
        S.resolve_secret(p, env={}, interactive=False)
    cert = VALID_ONLINE.replace("  impersonation:", "    certificate: sample.pst\n  impersonation:")
    pc = load_profile(write_profile(cert, "cert.yaml"))
    assert S.primary_secret(pc) == "certificate_password" and S.required_secrets(pc) == []
    assert S.lookup_secret(pc, env={"PSTIMPORT_KEYRING": "none"}, interactive=False, optional=True) is None


def test_process_keyring_untouched_by_tests_elsewhere() -> None:
    """Sanity: the fixtures restore the process keyring (no cryptfile left set)."""
    assert S._backend_kind(keyring.get_keyring()) != "encrypted-file"


# ----- the profile says which keyring ---------------------------------------------------------------


def test_profile_keyring_encrypted_file_needs_no_environment_switch(write_profile, set_keyring, tmp_path, monkeypatch):
    """A profile with keyring: encrypted-file stores and finds its secret in the encrypted file with no
    PSTIMPORT_KEYRING set (only the file's own password), on a machine with no OS keyring."""
    set_keyring(fail.Keyring())
    text = VALID_ONPREM.replace(
        "    username: svc@example.com", "    username: svc@example.com\n    keyring: encrypted-file"
    )
    prof = load_profile(write_profile(text))
    assert prof.connection.auth.keyring == "encrypted-file"
    env = {"PSTIMPORT_KEYRING_FILE": str(tmp_path / "kr.cfg"), "PSTIMPORT_KEYRING_PASSWORD": KEYRING_PASSWORD}
    monkeypatch.setattr(S, "default_keyring_file", lambda e=None: tmp_path / "kr.cfg")
    where = S.store_secret(prof, "password", PASSWORD, env=env)
    assert "encrypted file" in where and (tmp_path / "kr.cfg").is_file()
    assert S.resolve_secret(prof, env=env, interactive=False, prompt=no_prompt) == PASSWORD
    locked = {"PSTIMPORT_KEYRING_FILE": str(tmp_path / "kr.cfg")}
    with pytest.raises(SecretError) as exc:
        S.resolve_secret(prof, env=locked, interactive=False, prompt=no_prompt)
    assert str(exc.value).endswith("which is locked: set PSTIMPORT_KEYRING_PASSWORD") and len(str(exc.value)) < 200


def test_keyring_options_offer_the_os_keyring_only_where_one_works(set_keyring, cryptfile_keyring):
    """With no OS keyring the wizard is offered only the encrypted file; PSTIMPORT_KEYRING=none offers nothing."""
    set_keyring(fail.Keyring())
    options = S.keyring_options({})
    assert [o.keyring for o in options] == ["encrypted-file"] and options[0].needs_password
    assert S.keyring_options({"PSTIMPORT_KEYRING": "none"}) == []
    assert not S.keyring_options({"PSTIMPORT_KEYRING_PASSWORD": "x"})[0].needs_password


def test_headless_error_when_asked_each_run_is_one_short_line(write_profile):
    """cache_password: false and no terminal: one line under 150 characters naming the two fixes."""
    text = VALID_ONPREM.replace(
        "    username: svc@example.com", "    username: svc@example.com\n    cache_password: false"
    )
    prof = load_profile(write_profile(text))
    with pytest.raises(SecretError) as exc:
        S.resolve_secret(prof, env={}, interactive=False, prompt=no_prompt)
    msg = str(exc.value)
    assert "PSTIMPORT_PASSWORD" in msg and "--password-stdin" in msg and len(msg) < 150, msg
