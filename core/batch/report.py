"""The batch index report: one JSON and one self-contained HTML page linking each mailbox's report.

Mailboxes that need attention (failed, partial, interrupted, not started) come first. Links to the
per-mailbox reports are relative to the index, so the report folder can be copied elsewhere whole.
"""

from __future__ import annotations

import html
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_ORDER = {"failed": 0, "partial": 1, "interrupted": 2, "not-started": 3, "ok": 4}

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#222}
h1{font-size:1.4em;margin:0 0 .3em} h2{font-size:1.1em;margin:1.5em 0 .4em} .meta{color:#555}
.verdict{padding:.6em 1em;border-radius:4px;font-weight:600;margin:1em 0}
.good{background:#e6f4ea;color:#1e4620;border:1px solid #a8d5b5}
.bad{background:#fdecea;color:#611a15;border:1px solid #f5b7b1}
table{border-collapse:collapse;width:100%;margin:.5em 0} th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left}
th{background:#f3f3f3} td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.failed td,tr.partial td{background:#fdecea} tr.interrupted td,tr.not-started td{background:#fff4e5}
.status{font-weight:600} .error{color:#611a15}
@media print{body{margin:0;font-size:11px} tr{break-inside:avoid} thead{display:table-header-group}
a{color:inherit;text-decoration:none} .verdict{border:1px solid #000}}
"""


def build_index(template: Any, options: Any, result: Any) -> dict:
    """The index as a JSON-ready dict (see the module docstring for the order)."""
    rows = []
    for o in result.outcomes:
        u = o.unit
        first = u.rows[0]
        rows.append(
            {
                "mailbox": u.mailbox,
                "store": u.store,
                "root": first.root,
                "folder": first.folder,
                "psts": list(u.psts),
                "csv_lines": [r.line for r in u.rows],
                "status": o.status,
                "exit_code": o.exit_code,
                "error": o.error,
                "selected": o.selected,
                "imported": o.imported,
                "skipped_existing": o.skipped,
                "failed": o.failed,
                "mismatched_folders": o.mismatched_folders,
                "duplicates": o.duplicates,
                "throttled": o.throttled,
                "seconds": o.seconds,
                "report_json": o.report_json,
                "report_html": o.report_html,
            }
        )
    rows.sort(key=lambda r: _ORDER.get(r["status"], 5))
    imported = sum(r["imported"] for r in rows)
    shard = options.shard
    return {
        "batch": template.name,
        "mapping": options.mapping,
        "template": str(template.path) if template.path else None,
        "shard": f"{shard[0]}/{shard[1]}" if shard else None,
        "dry_run": options.dry_run,
        "offline_check": options.offline_check,
        "parallel_mailboxes": options.parallel_mailboxes,
        "max_connections": options.max_connections,
        "started": (result.started or datetime.now(UTC)).isoformat(timespec="seconds"),
        "finished": (result.finished or datetime.now(UTC)).isoformat(timespec="seconds"),
        "mailboxes": rows,
        "totals": {
            "mailboxes": len(rows),
            "ok": sum(1 for r in rows if r["status"] == "ok"),
            "not_ok": sum(1 for r in rows if r["status"] != "ok"),
            "rows_in_other_shards": result.skipped_other_shards,
            "selected": sum(r["selected"] for r in rows),
            "imported": imported,
            "skipped_existing": sum(r["skipped_existing"] for r in rows),
            "failed": sum(r["failed"] for r in rows),
            "duplicates": sum(r["duplicates"] for r in rows),
            "seconds": result.seconds,
            "items_per_second": round(imported / result.seconds, 1) if result.seconds else 0.0,
            "peak_connections": result.peak_connections,
            "interrupted": result.interrupted,
            "exit_code": result.exit_code,
        },
    }


def _link(target: str | None, base: Path, label: str) -> str:
    if not target:
        return ""
    try:
        href = os.path.relpath(target, base)
    except ValueError:  # another drive on Windows
        href = target
    return f"<a href='{html.escape(Path(href).as_posix())}'>{html.escape(label)}</a>"


def render_index_html(index: dict, base: Path) -> str:
    """The index as one HTML page; links are relative to `base` (the index's folder)."""
    e = html.escape
    t = index["totals"]
    ok = t["not_ok"] == 0 and not t["interrupted"]
    verdict = (
        f"All {t['mailboxes']} mailbox(es) imported and verified."
        if ok
        else f"{t['not_ok']} of {t['mailboxes']} mailbox(es) need attention: see the first rows."
    )
    shard = f" &middot; shard {e(index['shard'])}" if index.get("shard") else ""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>pstimport batch: {e(index['batch'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>Batch import: {e(index['batch'])}</h1>",
        f"<p class='meta'>Mapping {e(str(index.get('mapping') or ''))}{shard} &middot; started {e(index['started'])}"
        f" &middot; finished {e(index['finished'])} &middot; {t['seconds']} s, {t['items_per_second']} items/s</p>",
        f"<div class='verdict {'good' if ok else 'bad'}'>{e(verdict)}</div>",
        "<table><thead><tr><th>Status</th><th>Mailbox</th><th>Store</th><th>PSTs</th><th>Selected</th>"
        "<th>Imported</th><th>Already there</th><th>Failed</th><th>Mismatched folders</th><th>Duplicates</th>"
        "<th>Throttled</th><th>Report</th></tr></thead><tbody>",
    ]
    for r in index["mailboxes"]:
        psts = "<br>".join(e(Path(p).name) for p in r["psts"])
        report = " ".join(
            x for x in (_link(r["report_html"], base, "HTML"), _link(r["report_json"], base, "JSON")) if x
        )
        error = f"<div class='error'>{e(r['error'])}</div>" if r.get("error") else ""
        parts.append(
            f"<tr class='{e(r['status'])}'><td class='status'>{e(r['status'])}</td><td>{e(r['mailbox'])}{error}</td>"
            f"<td>{e(r['store'])}</td><td>{psts}</td>"
            + "".join(
                f"<td class='n'>{r[k]}</td>"
                for k in (
                    "selected",
                    "imported",
                    "skipped_existing",
                    "failed",
                    "mismatched_folders",
                    "duplicates",
                    "throttled",
                )
            )
            + f"<td>{report}</td></tr>"
        )
    parts.append("</tbody></table><h2>Totals</h2><table><tbody>")
    for k, v in t.items():
        parts.append(f"<tr><th>{e(k.replace('_', ' '))}</th><td class='n'>{e(str(v))}</td></tr>")
    parts.append("</tbody></table></body></html>")
    return "\n".join(parts)


def write_index(index: dict, directory: Path) -> tuple[Path, Path]:
    """Write `<batch>-<time>-batch[-shard-i-of-n].json` and `.html` into `directory`."""
    from core.verify.report import _atomic_write, _slug

    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    shard = "-shard-" + index["shard"].replace("/", "-of-") if index.get("shard") else ""
    base = directory / f"{_slug(index['batch'])}-{stamp}-batch{shard}"
    n = 1
    while base.with_suffix(".json").exists():
        n += 1
        base = directory / f"{_slug(index['batch'])}-{stamp}-batch{shard}-{n}"
    jpath, hpath = base.with_suffix(".json"), base.with_suffix(".html")
    _atomic_write(jpath, json.dumps(index, indent=2, ensure_ascii=False) + "\n")
    _atomic_write(hpath, render_index_html(index, directory))
    return jpath, hpath
