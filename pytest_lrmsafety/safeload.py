"""Reading YAML and JSON that may be hostile: bounded in bytes, nesting and alias expansion.

Every file the plugin reads (suites, attack files, rubrics, judge check sets, baseline
reports, cassettes) goes through here, so that a 466-byte "billion laughs" alias bomb, a
self-referencing alias (``note: &r [*r]``) or a document nested 100,000 deep ends as one
line naming the file and line, not as minutes of work, gigabytes of memory or a
``RecursionError``.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

import yaml

#: The largest YAML file read (a 25,000-case suite is about 5 MB).
MAX_YAML_BYTES = 64 * 1024 * 1024
#: The largest JSON report read back (reports hold every probe's model text).
MAX_JSON_BYTES = 1024 * 1024 * 1024
#: The deepest nesting of mappings and lists (suites need 5 or 6 levels).
MAX_DEPTH = 100
#: The most nodes a YAML document may expand to once its aliases are followed.
MAX_NODES = 2_000_000

# libyaml's parser when PyYAML was built with it (the wheels are): about 5x faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class LoadLimitError(ValueError):
    """A document beyond one of the limits above; ``line`` is where (1-based), if known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def read_text(path: Path, limit: int = MAX_YAML_BYTES) -> str:
    """The file's text, refused before reading when it is larger than ``limit`` bytes or not
    a regular file (a device or a pipe, which could be read forever).

    Raises:
        OSError, UnicodeDecodeError: As ``Path.read_text`` does.
        LoadLimitError: The file is too large.
    """
    if path.is_file() and path.stat().st_size > limit:
        raise LoadLimitError(f"larger than {limit // (1024 * 1024)} MiB; refused")
    if path.exists() and not path.is_file() and not path.is_dir():
        # /dev/zero or a named pipe: no size to check, and reading may never end
        raise LoadLimitError("not a regular file (a device or a pipe); refused")
    return path.read_text("utf-8")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def check_graph(root: yaml.Node, max_nodes: int = MAX_NODES, max_depth: int = MAX_DEPTH) -> None:
    """Refuses a composed document whose aliases make it cyclic, too large or too deep once
    expanded. Iterative, and each distinct node is visited once, so a bomb costs nothing.

    Raises:
        LoadLimitError: With the line of the offending node.
    """
    done: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, depth)
    open_: set[int] = set()  # the nodes on the current path
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        line = node.start_mark.line + 1
        if finished:
            open_.discard(key)
            parts = [done[id(child)] for child in _children(node)]
            size = 1 + sum(p[0] for p in parts)
            depth = 1 + max((p[1] for p in parts), default=0)
            if size > max_nodes:
                raise LoadLimitError(
                    f"expands to more than {max_nodes:,} values through YAML aliases "
                    "(an alias bomb?)",
                    line,
                )
            if depth > max_depth:
                raise LoadLimitError(f"nested deeper than {max_depth} levels", line)
            done[key] = (size, depth)
            continue
        if key in done:
            continue
        if key in open_:
            raise LoadLimitError("a YAML alias refers to a node that contains it", line)
        open_.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in done)


def compose_yaml(text: str) -> yaml.Node | None:
    """The document's node graph, checked by :func:`check_graph` when it has aliases.

    Raises:
        yaml.YAMLError: The text is not YAML (worded by the pure-Python parser, whose
            messages are the same on every install and say more than libyaml's).
        LoadLimitError: Too large, too deep or a cyclic alias.
    """
    if len(text) > MAX_YAML_BYTES:
        raise LoadLimitError(f"larger than {MAX_YAML_BYTES // (1024 * 1024)} MiB; refused")
    try:
        node: yaml.Node | None = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except RecursionError:  # libyaml stops at 1,000 levels; the Python parser recurses
            raise exc from None
    except RecursionError:
        raise LoadLimitError(f"nested deeper than {MAX_DEPTH} levels") from None
    if node is not None and "*" in text:  # only an alias can share or loop a node
        check_graph(node)
    return node


_SCALARS = yaml.SafeLoader("")  # one constructor for every scalar of every file


def scalar(node: yaml.Node) -> Any:
    """A scalar node's value as ``yaml.safe_load`` builds it (int, float, bool, None, ...)."""
    try:
        value = _SCALARS.construct_object(node, deep=True)
    except yaml.YAMLError:
        raise
    except ValueError:  # an int of 5,000 digits: Python refuses numbers over 4,300 digits
        line = node.start_mark.line + 1
        raise LoadLimitError("a number with more than 4,300 digits; refused", line) from None
    finally:
        _SCALARS.constructed_objects.pop(node, None)  # keep the shared constructor empty
    return value


def _plain(node: yaml.Node, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise LoadLimitError(f"nested deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        return {scalar_key(k): _plain(v, depth + 1) for k, v in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, depth + 1) for item in node.value]
    return scalar(node)


def scalar_key(node: yaml.Node) -> Any:
    """A mapping key: a scalar's value; a list or mapping as a key is refused."""
    if not isinstance(node, yaml.ScalarNode):
        raise LoadLimitError("a key must be text, not a list or mapping", node.start_mark.line + 1)
    return scalar(node)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` within the limits (the data of small files: rubrics, check sets).

    Raises:
        yaml.YAMLError: Not YAML.
        LoadLimitError: Beyond a limit; the message does not name the file.
    """
    node = compose_yaml(text)
    return None if node is None else _plain(node, 0)


def _json_depth(data: Any, limit: int) -> None:
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            raise LoadLimitError(f"nested deeper than {limit} levels")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def load_json(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses documents nested deeper than ``max_depth``.

    Raises:
        json.JSONDecodeError: Not JSON.
        LoadLimitError: Too deep, or a number too long to read.
    """
    try:
        data = json.loads(text)
    except RecursionError:
        raise LoadLimitError(f"nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError:
        raise
    except ValueError:  # int('1' * 5000): Python refuses numbers over 4,300 digits
        raise LoadLimitError("a number with more than 4,300 digits; refused") from None
    # Fewer opening brackets than the limit cannot nest past it (the common case, counted
    # in C); only a document with more is walked.
    brackets = text.count("[") + text.count("{") if isinstance(text, str) else max_depth + 1
    if isinstance(data, (dict, list)) and brackets > max_depth:
        _json_depth(data, max_depth)
    return data


def json_text(data: Any, **options: Any) -> str:
    """``json.dumps`` with ``ensure_ascii=False`` whose result always encodes as UTF-8: model
    text is untrusted and may hold a lone surrogate (``\\ud800``), which UTF-8 cannot carry,
    so then every non-ASCII character is written as a ``\\u`` escape (read back unchanged)."""
    text = json.dumps(data, ensure_ascii=False, **options)
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(data, ensure_ascii=True, **options)
    return text


def write_json(data: Any, path: Path, **options: Any) -> None:
    """Writes ``data`` as :func:`json_text` would, streamed: a report of 20,000 probes is
    never one string in memory (nor its UTF-8 bytes beside it). Written to a temporary file
    beside ``path`` and moved into place, so a reader never sees half a file; a lone
    surrogate restarts the file with ``\\u`` escapes."""
    if path.is_symlink():  # write where the link points, as a plain write would
        path = path.resolve()
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        for ascii_only in (False, True):
            encoder = json.JSONEncoder(ensure_ascii=ascii_only, **options)
            try:
                with temporary.open("w", encoding="utf-8", newline="\n") as out:
                    chunks: list[str] = []
                    for chunk in encoder.iterencode(data):
                        chunks.append(chunk)
                        if len(chunks) >= 4096:
                            out.write("".join(chunks))
                            chunks.clear()
                    out.write("".join(chunks) + "\n")
                break
            except UnicodeEncodeError:
                continue
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def has_surrogate(text: str) -> bool:
    """True when ``text`` holds a lone surrogate, which no UTF-8 file or request can carry."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _repeats_inside(items: Any, *, inside: bool) -> bool:
    """True when an unbounded repeat sits inside another repeat (``(a+)+``, ``(a*b?)*``)."""
    c = importlib.import_module("re._constants")  # the opcodes (no public module has them)

    for op, arg in items:
        if op in (c.MAX_REPEAT, c.MIN_REPEAT):
            _low, high, body = arg
            unbounded = high == c.MAXREPEAT or high > 100
            if inside and unbounded:
                return True
            if _repeats_inside(body, inside=inside or high > 1):
                return True
        elif op == c.SUBPATTERN:
            if _repeats_inside(arg[-1], inside=inside):
                return True
        elif op == c.BRANCH:
            if any(_repeats_inside(branch, inside=inside) for branch in arg[1]):
                return True
        elif op in (c.ASSERT, c.ASSERT_NOT) and _repeats_inside(arg[1], inside=inside):
            return True
        # POSSESSIVE_REPEAT and ATOMIC_GROUP never backtrack: safe however nested
    return False


def catastrophic(pattern: str, flags: int = 0) -> bool:
    """True when ``pattern`` nests an unbounded repeat inside a repeat, the shape whose
    backtracking grows exponentially with the text (``^(a+)+$`` on 40 ``a``s and a ``b``
    takes minutes). Write such a pattern possessively (``(a+)++``) or atomically instead."""
    parser = importlib.import_module("re._parser")  # Python's own parse (no public API)

    try:
        parsed = parser.parse(pattern, flags)
    except Exception:
        return False
    return _repeats_inside(list(parsed), inside=False)
