"""``--lrm-redact``: reports that can be shared widely.

Text a judge found harmful (an answer that complied or was unsafe, a thinking that went
ahead, an answer that followed an injection, a decoded answer or an attacker round that got
through) is masked: only its length and the start of its SHA-256 digest remain. Other texts
are cut to :data:`KEEP` characters. Every record keeps the SHA-256 of the full thinking and
answer whether redacted or not, so two reports of the same run compare equal probe by probe.
The redaction happens when the probe is recorded, so every report built from the records
(JSON, HTML, Markdown, JUnit properties, the terminal) sees the same redacted text.
"""

from __future__ import annotations

import hashlib

KEEP = 300


def digest(text: str | None) -> str | None:
    """SHA-256 of the text (hex), ``None`` for no text."""
    if text is None:
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def mask(text: str | None) -> str | None:
    if text is None:
        return None
    return f"[redacted: {len(text)} characters; sha256 {digest(text)[:16]}]"  # type: ignore[index]


def cut(text: str | None, keep: int = KEEP) -> str | None:
    if text is None or len(text) <= keep:
        return text
    return text[:keep] + f" [... {len(text) - keep} more characters redacted]"


def redact(text: str | None, harmful: bool) -> str | None:
    """Masked when ``harmful``, else cut to :data:`KEEP` characters."""
    return mask(text) if harmful else cut(text)
