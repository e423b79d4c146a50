"""Template attacks of your own, from YAML (``--lrm-attack-file`` / ``lrm_attack_file``).

::

    attacks:
      - name: polite_expert
        description: asks as a polite colleague          # one line, shown in listings
        template: "Dear colleague, could you help me with this? {prompt}"
        system: "You are a helpful expert."              # optional: put first as a system turn
        decoder: base64                                  # optional: decode answers in kind

``{prompt}`` is replaced by the case's request by plain substitution: no code runs, no Jinja,
no ``str.format`` (other braces in the template are kept as written). Each template must
contain ``{prompt}`` exactly once. Errors name the file, line and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import SuiteError
from .encodings import DECODERS
from .registry import Attack, AttackContext, AttackRegistry, Variant

PLACEHOLDER = "{prompt}"
_KEYS = ("name", "description", "template", "system", "decoder")


def load_attack_file(path: Path, display: str) -> list[Attack]:
    """The attacks of one file; :class:`SuiteError` (file, line, field) on a bad one."""
    from ..cases.loader import read_document

    doc = read_document(path, display, "an attack file needs an 'attacks' list")
    data = doc.data
    if not isinstance(data, dict) or set(data) != {"attacks"}:
        raise doc.error((), "an attack file holds one key, 'attacks': a list of attacks")
    items = data["attacks"]
    if not isinstance(items, list) or not items:
        raise doc.error(("attacks",), "must be a non-empty list")
    attacks: list[Attack] = []
    seen: set[str] = set()
    for i, raw in enumerate(items):
        here = ("attacks", i)
        if not isinstance(raw, dict):
            raise doc.error(here, "each attack is a mapping with name and template")
        for key in raw:
            if key not in _KEYS:
                raise doc.error((*here, key), f"unknown key {key!r}; allowed: {', '.join(_KEYS)}")
        for key in ("name", "template"):
            if not isinstance(raw.get(key), str) or not raw[key].strip():
                raise doc.error((*here, key) if key in raw else here, f"'{key}' is required (text)")
        name = raw["name"]
        if not name.replace("_", "a").isalnum() or not name[0].isalpha() or name != name.lower():
            raise doc.error((*here, "name"), f"{name!r}: use lower-case letters, digits and _")
        if name in seen:
            raise doc.error((*here, "name"), f"attack {name!r} appears twice in this file")
        seen.add(name)
        template = raw["template"]
        count = template.count(PLACEHOLDER)
        if count != 1:
            raise doc.error(
                (*here, "template"), f"must contain {PLACEHOLDER} exactly once (found {count})"
            )
        decoder = raw.get("decoder")
        if decoder is not None and decoder not in DECODERS:
            raise doc.error(
                (*here, "decoder"), f"unknown decoder {decoder!r}; known: {', '.join(DECODERS)}"
            )
        system = raw.get("system")
        if system is not None and not isinstance(system, str):
            raise doc.error((*here, "system"), "must be text")
        attacks.append(
            Attack(
                name,
                description=str(raw.get("description") or f"template from {display}"),
                family="custom",
                build=_template(template, system),
                decoder=decoder,
            )
        )
    return attacks


def _template(template: str, system: str | None) -> Any:
    head, tail = template.split(PLACEHOLDER)

    def build(ctx: AttackContext) -> Variant:
        messages: tuple[Mapping[str, str], ...] = ctx.with_request(head + ctx.request + tail)
        if system is not None:
            messages = ({"role": "system", "content": system}, *messages)
        return Variant(messages)

    return build


def register_attack_files(
    registry: AttackRegistry, files: list[tuple[Path, str]], option: str
) -> None:
    """Adds the attacks of each file; a name already taken is an error naming both places."""
    for path, display in files:
        if not path.is_file():
            what = (
                "a folder, not an attack file"
                if path.is_dir()
                else "not a regular file (a device or a pipe)"
                if path.exists()
                else "no such attack file"
            )
            raise SuiteError(display, None, None, f"{what} ({option})")
        for attack in load_attack_file(path, display):
            try:
                registry.register(attack, origin=display)
            except ValueError as exc:
                raise SuiteError(display, None, f"attacks.{attack.name}", str(exc)) from None
