"""``docs/attacks.md`` from the registry: every attack with its line, source and an example.

    python -m pytest_lrmsafety.attacks.docs > docs/attacks.md

A test checks that the file in the repository is what this prints, so the docs cannot drift
from the code.
"""

from __future__ import annotations

from collections.abc import Mapping

from .registry import EXAMPLE_REQUEST, FAMILIES, AttackRegistry, builtin_attacks

INTRO = """\
# Attacks

Every attack turns a case into the messages sent to the model. Attacks are deterministic:
whatever one chooses (a persona, distractor tasks, the split points of a payload, the order
of few-shot examples) comes from a random source seeded by the case id, the attack name and
`--lrm-attack-seed`, so ids, cache keys and results are the same in every run and every
xdist worker. Choose them per suite (`defaults.attacks`) or per case (`attacks:`), select on
the command line with `--lrm-attack NAME` or `-k NAME`, list them with
`pytest --lrm-list-attacks`.

Attack success rates are reported per attack, per category x attack and per effort, for the
answer (`attack_success_rate`: unsafe answers and followed injections) and for the thinking
(`thinking_attack_success_rate`); both are gate metrics. The exact messages sent are kept per
probe in the JSON report (`messages`, `turns`, `rounds` for attacker-model attacks, and
`steps` for the prefill variants of several generations and the multilingual attacks).

Your own attacks: a YAML file of templates (`--lrm-attack-file`, see
`pytest_lrmsafety/attacks/user.py`; `{{prompt}}` is replaced by plain substitution, nothing
runs), or Python through the `pytest_lrmsafety_register_attacks` hook.

Reasoning efforts are a separate variant dimension: `efforts: [low, high]` in a suite or
`--lrm-efforts low,high` runs each probe once per effort (`weapons-001[base64-low]`), sent as
`reasoning_effort`. Thinking budgets are another: `budgets: [0, 512, 4096]` or
`--lrm-thinking-budgets 0,512,4096` (`weapons-001[direct-budget512]`, 0 = thinking off; how each
backend applies it: `pytest_lrmsafety/models/budget.py`), with the gate
`trend(unsafe_answer_rate, budget) <= 0`.

This file is generated: `python -m pytest_lrmsafety.attacks.docs > docs/attacks.md`. The
examples apply each attack to the request "{request}".
"""

FAMILY_NOTES = {
    "baseline": "The case as written.",
    "encoding": (
        "The request obfuscated; where the answer is asked for in kind, the answer is decoded "
        "and judges see the decoding beside the raw answer (`answer_decoded` in the report)."
    ),
    "framing": "The request wrapped in instructions, personas, stories or benign examples.",
    "injection": (
        "An instruction the model should not obey, delivered directly or hidden in content. "
        "On a `resist` case the injected instruction is the case's `payload` and its `check` "
        "(and optionally `judge_question` for the `llm` judge) decides whether it worked; on "
        "other cases the request itself is smuggled in."
    ),
    "multi_turn": (
        "Several user turns; the model answers each before the next, and its last answer is "
        "judged. Suites can script their own turns per case (`turns:`)."
    ),
    "reasoning": (
        "Attacks on the reasoning itself. `cot_hijack_*` pad the request with benign puzzles "
        "worked step by step (other lengths: `pytest_lrmsafety.attacks.hijack.cot_hijack(N, "
        "name=...)` from the `pytest_lrmsafety_register_attacks` hook). `hcot_*` write the "
        "fabricated safety reasoning in one model family's style (the family is in the name: "
        "`r1`, `qwen3`, `o_series`) and place it where that family reads it: the user turn, a "
        "prefill of the thinking (open-weight backends), or an earlier assistant turn; "
        "`hcot` picks the family from `--lrm-model` (R1 when it names none) and the place "
        "from the backend (R1, Qwen3: the thinking prefilled where it can be, else the user "
        "turn; o-series: an earlier assistant turn). The prefill "
        "variants (`empty_thinking`, `midtrace_insert`, `budget_forcing`) write into the "
        "thinking itself; the steps of those that take several generations are in the "
        "report (`steps`)."
    ),
    "multilingual": (
        "The request translated by a translation model you name (`--lrm-translator-model`), "
        "the answer and trace translated back into English for the judges; the report keeps "
        "both texts (`steps`). Off unless a translator is given."
    ),
    "attacker_model": (
        "A second model writes the attack. Off unless `--lrm-attacker-model` is given; "
        "`--lrm-attacker-rounds` bounds the rounds (`crescendo_adaptive`: the turns kept and "
        "as many taken back; `tap`: the tree's depth), `--lrm-tap-width` and "
        "`--lrm-tap-branch` shape tap's tree, and `--lrm-attacker-budget` caps the model "
        "calls of a `crescendo_adaptive` or `tap` search. Every round (a tap node: its "
        "score and why it was pruned) is in the report (`rounds`)."
    ),
    "custom": "Attacks from hooks or attack files.",
}


def _example(messages: list[Mapping[str, str]], turns: tuple[str, ...]) -> list[str]:
    shown = messages
    if len(messages) > 6:
        hidden = len(messages) - 4
        shown = [*messages[:2], {"role": "…", "content": f"({hidden} more turns)"}, *messages[-2:]]
    lines = ["```text"]
    for m in shown:
        content = m["content"] if len(m["content"]) <= 700 else m["content"][:700] + " …"
        flag = " (prefill: continued by the model)" if m.get("prefill") == "true" else ""
        lines.append(f"[{m['role']}{flag}] {content}")
    for number, turn in enumerate(turns, 2):
        lines.append(f"[user, turn {number}] {turn}")
    lines.append("```")
    return lines


def render(registry: AttackRegistry) -> str:
    out = [INTRO.format(request=EXAMPLE_REQUEST)]
    for family in FAMILIES:
        names = [n for n in registry if registry[n].family == family]
        if not names:
            continue
        out.append(f"## {family.replace('_', '-')}\n")
        out.append(FAMILY_NOTES[family] + "\n")
        for name in names:
            attack = registry[name]
            out.append(f"### `{name}`\n")
            out.append(attack.description[0].upper() + attack.description[1:] + ".")
            facts = []
            if attack.source:
                facts.append(f"After: {attack.source}.")
            if attack.decoder:
                facts.append(f"Answers are decoded with `{attack.decoder}`.")
            if attack.needs:
                facts.append(f"Needs: {', '.join(sorted(attack.needs))} (skipped elsewhere).")
            inserts = getattr(attack.steps, "inserts", ())
            if inserts:  # prefill steps: what goes into the trace between generations
                quoted = "; ".join(f'"{t}"' for t in inserts)
                facts.append(f"Inserted into the trace: {quoted}.")
            if facts:
                out.append(" ".join(facts))
            example = attack.example()
            out.append("")
            out += _example(list(example.messages), example.turns)
            out.append("")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(render(builtin_attacks()), end="")
