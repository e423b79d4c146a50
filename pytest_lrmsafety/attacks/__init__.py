"""Attacks: named, deterministic transforms of a case's messages into the messages sent."""

from __future__ import annotations

from .registry import Attack, AttackRegistry, builtin_attacks

__all__ = ["Attack", "AttackRegistry", "builtin_attacks"]
