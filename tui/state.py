"""What the wizard's steps fill in, and the profile it becomes.

The state is plain Python (no Textual): each step screen reads it when shown and writes it back
on Next. `to_profile()` builds a `core.profile` Profile, and each step checks its own part with
`core.profile.checks.check_profile`, so the wizard and `pstimport profile validate` apply the
same rules. Secrets (password, client secret) live here only in memory; they go to the keyring,
never into the profile.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core.profile.checks import Problem, check_profile
from core.profile.model import ITEM_TYPES, PROFILE_VERSION, Profile
from tui.selection import PstChoice

# Which key paths of the profile each wizard step owns, for showing a problem on its step.
STEP_KEYS: dict[str, tuple[tuple[Any, ...], ...]] = {
    "connection": (
        ("connection", "target"),
        ("connection", "transport"),
        ("connection", "discovery"),
        ("connection", "ews_url"),
        ("connection", "verify_tls"),
        ("connection", "ca_bundle"),
    ),
    "credentials": (("connection", "auth"), ("connection", "impersonation"), ("mailbox",)),
    "destination": (("destination",),),
    "sources": (("sources",),),
    "options": (("filters",), ("address_rewriting",), ("performance",)),
    "review": ((),),
}

PLACEHOLDER_SOURCE = "(no PST chosen yet)"


@dataclass
class WizardState:
    # step 1: connection
    target: str = "exchange-online"
    transport: str = ""  # empty: the target's default (core.online.default_transport: Graph for Exchange Online)
    discovery: str = "autodiscover"
    ews_url: str = ""
    impersonation: bool = False
    # Until the user ticks or unticks impersonation, it follows core.online.impersonation_default.
    impersonation_auto: bool = True
    verify_tls: bool = True
    ca_bundle: str = ""
    # step 2: credentials
    mailbox: str = ""
    auth_method: str = "oauth-device"
    username: str = ""
    password: str = ""  # the password or the client secret: memory and keyring only
    cache_password: bool = True
    keyring: str = "system"  # where a cached secret goes: system | encrypted-file
    keyring_password: str = ""  # unlocks the encrypted-file keyring: memory only
    secret_in_keyring: bool = False  # an opened profile whose secret was cached earlier
    tenant_id: str = ""
    client_id: str = ""
    certificate: str = ""
    # step 3: destination
    store: str = "mailbox"
    root: str = "pst-name"
    folder: str = ""
    # how the PSTs go in: "engine" (pstimport's own run) or "importservice" (an Exchange Online archive
    # without EWS: the wizard ends by writing the Import Service run, core.importservice.plan)
    route: str = "engine"
    storage_host: str = ""  # importservice: the storage account's blob host
    # step 4: PSTs
    sources: list[PstChoice] = field(default_factory=list)
    # step 5: options
    max_threads: int = 4
    batch_items: int = 10
    batch_megabytes: int = 16
    rewrite_enabled: bool = True
    rewrite_contacts: bool = True
    rewrite_gal: bool = True
    rewrite_recipient_collection: bool = True
    item_types: list[str] = field(default_factory=lambda: list(ITEM_TYPES))
    after: str = ""
    before: str = ""
    dry_run: bool = False
    # step 6: review
    name: str = ""
    profile_dir: str = "profiles"
    report_dir: str = "reports"
    journal_dir: str = ""  # empty: the engine's default; the demo keeps its journal beside its sandbox store
    # what the last "Test connection" found, shown again when the step is revisited
    preflight_note: str = ""
    # the file this wizard session saved last (saving there again does not ask)
    saved_path: str = ""

    def __post_init__(self) -> None:
        if not self.transport:
            from core.online import default_transport

            self.transport = default_transport(self.target)

    # ----- building the profile ---------------------------------------------------------------

    def profile_data(self, *, placeholder_sources: bool = False) -> dict[str, Any]:
        """The profile as a dict in DESIGN.md's order (what `to_profile` validates)."""

        def opt(s: str) -> str | None:
            return s.strip() or None

        sources: list[dict[str, Any]] = []
        for c in self.sources:
            if not c.any_selected:
                continue
            include, exclude = c.globs()
            src: dict[str, Any] = {"path": c.path, "include": include, "exclude": exclude}
            if c.codepage:
                src["codepage"] = c.codepage
            sources.append(src)
        if not sources and placeholder_sources:
            sources = [{"path": PLACEHOLDER_SOURCE}]
        graph = self.transport == "graph"  # one endpoint: no discovery, URL or impersonation to give
        direct = self.discovery == "direct" and not graph
        return {
            "version": PROFILE_VERSION,
            "name": self.name.strip() or self.default_name(),
            "connection": {
                "target": self.target,
                "transport": self.transport,
                "discovery": "direct" if direct else "autodiscover",
                "ews_url": opt(self.ews_url) if direct else None,
                "auth": {
                    "method": self.auth_method,
                    "username": opt(self.username),
                    "cache_password": self.cache_password,
                    "keyring": self.keyring if self.cache_password else None,
                    "tenant_id": opt(self.tenant_id),
                    "client_id": opt(self.client_id),
                    "certificate": opt(self.certificate),
                },
                "impersonation": self.impersonation and not graph,
                "verify_tls": self.verify_tls,
                "ca_bundle": opt(self.ca_bundle),
            },
            "mailbox": self.mailbox.strip(),
            "destination": {
                "store": self.store,
                "root": self.root,
                "folder": opt(self.folder) if self.root == "folder" else None,
            },
            "sources": sources,
            "filters": {
                "item_types": [t for t in ITEM_TYPES if t in self.item_types],
                "after": opt(self.after),
                "before": opt(self.before),
            },
            "address_rewriting": {
                "enabled": self.rewrite_enabled,
                "contacts": self.rewrite_contacts,
                "gal": self.rewrite_gal,
                "recipient_collection": self.rewrite_recipient_collection,
                "map_file": None,
            },
            "performance": {
                "max_threads": self.max_threads,
                "batch_items": self.batch_items,
                "batch_megabytes": self.batch_megabytes,
            },
            "report": {"directory": self.report_dir},
        }

    def default_name(self) -> str:
        local = self.mailbox.split("@", 1)[0].strip()
        return f"{local}-import" if local else "pst-import"

    def to_profile(self, *, placeholder_sources: bool = False) -> Profile:
        """The profile these answers make. Raises pydantic.ValidationError for a badly typed value."""
        data = _without_nulls(self.profile_data(placeholder_sources=placeholder_sources))
        return Profile.model_validate(data)

    def problems(self, step: str, *, check_files: bool = True) -> list[Problem]:
        """The errors and warnings that belong to `step`, from core's profile rules."""
        try:
            profile = self.to_profile(placeholder_sources=step != "review")
        except ValidationError as exc:
            from core.profile.io import validation_problems

            return [p for p in validation_problems(exc) if _owned(step, p.path)]
        if step == "review" and self.profile_dir:
            profile._path = self.profile_path()
        found = check_profile(profile, check_files=check_files and step in ("sources", "review"))
        return [p for p in found if _owned(step, p.path)]

    def impersonation_rule(self) -> bool:
        """What impersonation would be by default for the answers so far (core.online's rule)."""
        from core.online import impersonation_default

        return impersonation_default(self.auth_method, self.username.strip() or None, self.mailbox.strip() or None)

    def plan_dir(self) -> Path:
        """Where the Import Service run is written: beside the profile, `<name>-importservice`."""
        name = self.name.strip() or self.default_name()
        return (Path(self.profile_dir).expanduser() / f"{name}-importservice").absolute()

    def profile_path(self) -> Path:
        name = self.name.strip() or self.default_name()
        return (Path(self.profile_dir).expanduser() / f"{name}.yaml").absolute()

    # ----- from a saved profile ---------------------------------------------------------------

    @classmethod
    def from_profile(cls, profile: Profile, choices: list[PstChoice]) -> WizardState:
        """Answers that rebuild `profile`; `choices` are the censuses of its sources, in order."""
        c = profile.connection
        a = c.auth
        s = cls(
            target=c.target,
            transport=c.transport,
            discovery=c.discovery,
            ews_url=c.ews_url or "",
            impersonation=c.impersonation,
            impersonation_auto=False,  # the profile says
            verify_tls=c.verify_tls,
            ca_bundle=c.ca_bundle or "",
            mailbox=profile.mailbox,
            auth_method=a.method,
            username=a.username or "",
            cache_password=a.cache_password,
            keyring=a.keyring,
            tenant_id=a.tenant_id or "",
            client_id=a.client_id or "",
            certificate=a.certificate or "",
            store=profile.destination.store,
            root=profile.destination.root,
            folder=profile.destination.folder or "",
            max_threads=profile.performance.max_threads,
            batch_items=profile.performance.batch_items,
            batch_megabytes=profile.performance.batch_megabytes,
            rewrite_enabled=profile.address_rewriting.enabled,
            rewrite_contacts=profile.address_rewriting.contacts,
            rewrite_gal=profile.address_rewriting.gal,
            rewrite_recipient_collection=profile.address_rewriting.recipient_collection,
            item_types=list(profile.filters.item_types),
            after=_iso(profile.filters.after),
            before=_iso(profile.filters.before),
            name=profile.name,
            report_dir=profile.report.directory,
        )
        if profile.path is not None:
            s.profile_dir = str(profile.path.parent)
        for src, choice in zip(profile.sources, choices, strict=False):
            choice.apply_globs(src.include, src.exclude)
            choice.codepage = src.codepage
        s.sources = choices
        return s


def _iso(d: dt.date | None) -> str:
    return d.isoformat() if d else ""


def _without_nulls(value: Any) -> Any:
    """Leave out unset optional keys (all default to null), so the saved profile says only what was chosen."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _owned(step: str, path: tuple) -> bool:
    return any(path[: len(k)] == k for k in STEP_KEYS[step])
