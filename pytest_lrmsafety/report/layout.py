"""Text that fits a terminal: tables that narrow, wrap or stack, and prose that wraps.

A table is tried in this order, and the first that fits ``width`` is printed:

1. as it is, one line per row;
2. with its headers wrapped onto several lines between words, and the columns named in
   ``shrink`` wrapped, between words, no narrower than their longest word (a category name
   over two lines, a gate's interval under its rate);
3. the same with header words longer than their column's values and than 12 characters
   cut: after a ``_``, ``-``, ``/`` or ``:`` where one is near, else with a hyphen
   (``argumen-`` / ``tation``): a header word is cut only when whole words cannot fit;
4. ``overflow="stack"``: stacked, as pandas prints a wide frame: the value columns in
   blocks, one under the other, each repeating the key columns (at most a third of the
   width), so every row and every value is still there; ``overflow="records"``, or a
   terminal too narrow to stack: one record per row, ``keys`` then ``  header: value``
   lines.

A cell is a string (it may break between words), an int (right-aligned, never broken) or a
tuple of pieces (it may break only between pieces: ``("33.3% (2/6)", "[9.7%, 70.0%]")``).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from typing import Literal

Cell = str | int | tuple[str, ...]
GAP = 2  # spaces between columns, as tabulate's "simple" format
DEFAULT_WIDTH = 100  # for callers without a terminal
MIN_WIDTH = 40  # narrower than this, lines are still cut at 40 (as pytest reads widths)
HEAD_CUT = 12  # a header word longer than this and than its values may be cut
MIN_KEY = 12  # stacked blocks keep at least this much of the row names per line
SEPARATORS = "_-/:.,=]"


class _Wrapper(textwrap.TextWrapper):
    def _handle_long_word(
        self, reversed_chunks: list[str], cur_line: list[str], cur_len: int, width: int
    ) -> None:
        # A word longer than a line (a node id, a path) is cut after a separator where one
        # is near, not at whatever character the line ends on.
        chunk = reversed_chunks[-1]
        at = _cut(chunk, max(width - cur_len, 1))
        cur_line.append(chunk[:at])
        reversed_chunks[-1] = chunk[at:]


def wrap(text: str, width: int, indent: str = "", hang: str | None = None) -> list[str]:
    """``text`` wrapped to ``width``: the first line after ``indent``, the others after
    ``hang`` (default: ``indent`` and two spaces). Words longer than a line are cut."""
    width = max(width, MIN_WIDTH)
    hang = indent + "  " if hang is None else hang
    if len(indent) + len(text) <= width:
        return [indent + text]
    wrapper = _Wrapper(
        width,
        initial_indent=indent,
        subsequent_indent=hang,
        break_on_hyphens=False,
        replace_whitespace=False,
    )
    return wrapper.wrap(text) or [indent]


_UNPRINTABLE = re.compile(r"[^\n\t\x20-\x7e]")  # a quick test before the exact one


def visible(text: str) -> str:
    """``text`` safe to print: control and other unprintable characters (ESC sequences from
    a model's output, bidirectional overrides) written as Python escapes, ``\\x1b``, as the
    failure excerpts of a run show them (``repr``); line breaks and tabs kept."""
    if not _UNPRINTABLE.search(text):
        return text
    return "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in text)


def _pieces(cell: Cell) -> list[str]:
    if isinstance(cell, tuple):
        return [p for p in cell if p] or [""]
    if isinstance(cell, int):
        return [str(cell)]
    return cell.split() or [""]


def _cut(piece: str, width: int) -> int:
    """Where to cut a piece longer than the column: after a separator if one is near."""
    best = max(piece.rfind(sep, 0, width) for sep in SEPARATORS) + 1
    return best if best > width // 2 else width


def _fill(pieces: Sequence[str], width: int, hyphen: bool = False) -> list[str]:
    """``pieces`` in lines of ``width``; a piece longer than that is cut after a separator
    where one is near, else (with ``hyphen``: a header word) with a hyphen."""
    lines: list[str] = []
    line = ""
    for piece in pieces:
        while len(piece) > width:  # only when a column is narrower than its longest piece
            if line:
                lines.append(line)
                line = ""
            at = _cut(piece, width)
            if hyphen and at == width and width > 3 and piece[at - 1] not in SEPARATORS:
                lines.append(piece[: at - 1] + "-")
                piece = piece[at - 1 :]
                continue
            lines.append(piece[:at])
            piece = piece[at:]
        if not line:
            line = piece
        elif len(line) + 1 + len(piece) <= width:
            line += " " + piece
        else:
            lines.append(line)
            line = piece
    return [*lines, line]


class _Column:
    def __init__(self, header: str, cells: Sequence[Cell]) -> None:
        self.header = header
        self.cells = [_pieces(c) for c in cells]
        self.right = bool(cells) and all(isinstance(c, int) for c in cells)
        self.data = max((len(" ".join(p)) for p in self.cells), default=0)
        self.data_min = max((len(x) for p in self.cells for x in p), default=0)
        self.head_min = max(len(w) for w in header.split() or [""])
        self.natural = max(self.data, len(header))
        self.whole = max(self.data, self.head_min)  # headers wrapped between words
        self.wrapped = max(self.data, min(self.head_min, HEAD_CUT))  # header words cut
        self.floor = max(self.data_min, min(self.head_min, max(self.data, HEAD_CUT)))
        self.whole_floor = max(self.data_min, self.head_min)

    def used(self, limit: int) -> int:
        """How wide the column is once wrapped at ``limit``."""
        head = _fill(self.header.split() or [""], limit, hyphen=True)
        return max(len(line) for line in [*head, *(x for p in self.cells for x in _fill(p, limit))])


def _render(columns: Sequence[_Column], widths: Sequence[int]) -> list[str]:
    heads = [
        _fill(c.header.split() or [""], w, hyphen=True)
        for c, w in zip(columns, widths, strict=True)
    ]
    rows = [
        [_fill(c.cells[r], w) for c, w in zip(columns, widths, strict=True)]
        for r in range(len(columns[0].cells))
    ]
    # A column is as wide as its widest wrapped line, not its limit.
    actual = [
        max([len(x) for x in head] + [len(x) for row in rows for x in row[i]])
        for i, head in enumerate(heads)
    ]

    def lines(parts: Sequence[list[str]], bottom: bool) -> list[str]:
        height = max(len(p) for p in parts)
        out = []
        for k in range(height):
            cells = []
            for i, part in enumerate(parts):
                # Headers sit on their last line, as tabulate puts them; cells on the first.
                at = k - (height - len(part)) if bottom else k
                text = part[at] if 0 <= at < len(part) else ""
                cells.append(text.rjust(actual[i]) if columns[i].right else text.ljust(actual[i]))
            out.append((" " * GAP).join(cells).rstrip())
        return out

    out = lines(heads, bottom=True)
    out.append((" " * GAP).join("-" * w for w in actual))
    for row in rows:
        out += lines(row, bottom=False)
    return out


def _total(widths: Sequence[int]) -> int:
    return sum(widths) + GAP * (len(widths) - 1)


def _widths(columns: Sequence[_Column], width: int, shrink: Sequence[int]) -> list[int] | None:
    """The columns' widths by steps 1 to 3, or ``None`` when the table must stack."""
    widths = [c.natural for c in columns]
    if _total(widths) <= width:
        return widths
    for cut in (False, True):  # header words whole, then cut
        widths = [c.wrapped if cut else c.whole for c in columns]
        for i in shrink:
            if _total(widths) <= width:
                break
            need = _total(widths) - width
            floor = columns[i].floor if cut else columns[i].whole_floor
            widths[i] = columns[i].used(max(floor, widths[i] - need))
        if _total(widths) <= width:
            return widths
    return None


def fits(
    headers: Sequence[str], rows: Sequence[Sequence[Cell]], width: int, shrink: Sequence[int] = (0,)
) -> bool:
    """Whether :func:`table` lays these rows out as one table (steps 1 to 3), unstacked."""
    columns = [_Column(h, [r[i] for r in rows]) for i, h in enumerate(headers)]
    return _widths(columns, max(width, MIN_WIDTH), shrink) is not None


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    width: int = DEFAULT_WIDTH,
    *,
    keys: int = 1,
    shrink: Sequence[int] = (0,),
    overflow: Literal["stack", "records"] = "stack",
) -> list[str]:
    """The lines of a table no wider than ``width`` (see the module's docstring).

    Args:
        headers: One per column; may wrap at spaces.
        rows: Cells, one per column.
        width: The terminal's width.
        keys: How many leading columns name a row (repeated in every stacked block).
        shrink: Columns that may wrap, in the order they are narrowed.
        overflow: What a table too wide for all that becomes: ``stack`` (tables of rates,
            compared down a column) or ``records`` (rows with long texts, like gates).
    """
    width = max(width, MIN_WIDTH)
    columns = [_Column(h, [r[i] for r in rows]) for i, h in enumerate(headers)]
    widths = _widths(columns, width, shrink)
    if widths is not None:
        return _render(columns, widths)
    if overflow == "records":
        return _records(columns, width, keys)
    return _stack(columns, width, keys)


def _blocks(
    widths: Sequence[int], key_widths: Sequence[int], values: Sequence[int], width: int
) -> list[list[int]]:
    keys = len(key_widths)
    blocks: list[list[int]] = []
    for i in values:
        used = sum(key_widths) + sum(widths[j] for j in blocks[-1]) if blocks else 0
        if not blocks or used + GAP * (keys + len(blocks[-1])) + widths[i] > width:
            blocks.append([i])
        else:
            blocks[-1].append(i)
    return blocks


def _stack(columns: Sequence[_Column], width: int, keys: int) -> list[str]:
    key_cols, values = list(range(keys)), list(range(keys, len(columns)))
    if not values:
        return _records(columns, width, keys)
    widths = [c.wrapped for c in columns]
    widest = max(widths[i] for i in values)
    room = min(width // 3, width - widest - GAP * keys)
    if room < min(sum(widths[:keys]), MIN_KEY):  # names cut too short to read: records
        return _records(columns, width, keys)
    # The keys take at most a third of the width (a long name wraps), to leave the values
    # room for as few blocks as possible.
    key_widths = list(widths[:keys])
    while sum(key_widths) + GAP * (keys - 1) > room:
        i = key_widths.index(max(key_widths))
        key_widths[i] -= 1
    key_widths = [columns[i].used(w) for i, w in enumerate(key_widths)]
    blocks = _blocks(widths, key_widths, values, width)
    # Header words kept whole where that needs no more blocks and every block still fits.
    whole = [*widths[:keys], *(columns[i].whole for i in values)]
    if sum(key_widths) + GAP * keys + max(whole[i] for i in values) <= width:
        kept = _blocks(whole, key_widths, values, width)
        if len(kept) <= len(blocks):
            widths, blocks = whole, kept
    out: list[str] = []
    for n, block in enumerate(blocks):
        if n:
            out.append("")
        chosen = [*key_cols, *block]
        out += _render([columns[i] for i in chosen], [*key_widths, *(widths[i] for i in block)])
    return out


def _records(columns: Sequence[_Column], width: int, keys: int) -> list[str]:
    out: list[str] = []
    for r in range(len(columns[0].cells)):
        name = "  ".join(" ".join(columns[i].cells[r]) for i in range(keys))
        out += wrap(name, width)
        for column in columns[keys:]:
            out += wrap(f"{column.header}: {' '.join(column.cells[r])}", width, "  ", "      ")
    return out
