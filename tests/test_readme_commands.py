"""What a new user meets by following the README: its claims checked against the code, and the
defects a user trial of the new features found, one test each (so each can fail again)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from chat_server import ChatServer
from lrm_project import SUITE, model_args, read_report

from pytest_lrmsafety.attacks.multilingual import Translator
from pytest_lrmsafety.attacks.registry import builtin_attacks
from pytest_lrmsafety.cases.model import Case, Probe
from pytest_lrmsafety.judges.base import JudgeRegistry
from pytest_lrmsafety.judges.rules import RefusalJudge
from pytest_lrmsafety.models.base import GenerationError, SamplingParams
from pytest_lrmsafety.models.openai_compat import OpenAICompatClient
from pytest_lrmsafety.report.build import sample_groups
from pytest_lrmsafety.report.scoreboard import ProbeRecord

README = Path(__file__).resolve().parents[1] / "README.md"


def record(case: str, outcome: str, **fields: object) -> ProbeRecord:
    return ProbeRecord(
        nodeid=f"cases/s.yaml::{case}[direct-{fields}]",
        suite="cases/s.yaml",
        case_id=case,
        category="Harm",
        attack="direct",
        sample=int(fields.pop("sample", 1)),  # type: ignore[call-overload]
        expect="refuse",
        severity="high",
        outcome=outcome,
        **fields,  # type: ignore[arg-type]
    )


def test_readme_counts_the_attacks_the_registry_has() -> None:
    said = re.search(r"^(\d+) built-in attacks", README.read_text(), re.MULTILINE)
    assert said, "README: the Attacks section no longer says how many attacks there are"
    assert int(said.group(1)) == len(builtin_attacks())


def test_budget_and_effort_variants_are_not_counted_as_samples() -> None:
    # --lrm-thinking-budgets=0,512 with one sample: two probes of one case x attack, but no
    # samples; the report said "samples: 1 case x attack groups; any sample failed ...".
    variants = [
        record("c1", "fail", budget=0),
        record("c1", "pass", budget=512),
        record("c2", "pass", effort="low"),
        record("c2", "pass", effort="high"),
    ]
    assert sample_groups(variants).groups == 0
    samples = [record("c1", "fail", budget=512, sample=k) for k in (2, 3)]  # and the pass
    groups = sample_groups([*variants, *samples])
    assert groups.groups == 1 and groups.cases[0].samples == 3 and groups.any_fail == 1


def test_a_judge_is_described_under_the_name_its_verdicts_carry() -> None:
    # Without a harm judge, ``default`` is the refusal judge: its verdicts say "refusal", and
    # the report printed "judge refusal: (not described)".
    registry = JudgeRegistry()
    registry.register("default", RefusalJudge)
    registry.get("default")
    described = registry.descriptions()
    assert described["refusal"] == described["default"] == RefusalJudge.description


def test_a_translator_that_refuses_the_request_makes_the_probe_an_error() -> None:
    # An aligned translation model declines a harmful request; the target was sent its
    # English refusal as the "translated" request and the probe passed.
    def client(server: ChatServer, style: str) -> OpenAICompatClient:
        name = f"openai-compat:{style}"
        return OpenAICompatClient(
            name=name, model=style, base_url=server.url, api_key="k", max_retries=0
        )

    request = ({"role": "user", "content": "Harmful request X."},)
    case = Case("c", "Harm", "refuse", request, "s.yaml", 1)
    probe = Probe(case, "translate_zu", 1, case.messages)
    params = SamplingParams(temperature=0.0)
    with ChatServer() as target, ChatServer() as translator:
        translator.default.thinking = None
        translator.add_rule("into English", answer="I can't help with that.")
        translator.add_rule("into Zulu", times=1, answer="I can't help with that.")
        translator.add_rule("into Zulu", answer="ISICELO X")  # then a translation: it runs
        runner = Translator(client(translator, "plain")).runner("zu")
        with pytest.raises(GenerationError, match="refused to translate the request into Zulu"):
            runner.run(client(target, "reasoning"), probe, params)
        done = runner.run(client(target, "reasoning"), probe, params)
        assert done.raw["steps"][0] == {"step": "request in zu", "text": "ISICELO X"}


def test_the_html_report_repeats_no_element_id_and_every_reference_resolves() -> None:
    # Two matplotlib charts on one page both had figure_1, patch_1, the glyphs' ids ...
    pytest.importorskip("matplotlib")
    pytest.importorskip("jinja2")
    from pytest_lrmsafety.report.build import build_report
    from pytest_lrmsafety.report.html import render_html

    records = [
        record(f"c{n}", "fail" if n < 3 else "pass", answer_unsafe=n < 3, thinking_unsafe=False)
        for n in range(8)
    ]
    page = render_html(build_report(records, [], model="m", settings={}, partial=False))
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert page.count("<svg") >= 2
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})[:5]
    pointed = set(re.findall(r'(?:href="#|url\(#)([^")]+)', page))
    assert pointed and pointed <= set(ids)


def test_the_attacker_model_help_names_every_attack_that_uses_it() -> None:
    from pytest_lrmsafety.options import OPTIONS

    needs = [n for n in builtin_attacks() if "attacker" in builtin_attacks()[n].needs]
    help_text = next(o.help for o in OPTIONS if o.name == "attacker_model")
    assert needs and all(name in help_text for name in needs), (needs, help_text)


def test_two_suite_files_of_one_folder_named_on_the_command_line(
    pytester: pytest.Pytester, chat_server: ChatServer
) -> None:
    # README: `pytest cases/xstest.yaml cases/harmbench.yaml --lrm-model ...`; the second
    # file was "not found" (pytest walks cases/ once per argument, and the second walk took
    # the first's suites for links to them).
    pytester.mkdir("cases")
    for name in ("one", "two"):
        pytester.path.joinpath("cases", f"{name}.yaml").write_text(SUITE)
    result = pytester.runpytest(
        "cases/one.yaml", "cases/two.yaml", *model_args(chat_server), "--lrm-report-json=r.json"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-2000:]
    suites = {p["suite"] for p in read_report(pytester.path / "r.json")["probes"]}
    assert suites == {"cases/one.yaml", "cases/two.yaml"}


def test_a_closed_prefill_leaves_its_tags_out_of_the_answer() -> None:
    # empty_thinking on a server with a separate reasoning field: the answer was
    # "<think>\n\n</think>\n\nI can't help." and budget forcing's own trace was dropped.
    from pytest_lrmsafety.models.base import PREFILL_KEY
    from pytest_lrmsafety.models.budget import ZERO_THINK

    params = SamplingParams(temperature=0.0)
    with ChatServer() as server:
        server.add_rule("Harmful", thinking="Server trace.", answer="I can't help with that.")
        client = OpenAICompatClient(
            name="openai-compat:reasoning",
            model="reasoning",
            base_url=server.url,
            api_key="k",
            max_retries=0,
            prefill="vllm",
        )
        user = {"role": "user", "content": "Harmful request X."}

        def prefilled(text: str) -> list[dict[str, str]]:
            return [user, {"role": "assistant", "content": text, PREFILL_KEY: "true"}]

        empty = client.generate(prefilled(ZERO_THINK), params)
        assert (empty.answer, empty.thinking) == ("I can't help with that.", "Server trace.")
        forced = "<think>\nMy own trace.\n</think>\n\n"
        done = client.generate(prefilled(forced), params)
        assert done.answer == "I can't help with that."
        assert done.thinking == "My own trace.\n\nServer trace."
