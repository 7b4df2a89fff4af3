"""Finding or creating every target folder of a plan, level by level, many at once.

A folder's parent must exist before it, so the plan's target tree is set up one depth at a time: the
store's well-known folders and the top folders first, then their children, and so on; within a
level, up to `max_threads` requests are in flight (`CallPool`, paced like the uploads). The run and
`pstimport verify` share this.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.engine.plan import Plan
from core.engine.pool import CallPool
from core.transport.base import FolderHandle, Transport


@dataclass
class _Node:
    key: tuple[str, ...]
    parent: tuple[str, ...] | None  # None: a well-known folder (an anchor)
    name: str
    container_class: str | None
    handle: FolderHandle | None = None


def resolve_folders(plan: Plan, transport: Transport, pool: CallPool) -> None:
    """Find or create the target folder of every planned folder; fills `handle`, `folder_id` and
    `target_path` of each `FolderPlan`.

    Keys are case-folded paths (Exchange compares folder names without case); an anchored path
    starts with "@role". The first plan to name a folder decides its container class.
    """
    root = pool.call(transport.store_root)
    nodes: dict[tuple[str, ...], _Node] = {(): _Node((), None, "", None, root)}
    for _source, fp in plan.folders:
        if fp.anchor:
            key: tuple[str, ...] = ("@" + fp.anchor,)
            nodes.setdefault(key, _Node(key, None, fp.target_path[0], fp.container_class))
        else:
            key = ()
        for name, cls in zip(fp.rel, fp.rel_classes, strict=True):
            child = (*key, name.casefold())
            nodes.setdefault(child, _Node(child, key, name, cls))
            key = child

    def ensure(node: _Node) -> FolderHandle:
        if node.parent is None:
            found = transport.well_known(node.key[0][1:])
            if found is not None:
                return found
            # The store has no such folder (an archive has no Inbox): a folder of that name instead.
            return transport.ensure_folder(root, node.name, node.container_class)
        parent = nodes[node.parent].handle
        assert parent is not None
        return transport.ensure_folder(parent, node.name, node.container_class)

    depth = 1
    while True:
        level = [n for k, n in nodes.items() if len(k) == depth]
        if not level:
            break
        # Finding before creating makes each call safe to repeat after a lost answer.
        for node, handle in zip(level, pool.map(ensure, level), strict=True):
            node.handle = handle
        depth += 1

    for _source, fp in plan.folders:
        if fp.anchor:
            key = ("@" + fp.anchor,)
            anchor = nodes[key].handle
            assert anchor is not None
            names: tuple[str, ...] = (anchor.display_name or fp.target_path[0],)
        else:
            key, names = (), ()
        for name in fp.rel:
            key = (*key, name.casefold())
            names = (*names, name)
        handle = nodes[key].handle
        assert handle is not None
        fp.handle = handle
        fp.folder_id = handle.id
        fp.target_path = names
