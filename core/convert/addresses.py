"""Address rewriting: turn legacy Exchange (EX) addresses into SMTP addresses.

A reply to an imported item that still carries `/o=Org/ou=.../cn=Recipients/cn=jdoe` (or its
`IMCEAEX-...` encapsulation) bounces. This module resolves such addresses, in order, from:

1. the item's own properties: the recipient's PidTagSmtpAddress, the sender/sent-representing
   SMTP properties, the search key (`SMTP:x@y`) and one-off entry ids (source "item");
2. a recipient collection built over the whole PST: every legacy DN <-> SMTP pair seen anywhere,
   including a message's `From:` header against its EX sender ("recipient_collection");
3. the PST's contacts: Email1-3 of EX type with their original display names, and contacts whose
   display name matches ("contacts");
4. a user map file, CSV `legacy DN,SMTP` ("map_file");
5. the transport's `resolve_name(name) -> list[str]` against the GAL ("gal").

Results are cached per legacy DN. A name that matches more than one address is never guessed:
it is counted as ambiguous and reported. Unresolved addresses are returned with `email=None`
so the MIME writer puts the display name only; never a made-up SMTP address.

`RewriteOptions` mirrors the profile's `address_rewriting` block. With `enabled: false` only
step 1 runs (reading an item's own SMTP properties is fidelity, not rewriting).
"""

from __future__ import annotations

import csv
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.convert.entryid import decode_ex_entry_id, decode_imcea, decode_one_off, decode_search_key, is_legacy_dn
from core.convert.payload import Mailbox
from core.errors import UserError
from core.mapi import (
    ADDRTYPE_EX,
    ADDRTYPE_SMTP,
    Named,
    PidLidEmail1AddressType,
    PidLidEmail1DisplayName,
    PidLidEmail1EmailAddress,
    PidLidEmail1OriginalDisplayName,
    PidLidEmail1OriginalEntryId,
    PidLidEmail2AddressType,
    PidLidEmail2DisplayName,
    PidLidEmail2EmailAddress,
    PidLidEmail2OriginalDisplayName,
    PidLidEmail2OriginalEntryId,
    PidLidEmail3AddressType,
    PidLidEmail3DisplayName,
    PidLidEmail3EmailAddress,
    PidLidEmail3OriginalDisplayName,
    PidLidEmail3OriginalEntryId,
    PidTagAddressType,
    PidTagDisplayName,
    PidTagEmailAddress,
    PidTagEntryId,
    PidTagReceivedByAddressType,
    PidTagReceivedByEmailAddress,
    PidTagReceivedByName,
    PidTagReceivedBySmtpAddress,
    PidTagRecipientEntryId,
    PidTagSearchKey,
    PidTagSenderAddressType,
    PidTagSenderEmailAddress,
    PidTagSenderEntryId,
    PidTagSenderName,
    PidTagSenderSearchKey,
    PidTagSenderSmtpAddress,
    PidTagSentRepresentingAddressType,
    PidTagSentRepresentingEmailAddress,
    PidTagSentRepresentingEntryId,
    PidTagSentRepresentingName,
    PidTagSentRepresentingSearchKey,
    PidTagSentRepresentingSmtpAddress,
    PidTagSmtpAddress,
    PidTagTransportMessageHeaders,
    Tag,
)

SOURCES = ("item", "recipient_collection", "contacts", "map_file", "gal")

_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")


def is_smtp(address: str | None) -> bool:
    """A plausible SMTP address (and not an IMCEA encapsulation)."""
    return bool(address) and bool(_EMAIL.match(address)) and not address.upper().startswith("IMCEA")  # type: ignore[union-attr]


def _norm_dn(dn: str) -> str:
    return dn.strip().lower()


def _norm_name(name: str) -> str:
    return " ".join(name.split()).casefold()


@dataclass(slots=True)
class RewriteOptions:
    """The profile's `address_rewriting` block."""

    enabled: bool = True
    contacts: bool = True
    gal: bool = True
    recipient_collection: bool = True
    map_file: str | None = None

    @classmethod
    def from_profile(cls, block: Any) -> RewriteOptions:
        """From a mapping or an object with the same attribute names (the profile model)."""
        if block is None:
            return cls()
        get = block.get if isinstance(block, dict) else (lambda k, d=None: getattr(block, k, d))
        map_file = get("map_file", None)
        return cls(
            enabled=bool(get("enabled", True)),
            contacts=bool(get("contacts", True)),
            gal=bool(get("gal", True)),
            recipient_collection=bool(get("recipient_collection", True)),
            map_file=str(map_file) if map_file else None,
        )


@dataclass(slots=True)
class RewriteStats:
    """Counts for the report: rewrites by source, failures by reason, and what was unresolved."""

    rewritten: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    """Keys: 'not_found', 'ambiguous'."""
    unresolved: dict[str, str | None] = field(default_factory=dict)
    """Legacy DN -> display name, for each address that could not be resolved."""
    ambiguous: dict[str, list[str]] = field(default_factory=dict)
    """Name or DN -> the candidate addresses, when more than one matched."""
    learn_problems: list[str] = field(default_factory=list)
    """Folders the learning pass could not read (their address pairs are missing)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "rewritten": dict(self.rewritten),
            "failed": dict(self.failed),
            "unresolved": [{"address": k, "name": v} for k, v in sorted(self.unresolved.items())],
            "ambiguous": [{"query": k, "candidates": v} for k, v in sorted(self.ambiguous.items())],
            "learn_problems": list(self.learn_problems),
        }


@dataclass(slots=True)
class Party:
    """Everything an item says about one person (sender, representing, or a recipient row)."""

    name: str | None
    address_type: str | None
    address: str | None
    smtp_hints: list[str] = field(default_factory=list)
    """SMTP addresses from the same object: PidTag*SmtpAddress, the search key, a one-off entry id."""
    legacy_dn: str | None = None

    @property
    def is_ex(self) -> bool:
        return self.legacy_dn is not None


def _party(
    props: Any,
    name: Tag,
    atype: Tag,
    addr: Tag,
    smtp: Tag | None,
    search_key: Tag | None,
    entry_id: Tag | None,
    codepage: str = "cp1252",
) -> Party | None:
    n = props.str(name)
    t = props.str(atype)
    a = props.str(addr)
    hints: list[str] = []
    dn: str | None = None
    if smtp is not None:
        s = props.str(smtp)
        if is_smtp(s):
            hints.append(s)  # type: ignore[arg-type]
    if t and t.upper() == ADDRTYPE_SMTP and is_smtp(a):
        hints.append(a)  # type: ignore[arg-type]
    if a and a.upper().startswith("IMCEA"):
        dec = decode_imcea(a)
        if dec and dec[0] == ADDRTYPE_EX:
            dn = dec[1]
        elif dec and dec[0] == ADDRTYPE_SMTP and is_smtp(dec[1]):
            hints.append(dec[1])
    if (t or "").upper() == ADDRTYPE_EX or is_legacy_dn(a):
        dn = a if is_legacy_dn(a) else dn
    if search_key is not None:
        sk = decode_search_key(props.bytes(search_key))
        if sk:
            if sk[0] == ADDRTYPE_SMTP and is_smtp(sk[1]):
                hints.append(sk[1].lower() if sk[1].isupper() else sk[1])
            elif sk[0] == ADDRTYPE_EX and dn is None and (t or "").upper() == ADDRTYPE_EX:
                dn = sk[1]
    if entry_id is not None:
        eid = props.bytes(entry_id)
        one = decode_one_off(eid, codepage)
        if one is not None:
            if one.address_type.upper() == ADDRTYPE_SMTP and is_smtp(one.address):
                hints.append(one.address)
            if not n:
                n = one.display_name
        elif dn is None and (t or "").upper() == ADDRTYPE_EX:
            dn = decode_ex_entry_id(eid)
    if not (n or a or hints):
        return None
    if not hints and dn is None and not is_smtp(a) and is_smtp(n):
        # A row with a display name that is itself an SMTP address and no address of its own (Outlook 97
        # one-offs: pst2john_97_outlook_pass12345.pst) is that address, as Outlook and readpst show it.
        hints.append(n)  # type: ignore[arg-type]
    return Party(n, t, a, hints, dn)


def sender_party(item: Any) -> Party | None:
    return _party(
        item.props,
        PidTagSenderName,
        PidTagSenderAddressType,
        PidTagSenderEmailAddress,
        PidTagSenderSmtpAddress,
        PidTagSenderSearchKey,
        PidTagSenderEntryId,
        item.codepage or "cp1252",
    )


def representing_party(item: Any) -> Party | None:
    return _party(
        item.props,
        PidTagSentRepresentingName,
        PidTagSentRepresentingAddressType,
        PidTagSentRepresentingEmailAddress,
        PidTagSentRepresentingSmtpAddress,
        PidTagSentRepresentingSearchKey,
        PidTagSentRepresentingEntryId,
        item.codepage or "cp1252",
    )


def received_by_party(item: Any) -> Party | None:
    return _party(
        item.props,
        PidTagReceivedByName,
        PidTagReceivedByAddressType,
        PidTagReceivedByEmailAddress,
        PidTagReceivedBySmtpAddress,
        None,
        None,
    )


def recipient_party(recipient: Any, codepage: str = "cp1252") -> Party | None:
    party = _party(
        recipient.props,
        PidTagDisplayName,
        PidTagAddressType,
        PidTagEmailAddress,
        PidTagSmtpAddress,
        PidTagSearchKey,
        PidTagEntryId,
        codepage,
    )
    if party is None:
        party = _party(
            recipient.props,
            PidTagDisplayName,
            PidTagAddressType,
            PidTagEmailAddress,
            None,
            None,
            PidTagRecipientEntryId,
            codepage,
        )
    return party


_CONTACT_SLOTS: tuple[tuple[Named, Named, Named, Named, Named], ...] = (
    (
        PidLidEmail1DisplayName,
        PidLidEmail1AddressType,
        PidLidEmail1EmailAddress,
        PidLidEmail1OriginalDisplayName,
        PidLidEmail1OriginalEntryId,
    ),
    (
        PidLidEmail2DisplayName,
        PidLidEmail2AddressType,
        PidLidEmail2EmailAddress,
        PidLidEmail2OriginalDisplayName,
        PidLidEmail2OriginalEntryId,
    ),
    (
        PidLidEmail3DisplayName,
        PidLidEmail3AddressType,
        PidLidEmail3EmailAddress,
        PidLidEmail3OriginalDisplayName,
        PidLidEmail3OriginalEntryId,
    ),
)

_PAREN_EMAIL = re.compile(r"\(([^()\s]+@[^()\s]+)\)\s*$")


def _from_header_address(headers: str) -> str | None:
    """The single address of a `From:` header in raw transport headers, if plainly SMTP."""
    import email.utils

    m = re.search(r"^From:[ \t]*(.*(?:\r?\n[ \t].*)*)", headers, re.MULTILINE | re.IGNORECASE)
    if not m:
        return None
    pairs = email.utils.getaddresses([m.group(1).replace("\r", "").replace("\n", " ")])
    addrs = [a for _, a in pairs if a]
    if len(addrs) == 1 and is_smtp(addrs[0]):
        return addrs[0]
    return None


class AddressResolver:
    """Resolves parties to `Mailbox` values, learning from a PST first. Thread-safe."""

    def __init__(
        self,
        options: RewriteOptions | None = None,
        resolve_name: Callable[[str], list[str]] | None = None,
    ) -> None:
        self.options = options or RewriteOptions()
        self.resolve_name = resolve_name
        self.stats = RewriteStats()
        self._collection: dict[str, Counter[str]] = defaultdict(Counter)
        self._contact_dn: dict[str, set[str]] = defaultdict(set)
        self._contact_name: dict[str, set[str]] = defaultdict(set)
        self._map: dict[str, str] = {}
        self._cache: dict[str, tuple[str | None, str]] = {}
        self._gal_cache: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._learn_source: Any = None
        self._learned = False
        if self.options.map_file:
            self.load_map_file(self.options.map_file)

    # --- learning --------------------------------------------------------------------
    def load_map_file(self, path: str | Path) -> int:
        """Load a CSV of `legacy DN,SMTP` rows (a header row is allowed). Returns rows loaded.

        Raises:
            UserError: the file cannot be read, or a row is malformed (naming file and line).
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8-sig")
        except OSError as e:
            raise UserError(f"{p}: cannot read the address map file: {e.strerror or e}") from None
        count = 0
        for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) < 2:
                raise UserError(f"{p}, line {lineno}: expected 'legacy DN,SMTP address'")
            dn, smtp = row[0].strip(), row[1].strip()
            if lineno == 1 and not is_smtp(smtp):
                continue  # header row
            if not is_legacy_dn(dn) or not is_smtp(smtp):
                raise UserError(f"{p}, line {lineno}: expected 'legacy DN,SMTP address', got {row[:2]!r}")
            self._map[_norm_dn(dn)] = smtp
            count += 1
        return count

    def learn(self, item: Any) -> None:
        """Take the DN/SMTP pairs of one item (and its contacts' addresses) into the collection."""
        cp = item.codepage or "cp1252"
        parties = [sender_party(item), representing_party(item), received_by_party(item)]
        parties += [recipient_party(r, cp) for r in item.recipients]
        with self._lock:
            for p in parties:
                if p is not None and p.legacy_dn and p.smtp_hints:
                    self._collection[_norm_dn(p.legacy_dn)][p.smtp_hints[0]] += 1
            sender = parties[0]
            if sender is not None and sender.legacy_dn and not sender.smtp_hints:
                headers = item.props.str(PidTagTransportMessageHeaders)
                if headers:
                    addr = _from_header_address(headers)
                    if addr:
                        self._collection[_norm_dn(sender.legacy_dn)][addr] += 1
            if item.message_class.upper().startswith("IPM.CONTACT"):
                self._learn_contact(item)

    def _learn_contact(self, item: Any) -> None:
        props = item.props
        names = {props.str(PidTagDisplayName)}
        smtps: list[str] = []
        dns: list[str] = []
        for dname, atype, addr, orig, orig_eid in _CONTACT_SLOTS:
            t = (props.str(atype) or "").upper()
            a = props.str(addr)
            o = props.str(orig)
            d = props.str(dname)
            one = decode_one_off(props.bytes(orig_eid), item.codepage or "cp1252")
            if (
                one is not None
                and one.address_type.upper() == ADDRTYPE_SMTP
                and is_smtp(one.address)
                and not is_smtp(o)
            ):
                o = one.address  # the original entry id of an EX slot can be a one-off with the SMTP address
            if t == ADDRTYPE_SMTP and is_smtp(a):
                smtps.append(a)  # type: ignore[arg-type]
                if d:
                    names.add(_PAREN_EMAIL.sub("", d).strip() or None)
            elif t == ADDRTYPE_EX and is_legacy_dn(a):
                dns.append(a)  # type: ignore[arg-type]
                cand = o if is_smtp(o) else None
                if cand is None and d:
                    m = _PAREN_EMAIL.search(d)
                    cand = m.group(1) if m and is_smtp(m.group(1)) else None
                if cand:
                    self._contact_dn[_norm_dn(a)].add(cand)  # type: ignore[arg-type]
                    smtps.append(cand)
        if len(set(s.lower() for s in smtps)) == 1:
            for dn in dns:
                self._contact_dn[_norm_dn(dn)].add(smtps[0])
        for n in names:
            if n:
                for s in smtps:
                    self._contact_name[_norm_name(n)].add(s.lower())

    def learn_all(self, items: Iterable[Any]) -> None:
        for item in items:
            self.learn(item)

    def learn_pst(self, pst: Any) -> None:
        """One streaming pass over an open PST (`core.pst.open_pst`) into the collection and
        contacts. A folder the reader fails on is noted in `stats.learn_problems`; the pass goes on."""
        self._learned = True
        for folder in pst.folders():
            try:
                for item in pst.items(folder):
                    if hasattr(item, "props"):
                        self.learn(item)
            except Exception as e:  # noqa: BLE001 - a reader failure costs this folder's pairs only
                where = "/".join(folder.path) or "(top)"
                self.stats.learn_problems.append(f"{where}: {type(e).__name__}: {e}")

    @property
    def learned(self) -> bool:
        """Whether the PST learning pass has run."""
        return self._learned

    def learn_on_demand(self, pst: Any) -> None:
        """Defer the PST pass until an EX address first needs more than its item's own properties.
        Most PSTs written by Outlook in cached mode carry every SMTP address on the item itself,
        so the second read of the whole file is then never made. Call from the reader's thread."""
        self._learn_source = pst

    @classmethod
    def build(
        cls,
        pst: Any,
        options: RewriteOptions | None = None,
        resolve_name: Callable[[str], list[str]] | None = None,
        lazy: bool = False,
    ) -> AddressResolver:
        """A resolver primed from an open PST, now or (`lazy`) at its first unresolved EX address.

        The pass only runs when the recipient collection or contacts are enabled."""
        resolver = cls(options, resolve_name)
        opts = resolver.options
        if opts.enabled and (opts.recipient_collection or opts.contacts):
            if lazy:
                resolver.learn_on_demand(pst)
            else:
                resolver.learn_pst(pst)
        return resolver

    # --- resolving ---------------------------------------------------------------------
    def resolve(self, party: Party | None) -> Mailbox | None:
        """The party as a Mailbox with an SMTP address, or with `email=None` when unresolvable."""
        if party is None:
            return None
        name = party.name
        if not party.is_ex:
            if party.smtp_hints:
                return Mailbox(name, party.smtp_hints[0])
            if is_smtp(party.address):
                return Mailbox(name, party.address)
            if party.address:
                # some other type (FAX, X400, NOTES...): not an SMTP address; keep the name only.
                return Mailbox(name or party.address, None, party.address_type, party.address)
            return Mailbox(name, None, party.address_type, None)
        dn = party.legacy_dn or ""
        if party.smtp_hints:
            self._count("item")
            with self._lock:
                self._cache.setdefault(_norm_dn(dn), (party.smtp_hints[0], "item"))
            return Mailbox(name, party.smtp_hints[0], ADDRTYPE_SMTP, dn)
        smtp, source = self._lookup(dn, name)
        if smtp:
            self._count(source)
            return Mailbox(name, smtp, ADDRTYPE_SMTP, dn)
        if is_smtp(name):
            # nothing resolves the legacy DN, but its display name is an SMTP address: the item's own word
            self._count("item")
            return Mailbox(name, name, ADDRTYPE_SMTP, dn)
        with self._lock:
            self.stats.failed[source] += 1
            self.stats.unresolved.setdefault(dn, name)
        return Mailbox(name or _dn_common_name(dn), None, ADDRTYPE_EX, dn)

    def resolve_dn(self, legacy_dn: str, name: str | None = None) -> Mailbox:
        """Resolve a bare legacy DN (e.g. from an IMCEAEX header address)."""
        return self.resolve(Party(name, ADDRTYPE_EX, legacy_dn, [], legacy_dn))  # type: ignore[return-value]

    def _count(self, source: str) -> None:
        with self._lock:
            self.stats.rewritten[source] += 1

    def _lookup(self, dn: str, name: str | None) -> tuple[str | None, str]:
        """(smtp, source) or (None, failure reason)."""
        key = _norm_dn(dn)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        result = self._lookup_uncached(key, dn, name)
        with self._lock:
            self._cache[key] = result
        return result

    def _lookup_uncached(self, key: str, dn: str, name: str | None) -> tuple[str | None, str]:
        opts = self.options
        if not opts.enabled:
            return None, "not_found"
        if self._learn_source is not None and not self._learned:
            source, self._learn_source = self._learn_source, None
            self.learn_pst(source)
        if opts.recipient_collection:
            seen = self._collection.get(key)
            if seen:
                return seen.most_common(1)[0][0], "recipient_collection"
        if opts.contacts:
            cands = self._contact_dn.get(key)
            if cands:
                uniq = sorted({c.lower() for c in cands})
                if len(uniq) == 1:
                    return next(iter(cands)), "contacts"
                self.stats.ambiguous[dn] = uniq
                return None, "ambiguous"
            if name:
                byname = self._contact_name.get(_norm_name(name))
                if byname:
                    if len(byname) == 1:
                        return next(iter(byname)), "contacts"
                    self.stats.ambiguous[name] = sorted(byname)
                    return None, "ambiguous"
        if key in self._map:
            return self._map[key], "map_file"
        if opts.gal and self.resolve_name is not None:
            for query in (name, dn):
                if not query:
                    continue
                found = self._gal(query)
                if len(found) == 1:
                    return found[0], "gal"
                if len(found) > 1:
                    self.stats.ambiguous[query] = found
                    return None, "ambiguous"
        return None, "not_found"

    def _gal(self, query: str) -> list[str]:
        with self._lock:
            if query in self._gal_cache:
                return self._gal_cache[query]
        try:
            found = [a for a in (self.resolve_name(query) or []) if is_smtp(a)]  # type: ignore[misc]
        except Exception:  # a transport failure must not fail the item; report as not found
            found = []
        uniq = sorted({a.lower(): a for a in found}.values())
        with self._lock:
            self._gal_cache[query] = uniq
        return uniq


def _dn_common_name(dn: str) -> str:
    """The last `cn=` of a legacy DN, as a readable stand-in for a missing display name."""
    parts = [p for p in dn.split("/") if p.lower().startswith("cn=")]
    return parts[-1][3:] if parts else dn
