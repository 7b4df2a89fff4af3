"""The verification report as JSON (DESIGN.md) and as one self-contained HTML page."""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#222}
h1{font-size:1.4em;margin:0 0 .3em} h2{font-size:1.1em;margin:1.5em 0 .4em}
.meta{color:#555} .verdict{padding:.6em 1em;border-radius:4px;font-weight:600;margin:1em 0}
.good{background:#e6f4ea;color:#1e4620;border:1px solid #a8d5b5}
.bad{background:#fdecea;color:#611a15;border:1px solid #f5b7b1}
table{border-collapse:collapse;width:100%;margin:.5em 0} th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left}
th{background:#f3f3f3} td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.mismatch td{background:#fdecea} tr.failed td{background:#fff4e5}
.status{font-weight:600} @media print{body{margin:0;font-size:11px} tr{break-inside:avoid}
thead{display:table-header-group} .verdict{border:1px solid #000}}
"""


# A file name stays well under the 255 bytes file systems allow, stamp and suffix included.
MAX_SLUG = 80
# Reports of one profile in one second beyond this many get a random part instead of a counter.
MAX_SAME_SECOND = 100


def _slug(text: str) -> str:
    """A file-name part from any profile name: letters, digits, '.', '_' and '-' only, no leading
    dot (a hidden file, or '..'), at most `MAX_SLUG` characters."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:MAX_SLUG].strip("._-")
    return slug or "report"


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_html(report: dict) -> str:
    """The report as a single HTML page: verdict and mismatches first, then every folder."""
    e = html.escape
    t = report["totals"]
    bad = [f for f in report["folders"] if f["status"] != "ok"]
    ok = not bad and not t.get("failed")
    verdict = (
        "All folders verified: every selected item is in the mailbox exactly once."
        if ok
        else f"{t['mismatched_folders']} folder(s) differ and {t.get('failed', 0)} item(s) failed: see below."
    )

    def table(rows: list[dict]) -> str:
        head = (
            "<tr><th>PST</th><th>Source folder</th><th>Target folder</th><th>PST items</th><th>Selected</th>"
            "<th>Imported</th><th>Already there</th><th>Failed</th><th>Unreadable</th><th>Mailbox items</th>"
            "<th>Stamped</th><th>Duplicates</th><th>Status</th></tr>"
        )
        body = []
        for r in rows:
            body.append(
                f"<tr class='{e(r['status'])}'><td>{e(r['pst'])}</td><td>{e('/'.join(r['source_path']) or '(top)')}"
                f"</td><td>{e('/'.join(r['target_path']) or '(top)')}</td>"
                + "".join(
                    f"<td class='n'>{r.get(k, '')}</td>"
                    for k in (
                        "pst_items",
                        "selected",
                        "imported",
                        "skipped_existing",
                        "failed",
                        "unreadable",
                        "mailbox_items",
                        "stamped_items",
                        "duplicates",
                    )
                )
                + f"<td class='status'>{e(r['status'])}{': ' + e(r['error']) if r.get('error') else ''}</td></tr>"
            )
        return f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"

    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>pstimport report: {e(report['profile'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Import verification: {e(report['profile'])}</h1>",
        f"<p class='meta'>Mailbox {e(report['mailbox'])} ({e(report['store'])}) &middot; started "
        f"{e(report['started'])} &middot; finished {e(report['finished'])}</p>",
        f"<div class='verdict {'good' if ok else 'bad'}'>{e(verdict)}</div>",
    ]
    if bad:
        parts += ["<h2>Folders that need attention</h2>", table(bad)]
    if report.get("failures"):
        parts.append(
            "<h2>Failed items</h2><table><thead><tr><th>PST</th><th>Folder</th><th>Subject</th>"
            "<th>Reason</th></tr></thead><tbody>"
        )
        for f in report["failures"]:
            parts.append(
                f"<tr><td>{e(f.get('pst') or '')}</td><td>{e('/'.join(f['source_path']) or '(top)')}</td>"
                f"<td>{e(f.get('subject') or '')}</td>"
                f"<td>{e((str(f['count']) + ' items: ') if f.get('count', 1) != 1 else '')}{e(f['reason'])}</td></tr>"
            )
        parts.append("</tbody></table>")
    renamed = [(f, r) for f in report["folders"] for r in f.get("renamed", [])]
    if renamed:
        parts.append(
            "<h2>Renamed folders</h2><p class='meta'>PST folder names Exchange refuses (empty, control "
            "characters, a sibling of the same name) get a name it takes; every run maps them alike.</p><ul>"
        )
        seen: set[str] = set()
        for _f, r in renamed:
            if r not in seen:
                seen.add(r)
                parts.append(f"<li>{e(r)}</li>")
        parts.append("</ul>")
    parts.append("<h2>Totals</h2><table><tbody>")
    for k, v in t.items():
        parts.append(f"<tr><th>{e(k.replace('_', ' '))}</th><td class='n'>{e(str(v))}</td></tr>")
    parts.append("</tbody></table>")
    parts += ["<h2>All folders</h2>", table(report["folders"])]
    if report.get("excluded"):
        parts.append(
            "<h2>Folders left out by the profile</h2><table><thead><tr><th>PST</th><th>Source folder</th>"
            "<th>PST items</th></tr></thead><tbody>"
        )
        for x in report["excluded"]:
            parts.append(
                f"<tr class='excluded'><td>{e(x['pst'])}</td><td>{e('/'.join(x['source_path']) or '(top)')}</td>"
                f"<td class='n'>{x['pst_items']}</td></tr>"
            )
        parts.append("</tbody></table>")
    parts += _rewriting_html(report.get("address_rewriting"))
    parts += _notes_html(report.get("conversion_notes"))
    parts.append("</body></html>")
    return "\n".join(parts)


def _rewriting_html(stats: dict | None) -> list[str]:
    """Address rewriting: rewrites by source, failures by reason, then what stayed unresolved or ambiguous."""
    if not stats:
        return []
    e = html.escape
    parts = ["<h2>Address rewriting</h2><table><tbody>"]
    for source, n in sorted(stats.get("rewritten", {}).items()):
        parts.append(f"<tr><th>rewritten from {e(source.replace('_', ' '))}</th><td class='n'>{n}</td></tr>")
    for reason, n in sorted(stats.get("failed", {}).items()):
        parts.append(f"<tr><th>not rewritten: {e(reason.replace('_', ' '))}</th><td class='n'>{n}</td></tr>")
    parts.append("</tbody></table>")
    if stats.get("ambiguous"):
        parts.append("<h3>Ambiguous (not guessed)</h3><ul>")
        parts += [f"<li>{e(a['query'])}: {e(', '.join(a['candidates']))}</li>" for a in stats["ambiguous"]]
        parts.append("</ul>")
    if stats.get("unresolved"):
        parts.append("<h3>Unresolved legacy addresses</h3><ul>")
        parts += [f"<li>{e(u.get('name') or '')} &lt;{e(u['address'])}&gt;</li>" for u in stats["unresolved"]]
        parts.append("</ul>")
    return parts


def _notes_html(notes: dict | None) -> list[str]:
    """What conversion lost or could not carry, item by item (the first ones when there are many)."""
    if not notes or not notes.get("total"):
        return []
    e = html.escape
    shown = notes.get("shown", [])
    head = f"<h2>Conversion notes ({notes['total']})</h2>"
    more = notes["total"] - len(shown)
    tail = [f"<p class='meta'>and {more} more (see the JSON report's counts)</p>"] if more > 0 else []
    return [head, "<ul>", *(f"<li>{e(n)}</li>" for n in shown), "</ul>", *tail]


def write_reports(report: dict, directory: Path, suffix: str = "run") -> tuple[Path, Path]:
    """Write `<profile>-<time>-<suffix>.json` and `.html` into `directory`; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    stem = f"{_slug(report['profile'])}-{stamp}-{suffix}"
    # Names are put together whole, never with Path.with_suffix: a profile called "john.smith"
    # would lose everything after its dot (and every later report would be "john.json").
    for n in range(1, MAX_SAME_SECOND + 2):  # two runs in one second keep both reports
        name = stem if n == 1 else f"{stem}-{n}" if n <= MAX_SAME_SECOND else f"{stem}-{os.urandom(4).hex()}"
        jpath, hpath = directory / f"{name}.json", directory / f"{name}.html"
        if not jpath.exists() and not hpath.exists():
            break
    _atomic_write(jpath, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    _atomic_write(hpath, render_html(report))
    return jpath, hpath
