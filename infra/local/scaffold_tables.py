"""What ``make handler`` reads and extends in a family's module: who owns an object type, and the
owner's table of that object's event types (``INVOICE_EVENTS``), with a payload for the new type
derived from a sibling's (``VARIANTS``).

Edits are made on the source as ``ruff format`` writes it: a table written on one line is written
again one entry a line (with the trailing comma that keeps it so), a longer one gets its new entry
before its closing bracket.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

DEFAULT_RANK = 50
"""The rank a new type gets in a table of ranks, to be chosen (docs/handlers.md#choosing-a-rank)."""


def family_owners(handlers: Path) -> dict[str, str]:
    """Object type → the module of the family that owns its records, read from each module's
    ``Family("<name>", owns=(...))``."""
    found: dict[str, str] = {}
    for path in sorted(handlers.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Family":
                for keyword in node.keywords:
                    if keyword.arg == "owns" and isinstance(keyword.value, ast.Tuple):
                        for item in keyword.value.elts:
                            if isinstance(item, ast.Constant) and isinstance(item.value, str):
                                found[item.value] = path.stem
    return found


def table_name(obj: str) -> str:
    """The conventional name of a family's table of an object's types: ``invoice`` → ``INVOICE_EVENTS``."""
    return f"{obj.replace('.', '_').upper()}_EVENTS"


def extend_table(module: Path, obj: str, event_type: str) -> tuple[str, list[str]] | None:
    """Add ``event_type`` to the module's table of ``obj``'s types: (the table's name, the types
    already in it), or None when the module has no such table."""
    name = table_name(obj)
    text = module.read_text()
    node = next(
        (
            node
            for node in ast.parse(text).body
            if isinstance(node, ast.Assign)
            and [getattr(target, "id", None) for target in node.targets] == [name]
            and isinstance(node.value, ast.Dict | ast.Tuple)
        ),
        None,
    )
    if node is None or node.end_lineno is None:
        return None
    value = ast.literal_eval(node.value)
    ranked = isinstance(value, dict)
    entry = f'"{event_type}": {DEFAULT_RANK},' if ranked else f'"{event_type}",'
    lines = text.splitlines(keepends=True)
    first, last = node.lineno - 1, node.end_lineno - 1
    if first == last:  # one line: one entry a line, as ruff formats a table with a trailing comma
        opening, closing = ("{", "}") if ranked else ("(", ")")
        items = (
            [f'"{key}": {rank},' for key, rank in value.items()] if ranked else [f'"{key}",' for key in value]
        )
        body = "".join(f"    {item}\n" for item in [*items, entry])
        lines[first] = f"{name} = {opening}\n{body}{closing}\n"
    else:
        lines.insert(last, f"    {entry}\n")
    module.write_text("".join(lines))
    return name, [str(key) for key in value]


def add_variant(variants: Path, event_type: str, base: str) -> None:
    """A payload for ``event_type``: the stored ``base`` payload, its type changed (``VARIANTS``)."""
    opening = "VARIANTS: dict[str, tuple[str, Patch, Patch | None]] = {\n"
    text = variants.read_text()
    marker = re.search(re.escape(opening) + r"(    #[^\n]*\n)*", text)
    if marker is None:
        raise ValueError(f"{variants} has no VARIANTS table where it was")
    line = f'    "{event_type}": ("{base}", {{}}, None),\n'
    variants.write_text(text[: marker.end()] + line + text[marker.end() :])
