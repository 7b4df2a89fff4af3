"""Run profiles: YAML files that save a run, and the secrets they need (kept elsewhere).

Public API (everything else is internal):

Schema (`core.profile.model`), pydantic models with a docstring per field, `extra="forbid"`::

    Profile, Connection, Auth, Destination, Source, Filters, AddressRewriting, Performance, Report
    PROFILE_VERSION, TARGETS, TRANSPORTS, DISCOVERIES, AUTH_METHODS, STORES, ROOTS, ITEM_TYPES
    Profile.new(*, name, mailbox, sources, target="exchange-online", transport="ews", ews_url=None,
                auth_method=None, username=None, tenant_id=None, client_id=None,
                impersonation=None, **sections) -> Profile
    profile.path -> Path | None; profile.base_dir -> Path; profile.warnings -> list[Problem]
    profile.resolve_path(value) -> Path; profile.source_paths() -> list[Path]; profile.report_dir() -> Path
    profile.certificate_path() / ca_bundle_path() / map_file_path() -> Path | None
    Source.selects(folder_path: Sequence[str]) -> bool        # include/exclude globs
    Filters.accepts_date(when: date | datetime | None) -> bool  # after (inclusive) / before (exclusive)

Files (`core.profile.io`)::

    load_profile(path, *, check_files=True) -> Profile         # raises ProfileError (exit 2), one line
    read_profile(path, *, check_files=True) -> (Profile | None, list[Problem])
    parse_profile(text, *, filename="<profile>", base_dir=None, check_files=True) -> (Profile | None, list[Problem])
    check_profile(profile, *, check_files=True) -> list[Problem]  # cross-field rules, for a model built in code
    ensure_valid(profile, *, check_files=True) -> list[Problem]   # raises ProfileError; returns warnings
    save_profile(profile, path=None, *, check=True) -> Path    # atomic; keeps the user's key order
    dumps_profile(profile) -> str
    Problem: .path .key_path .message .severity .kind .file .line; str() -> "FILE:LINE: key.path: message"

Versions (`core.profile.migrate`)::

    migrate(data: dict, from_version: int) -> dict; MIGRATIONS: dict[int, Callable[[dict], dict]]

Folder globs (`core.profile.globs`)::

    compile_glob(pattern) -> FolderGlob (.matches(folder_path) -> bool); GlobError

Secrets (`core.profile.secrets`), never in the profile::

    resolve_secret(profile, kind=None, *, stdin=None, env=os.environ, prompt=getpass.getpass,
                   interactive=None) -> str
    lookup_secret(... same ..., optional=False) -> ResolvedSecret(value, source, kind) | None
    store_secret(profile, kind, value, *, env=os.environ, interactive=False, prompt=getpass.getpass) -> str
    delete_secret(profile, kind, ...) -> bool
    secret_status(profile, kind, *, env=os.environ) -> SecretStatus(kind, key, state, detail)
    primary_secret(profile) -> str | None; required_secrets(profile) -> list[str]
    secret_key(profile, kind) -> str; open_keyring(env, *, interactive, prompt) -> KeyringBackend
    read_secret_stdin(stream) -> str
    SERVICE = "pstimport"; SECRET_KINDS; ENV_VARS; KeyringUnavailable(SecretError)
"""

from core.profile.checks import Problem, check_profile
from core.profile.globs import FolderGlob, GlobError, compile_glob
from core.profile.io import dumps_profile, ensure_valid, load_profile, parse_profile, read_profile, save_profile
from core.profile.migrate import MIGRATIONS, migrate
from core.profile.model import (
    AUTH_METHODS,
    DISCOVERIES,
    ITEM_TYPES,
    PROFILE_VERSION,
    ROOTS,
    STORES,
    TARGETS,
    TRANSPORTS,
    AddressRewriting,
    Auth,
    Connection,
    Destination,
    Filters,
    Performance,
    Profile,
    Report,
    Source,
)
from core.profile.secrets import (
    KeyringUnavailable,
    ResolvedSecret,
    SecretStatus,
    lookup_secret,
    resolve_secret,
    secret_status,
    store_secret,
)

__all__ = [
    "AUTH_METHODS",
    "DISCOVERIES",
    "ITEM_TYPES",
    "MIGRATIONS",
    "PROFILE_VERSION",
    "ROOTS",
    "STORES",
    "TARGETS",
    "TRANSPORTS",
    "AddressRewriting",
    "Auth",
    "Connection",
    "Destination",
    "Filters",
    "FolderGlob",
    "GlobError",
    "KeyringUnavailable",
    "Performance",
    "Problem",
    "Profile",
    "Report",
    "ResolvedSecret",
    "SecretStatus",
    "Source",
    "check_profile",
    "compile_glob",
    "dumps_profile",
    "ensure_valid",
    "load_profile",
    "lookup_secret",
    "migrate",
    "parse_profile",
    "read_profile",
    "resolve_secret",
    "save_profile",
    "secret_status",
    "store_secret",
]
