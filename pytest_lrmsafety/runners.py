"""What a probe needs besides the model under test: the attacker-model searches (``pair``,
``crescendo_adaptive``, ``tap``), the phishing dialogue's victim, the multilingual attacks'
translator, and ``runner_for``, which the engine asks for a probe of several generations of
its own. Each model is a client of its own (``clients.judge_client``), made once per run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .attacks.phishing import MissingVictim, PhishingDialogue, victim_spec
from .cases.model import Probe
from .clients import judge_client
from .engine.converse import ProbeRunner

if TYPE_CHECKING:  # the searches and the translator are imported where they are made
    from .attacks.multilingual import Translator
    from .attacks.pair import AttackerSearches
    from .runtime import Runtime


@dataclass
class Made:
    """The helpers a run made so far (each on first use)."""

    attacker: AttackerSearches | None = None
    victim: PhishingDialogue | None = None
    translator: Translator | None = None


def victim(runtime: Runtime) -> PhishingDialogue | None:
    """The phishing dialogue's victim, when a victim or judge model is set (made once)."""
    spec = victim_spec(runtime.settings)
    if spec is None:
        return None
    made = runtime.made
    if made.victim is None:
        client = judge_client(runtime, spec.spec, spec.source, spec.base_urls, "")
        made.victim = PhishingDialogue(client, turns=runtime.settings.phishing_turns)
    return made.victim


def attacker(runtime: Runtime) -> AttackerSearches | None:
    """The attacker-model searches (pair, crescendo_adaptive, tap), when
    ``--lrm-attacker-model`` is set (made once)."""
    s = runtime.settings
    if not s.attacker_model:
        return None
    made = runtime.made
    if made.attacker is None:
        from .attacks.crescendo import CrescendoSearch
        from .attacks.pair import AttackerSearches, PairSearch
        from .attacks.tap import TapSearch

        client = judge_client(
            runtime, s.attacker_model, s.source("attacker_model"), s.attacker_base_urls, ""
        )
        rounds, budget = s.attacker_rounds, s.attacker_budget
        judges_for = runtime.judges_for
        refusal = runtime.judges.get("refusal")
        made.attacker = AttackerSearches(
            {
                "pair": PairSearch(client, judges_for, rounds=rounds),
                "crescendo_adaptive": CrescendoSearch(
                    client, judges_for, refusal, rounds=rounds, budget=budget
                ),
                "tap": TapSearch(
                    client,
                    judges_for,
                    depth=rounds,
                    width=s.tap_width,
                    branch=s.tap_branch,
                    budget=budget,
                ),
            }
        )
    return made.attacker


def translator(runtime: Runtime) -> Translator | None:
    """The translation model of the multilingual attacks, when ``--lrm-translator-model``
    is set (made once; its translations cached in the run's cache)."""
    s = runtime.settings
    if not s.translator_model:
        return None
    made = runtime.made
    if made.translator is None:
        from .attacks.multilingual import Translator

        client = judge_client(
            runtime,
            s.translator_model,
            s.source("translator_model"),
            s.translator_base_urls,
            "",
        )
        made.translator = Translator(client, runtime.cache)
    return made.translator


def runner_for(runtime: Runtime, probe: Probe) -> ProbeRunner | None:
    """What runs a probe of several generations of its own (the engine asks): a prefill
    attack's steps, a translation attack's translator, the phishing dialogue; ``None``
    for the rest."""
    attacks = runtime.attacks
    if probe.attack not in attacks:
        return None
    attack = attacks[probe.attack]
    if "victim" in attack.needs:  # phishing: the dialogue with the victim model
        return victim(runtime) or MissingVictim(probe.attack)
    if attack.language is not None:
        made = translator(runtime)
        if made is None:
            from .attacks.multilingual import MissingTranslator

            return MissingTranslator(probe.attack)
        return made.runner(attack.language)
    return attack.steps
