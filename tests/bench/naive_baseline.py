"""The naive baseline: what a technician would script instead of pstimport.

    NAIVE_PASSWORD=... python -m tests.bench.naive_baseline PST EWS_URL USER FOLDER

`readpst -e` turns the PST into one .eml per message, then a single-threaded loop uploads each
file with exchangelib, one `Message(mime_content=...).save()` per item, into FOLDER under the
Inbox (created if missing). This is deliberately not optimised: no batching, no threads, no
resume; it is the comparison point for the suite's upload figures. Prints one JSON line.

The password comes from the environment so it never appears on a command line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from exchangelib import DELEGATE, NTLM, Account, Configuration, Credentials, Folder, Message
from exchangelib.protocol import close_connections


def readpst_to_eml(pst: Path, out: Path) -> float:
    """`readpst -e` into `out`; returns the seconds it took."""
    start = time.perf_counter()
    subprocess.run(["readpst", "-e", "-q", "-o", str(out), str(pst)], check=True, capture_output=True)
    return time.perf_counter() - start


def upload_one_by_one(emls: list[Path], ews_url: str, user: str, password: str, folder_name: str) -> tuple[int, int]:
    """Save each .eml as a message, one request per item; returns (created, failed)."""
    config = Configuration(service_endpoint=ews_url, credentials=Credentials(user, password), auth_type=NTLM)
    account = Account(user, config=config, autodiscover=False, access_type=DELEGATE)
    existing = [f for f in account.inbox.children if f.name == folder_name]
    folder = existing[0] if existing else Folder(parent=account.inbox, name=folder_name)
    if not existing:
        folder.save()
    created = failed = 0
    for eml in emls:
        try:
            Message(account=account, folder=folder, mime_content=eml.read_bytes()).save()
            created += 1
        except Exception as exc:  # the technician's script logs and goes on
            print(f"{eml.name}: {exc}", file=sys.stderr)
            failed += 1
    close_connections()
    return created, failed


def main(argv: list[str]) -> int:
    if len(argv) != 4 or shutil.which("readpst") is None:
        print(__doc__, file=sys.stderr)
        return 2
    pst, ews_url, user, folder_name = Path(argv[0]), argv[1], argv[2], argv[3]
    password = os.environ["NAIVE_PASSWORD"]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="naive-eml-", dir=os.environ.get("NAIVE_TMP")) as tmp:
        readpst_s = readpst_to_eml(pst, Path(tmp))
        emls = sorted(Path(tmp).rglob("*.eml"))
        t = time.perf_counter()
        created, failed = upload_one_by_one(emls, ews_url, user, password, folder_name)
        upload_s = time.perf_counter() - t
    total = time.perf_counter() - start
    print(
        json.dumps(
            {
                "emls": len(emls),
                "created": created,
                "failed": failed,
                "readpst_seconds": round(readpst_s, 2),
                "upload_seconds": round(upload_s, 2),
                "seconds": round(total, 2),
            }
        )
    )
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
