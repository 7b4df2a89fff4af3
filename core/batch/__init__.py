"""`pstimport batch MAPPING.csv --template PROFILE.yaml`: many mailboxes at once.

    rows = load_mapping("map.csv")                      # core.batch.mapping: CSV -> BatchRow
    template, notes = load_template("template.yaml")    # core.batch.template
    result = run_batch(template, rows, BatchOptions(parallel_mailboxes=8), on_event)

Each mailbox is one run of the engine (`core.engine.run`) with its own journal and throttle
state; all share one connection cap. `--shard i/n` (core.batch.shard) splits the CSV by mailbox.
"""

from core.batch.mapping import BatchRow, MappingError, load_mapping
from core.batch.runner import BatchOptions, BatchResult, run_batch
from core.batch.shard import parse_shard, shard_of
from core.batch.template import load_template

__all__ = [
    "BatchOptions",
    "BatchResult",
    "BatchRow",
    "MappingError",
    "load_mapping",
    "load_template",
    "parse_shard",
    "run_batch",
    "shard_of",
]
