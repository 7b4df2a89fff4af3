"""Secrets for a profile: the password, the client secret, the certificate password.

They never go into a profile, a log, a report or a command line. At run time each comes from,
in this order:

1. `--password-stdin` (the first line of standard input; for the profile's main secret);
2. an environment variable: PSTIMPORT_PASSWORD, PSTIMPORT_CLIENT_SECRET, PSTIMPORT_CERTIFICATE_PASSWORD;
3. the keyring, when `cache_password` is true: service `pstimport`, under a key derived from the
   connection (see `secret_key`);
4. a prompt that does not echo (getpass), when a person is at the terminal.

Which keyring: the OS's own (Secret Service, KWallet, macOS Keychain, Windows Credential
Locker), as `keyring` finds it. A headless SSH box usually has none; we then say so and offer
an encrypted file instead, `PSTIMPORT_KEYRING=cryptfile` (keyrings.cryptfile: AES-GCM with an
Argon2 key from a password of its own, taken from PSTIMPORT_KEYRING_PASSWORD or a prompt), or
prompting on every run (`cache_password: false`). A backend that keeps secrets in plain text
is refused, never used silently. `PSTIMPORT_KEYRING=none` turns the keyring off.
"""

from __future__ import annotations

import getpass
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from core.errors import SecretError
from core.profile.model import Profile

log = logging.getLogger(__name__)

SERVICE = "pstimport"
SECRET_KINDS = ("password", "client_secret", "certificate_password")
ENV_VARS = {
    "password": "PSTIMPORT_PASSWORD",
    "client_secret": "PSTIMPORT_CLIENT_SECRET",
    "certificate_password": "PSTIMPORT_CERTIFICATE_PASSWORD",
}
KEYRING_ENV = "PSTIMPORT_KEYRING"  # system (default) | cryptfile | none
KEYRING_FILE_ENV = "PSTIMPORT_KEYRING_FILE"  # where the cryptfile keyring lives
KEYRING_PASSWORD_ENV = "PSTIMPORT_KEYRING_PASSWORD"  # unlocks the cryptfile keyring without a prompt

Prompt = Callable[[str], str]


class KeyringUnavailable(SecretError):
    """No keyring pstimport is willing to use; the message says what to do instead."""


def _offer(env: Mapping[str, str]) -> str:
    return (
        f"set {KEYRING_ENV}=cryptfile to keep secrets in an encrypted file ({default_keyring_file(env)}, "
        f"locked with a password of its own from {KEYRING_PASSWORD_ENV} or a prompt), or set "
        "cache_password: false in the profile to be asked on each run (or pass --password-stdin, or set "
        "PSTIMPORT_PASSWORD / PSTIMPORT_CLIENT_SECRET)"
    )


def default_keyring_file(env: Mapping[str, str] = os.environ) -> Path:
    """Where `PSTIMPORT_KEYRING=cryptfile` keeps its file unless PSTIMPORT_KEYRING_FILE says otherwise."""
    if env.get(KEYRING_FILE_ENV):
        return Path(env[KEYRING_FILE_ENV]).expanduser()
    base = env.get("XDG_DATA_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".local", "share")
    return Path(base) / "pstimport" / "keyring.cfg"


# ----- which secret, under which key -------------------------------------------------------------


def primary_secret(profile: Profile) -> str | None:
    """The secret the profile's sign-in needs, the one `--password-stdin` gives, or None (device code)."""
    auth = profile.connection.auth
    if auth.method == "password":
        return "password"
    if auth.method == "oauth-app":
        return "certificate_password" if auth.certificate else "client_secret"
    return None


def required_secrets(profile: Profile) -> list[str]:
    """The secrets a run must have. A certificate's password is optional (keys may be unencrypted)."""
    kind = primary_secret(profile)
    return [kind] if kind in ("password", "client_secret") else []


def _check_kind(kind: str) -> None:
    if kind not in SECRET_KINDS:
        raise ValueError(f"unknown secret kind {kind!r}; expected one of {SECRET_KINDS}")


def secret_key(profile: Profile, kind: str) -> str:
    """The keyring user name for a secret: derived from the connection, never secret itself.

    - password: `password:{target}:{ews_url or 'autodiscover'}:{username}`
    - client secret: `client_secret:{tenant_id}:{client_id}` (one app, whatever the mailbox)
    - certificate password: `certificate_password:{absolute certificate path}`
    """
    _check_kind(kind)
    c = profile.connection
    if kind == "password":
        endpoint = c.ews_url if c.discovery == "direct" and c.ews_url else c.discovery
        return f"password:{c.target}:{endpoint}:{(c.auth.username or '').lower()}"
    if kind == "client_secret":
        return f"client_secret:{(c.auth.tenant_id or '').lower()}:{(c.auth.client_id or '').lower()}"
    cert = profile.certificate_path()
    return f"certificate_password:{cert or ''}"


def describe(profile: Profile, kind: str) -> str:
    """A human name for a secret: "the password for matt@example.com"."""
    a = profile.connection.auth
    if kind == "password":
        return f"the password for {a.username or '(no username)'}"
    if kind == "client_secret":
        return f"the client secret of app {a.client_id}"
    return f"the password of certificate {a.certificate}"


# ----- the keyring -------------------------------------------------------------------------------


def _backend_kind(b: KeyringBackend) -> str:
    """none | plaintext | encrypted-file | os"""
    if isinstance(b, (fail.Keyring, null.Keyring)):
        return "none"
    if isinstance(b, chainer.ChainerBackend):
        return "chainer"
    name, module = type(b).__name__, type(b).__module__
    if "plaintext" in name.lower() or "uncrypted" in name.lower():
        return "plaintext"
    if module.startswith("keyrings.cryptfile") or (module.startswith("keyrings.alt") and "Encrypted" in name):
        return "encrypted-file"
    if module.startswith("keyrings.alt"):  # the rest of keyrings.alt is not what an OS keyring promises
        return "plaintext"
    return "os"


def backend_name(b: KeyringBackend) -> str:
    """A short description of a keyring backend for messages: never includes a secret."""
    if _backend_kind(b) == "encrypted-file":
        return f"encrypted file {getattr(b, 'file_path', '?')}"
    return f"{type(b).__module__}.{type(b).__name__}"


def _unlock(b: KeyringBackend, env: Mapping[str, str], interactive: bool, prompt: Prompt) -> None:
    if getattr(b, "_keyring_key", "unknown") is not None:
        return  # not a cryptfile-style backend, or already unlocked
    path = Path(getattr(b, "file_path", "?"))
    key = env.get(KEYRING_PASSWORD_ENV)
    if not key:
        if not interactive:
            locked = SecretError(
                f"the encrypted keyring file {path} is locked: set {KEYRING_PASSWORD_ENV} or run interactively"
            )
            locked.path = path  # type: ignore[attr-defined]
            raise locked
        key = prompt(f"Password for the encrypted keyring file {path}: ")
        if not path.exists():
            again = prompt("The file is new; type its password again: ")
            if again != key:
                raise SecretError("the two keyring passwords differ; nothing was stored")
    if not key or not key.strip():
        raise SecretError(f"no password given for the encrypted keyring file {path}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        b.keyring_key = key  # type: ignore[attr-defined]  # checks it against the file, or creates it
    except ValueError:
        raise SecretError(f"wrong password for the encrypted keyring file {path}") from None
    except OSError as exc:
        raise SecretError(f"cannot use the encrypted keyring file {path}: {exc.strerror or exc}") from None


# The profile's `connection.auth.keyring` values, as PSTIMPORT_KEYRING names them.
PROFILE_KEYRINGS = {"system": "system", "encrypted-file": "cryptfile"}


def keyring_choice(env: Mapping[str, str] = os.environ, preferred: str | None = None) -> str:
    """system | cryptfile | none: PSTIMPORT_KEYRING when set, else the profile's choice, else system."""
    choice = (env.get(KEYRING_ENV) or "").strip().lower()
    if not choice:
        choice = PROFILE_KEYRINGS.get(preferred or "system", preferred or "system")
    return PROFILE_KEYRINGS.get(choice, choice)


def open_keyring(
    env: Mapping[str, str] = os.environ,
    *,
    interactive: bool = False,
    prompt: Prompt = getpass.getpass,
    preferred: str | None = None,
) -> KeyringBackend:
    """The keyring to keep secrets in, ready to use.

    `PSTIMPORT_KEYRING` picks it: `system` (default: the OS keyring that `keyring` finds or was
    configured with), `cryptfile` (an encrypted file), or `none`; when it is not set, `preferred`
    (a profile's `connection.auth.keyring`: `system` or `encrypted-file`) does.

    Raises:
        KeyringUnavailable: there is none we may use (no OS keyring, a plain-text backend, or
            `none`); the message offers the encrypted file and prompting.
        SecretError: the encrypted file is locked and there is no way to ask, or the password is wrong.
    """
    choice = keyring_choice(env, preferred)
    if choice == "none":
        raise KeyringUnavailable(
            f"the keyring is turned off ({KEYRING_ENV}=none): set cache_password: false in the profile to be "
            "asked on each run, or pass --password-stdin, or set PSTIMPORT_PASSWORD / PSTIMPORT_CLIENT_SECRET"
        )
    if choice == "cryptfile":
        from keyrings.cryptfile.cryptfile import CryptFileKeyring

        b: KeyringBackend = CryptFileKeyring()
        b.file_path = str(default_keyring_file(env))  # type: ignore[attr-defined]
        _unlock(b, env, interactive, prompt)
        return b
    if choice != "system":
        raise SecretError(f"{KEYRING_ENV}={choice!r} is not one of: system, cryptfile, none")
    configured = keyring.get_keyring()
    kind = _backend_kind(configured)
    if kind == "chainer":
        chained = list(configured.backends)  # type: ignore[attr-defined]
        usable = [x for x in chained if _backend_kind(x) == "os"]
        if usable:
            return usable[0]
        # Only file backends were found: the machine has no OS keyring. Using the encrypted file
        # without being asked would surprise (a new password to invent); plain text is out.
        raise KeyringUnavailable(
            "no OS keyring is available on this machine (usual over SSH: no Secret Service or KWallet "
            "session); " + _offer(env)
        )
    if kind == "os":
        return configured
    if kind == "encrypted-file":  # chosen on purpose (keyring config or PYTHON_KEYRING_BACKEND)
        _unlock(configured, env, interactive, prompt)
        return configured
    if kind == "plaintext":
        raise KeyringUnavailable(
            f"the configured keyring {backend_name(configured)} keeps secrets in plain text, which "
            "pstimport refuses; " + _offer(env)
        )
    raise KeyringUnavailable(
        "no OS keyring is available on this machine (usual over SSH: no Secret Service or KWallet session); "
        + _offer(env)
    )


@dataclass(frozen=True)
class KeyringOption:
    """A place the wizard can offer for keeping a secret: a profile's `keyring` value and a label."""

    keyring: str  # system | encrypted-file
    label: str
    needs_password: bool  # the encrypted file asks for a password of its own (unless the environment has it)


def keyring_options(env: Mapping[str, str] = os.environ) -> list[KeyringOption]:
    """The keyrings that work on this machine, best first: the OS keyring only where one answers,
    then the encrypted file (always possible). PSTIMPORT_KEYRING=none offers neither."""
    choice = (env.get(KEYRING_ENV) or "").strip().lower()
    if choice == "none":
        return []
    out: list[KeyringOption] = []
    if choice in ("", "system"):
        try:
            b = open_keyring(env, interactive=False, preferred="system")
        except SecretError:
            pass
        else:
            out.append(KeyringOption("system", f"the OS keyring ({_short_name(b)})", False))
    out.append(
        KeyringOption(
            "encrypted-file",
            f"an encrypted file ({_home_short(default_keyring_file(env))})",
            not env.get(KEYRING_PASSWORD_ENV),
        )
    )
    return out


def _short_name(b: KeyringBackend) -> str:
    name = getattr(b, "name", None) or type(b).__name__
    return str(name).split(" (")[0]


def _home_short(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home) :] if home != "/" and text.startswith(home + os.sep) else text


def _keyring_call(what: str, fn: Callable[[], object]) -> object:
    try:
        return fn()
    except keyring.errors.KeyringLocked:
        raise SecretError(f"the keyring is locked; unlock it and try again ({what})") from None
    except keyring.errors.NoKeyringError:
        raise KeyringUnavailable("no OS keyring is available on this machine; " + _offer(os.environ)) from None
    except keyring.errors.KeyringError as exc:
        raise SecretError(f"the keyring failed while {what}: {type(exc).__name__}") from None
    except ValueError:  # cryptfile: a damaged entry or a key that does not fit
        raise SecretError(f"the keyring entry cannot be decrypted while {what}") from None


# ----- run-time API ------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class ResolvedSecret:
    """A secret and where it came from: stdin, environment, keyring or prompt. Its repr hides the value."""

    value: str
    source: str
    kind: str

    def __repr__(self) -> str:
        return f"ResolvedSecret(kind={self.kind!r}, source={self.source!r}, value=<hidden>)"


def read_secret_stdin(stream: IO[str]) -> str:
    """The first line of `stream` without its line ending, for `--password-stdin`.

    Raises:
        SecretError: standard input is empty.
    """
    line = stream.readline()
    value = line.rstrip("\r\n")
    if not value:
        raise SecretError("--password-stdin: nothing was given on standard input")
    return value


def lookup_secret(
    profile: Profile,
    kind: str | None = None,
    *,
    stdin: IO[str] | None = None,
    env: Mapping[str, str] = os.environ,
    prompt: Prompt = getpass.getpass,
    interactive: bool | None = None,
    optional: bool = False,
) -> ResolvedSecret | None:
    """Find a secret for a run (see the module docstring for the order).

    Args:
        kind: password, client_secret or certificate_password; default the profile's main one.
        stdin: the stream given by `--password-stdin`, for the main secret.
        env: the environment to read PSTIMPORT_* variables from.
        prompt: asks without echo (getpass); called only when `interactive`.
        interactive: whether a person can answer a prompt; default: stdin is a terminal.
        optional: return None instead of raising when nothing is found (a certificate password).

    A prompted secret is not stored: call `store_secret` once the sign-in has worked.

    Raises:
        SecretError: the secret is nowhere and cannot be asked for; the message says how to give it.
    """
    kind = kind or primary_secret(profile)
    if kind is None:
        raise SecretError(f"method {profile.connection.auth.method} signs in without a stored secret")
    _check_kind(kind)
    if interactive is None:
        try:
            interactive = os.isatty(0)
        except OSError:
            interactive = False
    what = describe(profile, kind)
    if stdin is not None and kind == primary_secret(profile):
        log.debug("%s taken from standard input", what)
        return ResolvedSecret(read_secret_stdin(stdin), "stdin", kind)
    var = ENV_VARS[kind]
    if env.get(var):
        log.debug("%s taken from %s", what, var)
        return ResolvedSecret(env[var], "environment", kind)
    why_not = "asked for on each run"
    auth = profile.connection.auth
    if auth.cache_password:
        try:
            backend = open_keyring(env, interactive=interactive, prompt=prompt, preferred=auth.keyring)
        except SecretError as exc:
            if not interactive:
                if optional:
                    return None
                raise SecretError(_headless_fix(profile, kind, exc, env)) from None
            log.warning("%s", exc)  # say so plainly, then ask
        else:
            key = secret_key(profile, kind)
            value = _keyring_call(f"reading {what}", lambda: backend.get_password(SERVICE, key))
            if value:
                log.debug("%s found in the keyring (%s)", what, backend_name(backend))
                return ResolvedSecret(str(value), "keyring", kind)
            why_not = "not in the keyring yet"
    if interactive:
        value = prompt(f"{what[0].upper()}{what[1:]} ({profile.connection.target}): ")
        if not value:
            if optional:
                return None
            raise SecretError(f"no {kind.replace('_', ' ')} given")
        return ResolvedSecret(value, "prompt", kind)
    if optional:
        return None
    fix = f"set {var} or pass --password-stdin"
    if auth.cache_password:
        fix += f", or store it once: pstimport profile set-secret {_profile_arg(profile)}"
    raise SecretError(f"{what} is {why_not} and there is no terminal to ask: {fix}")


def _profile_arg(profile: Profile) -> str:
    import shlex

    return shlex.quote(str(profile.path)) if profile.path else "PROFILE.yaml"


def _headless_fix(profile: Profile, kind: str, exc: SecretError, env: Mapping[str, str]) -> str:
    """One short line for a run without a terminal whose keyring cannot serve: what is missing, and the fix."""
    what = describe(profile, kind)
    var = ENV_VARS[kind]
    if isinstance(exc, KeyringUnavailable):
        if keyring_choice(env, profile.connection.auth.keyring) == "none":
            why = f"the keyring is turned off ({KEYRING_ENV}=none)"
        else:
            why = "this machine has no usable OS keyring"
        return f"{what} is not available ({why}): set {var} or pass --password-stdin"
    text = str(exc)
    if "is locked" in text and KEYRING_PASSWORD_ENV in text:
        path = getattr(exc, "path", None) or default_keyring_file(env)
        return f"{what} is in the encrypted keyring file {path}, which is locked: set {KEYRING_PASSWORD_ENV}"
    return f"no {kind.replace('_', ' ')} for this run: {text}"


def resolve_secret(
    profile: Profile,
    kind: str | None = None,
    *,
    stdin: IO[str] | None = None,
    env: Mapping[str, str] = os.environ,
    prompt: Prompt = getpass.getpass,
    interactive: bool | None = None,
) -> str:
    """The secret's value, from stdin, the environment, the keyring or a prompt (see `lookup_secret`)."""
    found = lookup_secret(profile, kind, stdin=stdin, env=env, prompt=prompt, interactive=interactive)
    assert found is not None
    return found.value


def store_secret(
    profile: Profile,
    kind: str,
    value: str,
    *,
    env: Mapping[str, str] = os.environ,
    interactive: bool = False,
    prompt: Prompt = getpass.getpass,
) -> str:
    """Keep a secret in the profile's keyring (`connection.auth.keyring`) under `secret_key(profile, kind)`.

    Returns:
        A description of where it went (for a message), e.g. "encrypted file /root/.../keyring.cfg".

    Raises:
        KeyringUnavailable / SecretError: no usable keyring, or it refused.
    """
    _check_kind(kind)
    if not value:
        raise SecretError(f"refusing to store an empty {kind.replace('_', ' ')}")
    backend = open_keyring(env, interactive=interactive, prompt=prompt, preferred=profile.connection.auth.keyring)
    key = secret_key(profile, kind)
    _keyring_call(f"storing {describe(profile, kind)}", lambda: backend.set_password(SERVICE, key, value))
    log.info("%s stored in the keyring (%s)", describe(profile, kind), backend_name(backend))
    return backend_name(backend)


def delete_secret(
    profile: Profile,
    kind: str,
    *,
    env: Mapping[str, str] = os.environ,
    interactive: bool = False,
    prompt: Prompt = getpass.getpass,
) -> bool:
    """Remove a stored secret; returns whether there was one."""
    _check_kind(kind)
    backend = open_keyring(env, interactive=interactive, prompt=prompt, preferred=profile.connection.auth.keyring)
    key = secret_key(profile, kind)
    if _keyring_call("reading", lambda: backend.get_password(SERVICE, key)) is None:
        return False
    try:
        backend.delete_password(SERVICE, key)
    except keyring.errors.PasswordDeleteError:
        return False
    except keyring.errors.KeyringError as exc:
        raise SecretError(f"the keyring failed while deleting: {type(exc).__name__}") from None
    return True


def _locked_file_entry(env: Mapping[str, str], key: str, preferred: str | None = None) -> tuple[Path, bool] | None:
    """For a locked encrypted-file keyring: (its path, whether an entry exists). Entry names are not
    encrypted there, only values, so this needs no password."""
    import configparser

    from keyrings.cryptfile.escape import escape

    configured = keyring.get_keyring()
    if keyring_choice(env, preferred) == "cryptfile":
        path = default_keyring_file(env)
    elif _backend_kind(configured) == "encrypted-file":
        path = Path(getattr(configured, "file_path", ""))
    else:
        return None
    config = configparser.RawConfigParser()
    try:
        config.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return None
    return path, config.has_option(escape(SERVICE), escape(key))


@dataclass(frozen=True)
class SecretStatus:
    """Where a secret would come from on the next run; never holds the value."""

    kind: str
    key: str
    state: str  # environment | keyring | missing | prompt | no-keyring | locked
    detail: str


def secret_status(profile: Profile, kind: str, *, env: Mapping[str, str] = os.environ) -> SecretStatus:
    """Whether a secret is there (for `profile show`), without prompting or unlocking anything."""
    _check_kind(kind)
    key = secret_key(profile, kind)
    var = ENV_VARS[kind]
    if env.get(var):
        return SecretStatus(kind, key, "environment", f"set in the environment ({var})")
    if not profile.connection.auth.cache_password:
        return SecretStatus(kind, key, "prompt", "asked for on each run (cache_password: false)")
    try:
        backend = open_keyring(env, interactive=False, preferred=profile.connection.auth.keyring)
    except KeyringUnavailable as exc:
        return SecretStatus(kind, key, "no-keyring", str(exc))
    except SecretError as exc:
        entry = _locked_file_entry(env, key, profile.connection.auth.keyring)
        if entry is not None:
            path, present = entry
            state = "keyring" if present else "missing"
            where = "stored" if present else "not stored"
            return SecretStatus(
                kind,
                key,
                state,
                f"{where} in the encrypted keyring file {path} (locked, so not "
                f"decrypted; {KEYRING_PASSWORD_ENV} or a prompt unlocks it)",
            )
        return SecretStatus(kind, key, "locked", str(exc))
    try:
        present = _keyring_call("reading", lambda: backend.get_password(SERVICE, key)) is not None
    except SecretError as exc:
        return SecretStatus(kind, key, "locked", str(exc))
    if present:
        return SecretStatus(kind, key, "keyring", f"stored in the keyring ({backend_name(backend)})")
    return SecretStatus(
        kind,
        key,
        "missing",
        f"not stored in the keyring ({backend_name(backend)}); it will be asked for, or store it "
        "with `pstimport profile set-secret`",
    )
