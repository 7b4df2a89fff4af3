"""A tree of the chosen PSTs and their folders, with checkboxes, item counts and roles."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.events import Key
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from core.termsafe import safe
from tui.selection import FolderPath, PstChoice, human_size

BOX = {"on": "[x]", "off": "[ ]", "partial": "[-]"}


@dataclass
class NodeRef:
    choice: PstChoice
    path: FolderPath


class PstTree(Tree[NodeRef]):
    """Space ticks a PST or a folder (its subtree follows); Enter opens or closes it."""

    BINDINGS = [
        Binding("space", "toggle_check", "Tick", show=True),
        Binding("enter", "toggle_node", "Open", show=True),
        # Not letters: a path typed while the tree has the focus must never tick or untick anything.
        Binding("plus", "check_all", "All", show=True, key_display="+"),
        Binding("minus", "check_none", "None", show=True, key_display="-"),
        Binding("delete", "remove_pst", "Remove", show=True),
    ]

    DEFAULT_CSS = """
    PstTree { height: 1fr; min-height: 5; }
    """

    class SelectionChanged(Message):
        """The ticks changed, so totals must be recomputed."""

    class TypedAhead(Message):
        """A printable key the tree does not use (the start of a path): the screen hands it to the path field."""

        def __init__(self, character: str) -> None:
            super().__init__()
            self.character = character

    def on_key(self, event: Key) -> None:
        if event.character and event.is_printable and event.character not in " +-":
            event.stop()
            event.prevent_default()
            self.post_message(self.TypedAhead(event.character))

    def __init__(self, **kwargs) -> None:
        super().__init__("PSTs", **kwargs)
        self.show_root = False
        self.auto_expand = False
        self.guide_depth = 2
        self.choices: list[PstChoice] = []

    # ----- building ---------------------------------------------------------------------------------

    def add_choice(self, choice: PstChoice) -> None:
        """Show a PST and its folders (the top levels open)."""
        self.choices.append(choice)
        top = self.root.add(self._label(choice, ()), data=NodeRef(choice, ()), expand=True)
        nodes: dict[FolderPath, TreeNode[NodeRef]] = {(): top}
        for f in choice.folders:
            if f.path == ():
                continue
            parent = nodes.get(f.path[:-1], top)
            has_children = any(g.path[: len(f.path)] == f.path and g.path != f.path for g in choice.folders)
            node = parent.add(self._label(choice, f.path), data=NodeRef(choice, f.path), allow_expand=has_children)
            nodes[f.path] = node
        self.root.expand()

    def _label(self, choice: PstChoice, path: FolderPath) -> Text:
        state = choice.state(path)
        text = Text(no_wrap=True)
        text.append(BOX[state] + " ", style="bold green" if state == "on" else ("yellow" if state == "partial" else ""))
        if path == ():
            name = safe(choice.path.rsplit("/", 1)[-1])  # names from disk and from the PST: controls escaped
            text.append(name, style="bold")
            extra = f"  {choice.selected_items}/{choice.total_items} items, {human_size(choice.size)}"
            if choice.display_name:
                extra += f", “{safe(choice.display_name)}”"
            if choice.format == "ansi":
                extra += ", ANSI"
            text.append(extra, style="dim")
            return text
        info = next(f for f in choice.folders if f.path == path)
        text.append(safe(path[-1]))
        text.append(f"  {info.items}", style="cyan")
        if info.role:
            text.append(f"  {info.role}", style="magenta")
        return text

    def refresh_labels(self) -> None:
        def walk(node: TreeNode[NodeRef]) -> None:
            for child in node.children:
                if child.data is not None:
                    child.set_label(self._label(child.data.choice, child.data.path))
                walk(child)

        walk(self.root)

    # ----- actions ----------------------------------------------------------------------------------

    def action_select_cursor(self) -> None:
        # Reached by a mouse click on a label (Enter is bound to open/close): a click ticks, like Space.
        self.action_toggle_check()

    def action_toggle_check(self) -> None:
        node = self.cursor_node
        if node is None or node.data is None:
            return
        ref = node.data
        ref.choice.set_checked(ref.path, ref.choice.state(ref.path) != "on")
        self.refresh_labels()
        self.post_message(self.SelectionChanged())

    def action_check_all(self) -> None:
        for c in self.choices:
            c.set_checked((), True)
        self.refresh_labels()
        self.post_message(self.SelectionChanged())

    def action_check_none(self) -> None:
        for c in self.choices:
            c.set_checked((), False)
        self.refresh_labels()
        self.post_message(self.SelectionChanged())

    def action_remove_pst(self) -> None:
        node = self.cursor_node
        if node is None or node.data is None:
            return
        while node.parent is not None and node.parent is not self.root:
            node = node.parent
        choice = node.data.choice
        self.choices = [c for c in self.choices if c is not choice]
        node.remove()
        self.post_message(self.SelectionChanged())
