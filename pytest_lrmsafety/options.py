"""Every ``--lrm-*`` option and ``lrm_*`` ini key, and how one value is looked up:
command line > environment > ini > default, with the source named in every error.

Each :class:`Option` carries what turns its text into its value (its kind, a parser, a check;
see :mod:`pytest_lrmsafety.option_values`) and whether it is a path;
:func:`pytest_lrmsafety.settings.resolve_settings` reads the whole table into ``Settings``.

Paths follow one rule (:meth:`pytest_lrmsafety.settings.Settings.path_base`): a path given
where pytest is started (command line, environment variable) is relative to the folder it was
started in; one written in the configuration (ini, ``pyproject.toml``) or a default is
relative to the rootdir.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pytest

from .errors import ConfigError
from .option_values import (
    AT_LEAST_0,
    EFFORTS,
    KIND_WORDS,
    POSITIVE,
    TARGET_NAMES,
    Parser,
    Range,
    budgets,
    convert,
    efforts,
    fraction,
    lines,
    on_off,
    stripped,
    targets,
    urls,
    valid_urls,
    weights,
)

__all__ = ["EFFORTS", "OPTIONS", "TARGET_NAMES", "Option", "add_options", "lookup"]

UNCLEAR_POLICIES = ("pass", "fail")
CACHE_MODES = ("rw", "ro", "off", "refresh")


@dataclass(frozen=True)
class Option:
    """One setting: ``--lrm-NAME`` on the command line and ``lrm_NAME`` in the ini file.

    ``kind`` says how the command line and the ini file read it (and converts the text:
    ``int``, ``float``, ``bool``; ``choices`` are checked with it); ``parse`` turns that into
    the setting's value (a tuple of lines, URLs, weights ...); ``check`` raises on a value out
    of range; ``path`` marks a path (or paths), resolved by the one rule of paths; ``field``
    is its name in ``Settings`` when that is not ``name``.
    """

    name: str
    help: str
    kind: str = "string"  # string | bool | linelist | int | float | list (repeatable CLI)
    default: Any = None
    env: str | None = None
    metavar: str | None = None
    cli: bool = True
    choices: tuple[str, ...] = ()
    parse: Parser | None = None
    check: Parser | None = None
    path: bool = False
    field: str = ""

    @property
    def flag(self) -> str:
        return "--lrm-" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return "lrm_" + self.name

    @property
    def attr(self) -> str:
        """The name of the setting in ``Settings``."""
        return self.field or self.name

    def value(self, raw: Any, where: str) -> Any:
        """The setting's value from what :func:`lookup` found; errors name ``where``."""
        value = self.parse(raw, where) if self.parse is not None else raw
        if self.check is not None:
            self.check(value, where)
        return value


OPTIONS: tuple[Option, ...] = (
    Option(
        "model",
        "Model under test: deepseek-r1, o3-mini, openai-compat:MODEL or a preset",
        env="LRM_MODEL",
        metavar="SPEC",
    ),
    Option(
        "base_url",
        "Server URL for openai-compat models, e.g. http://127.0.0.1:8000/v1; "
        "repeat it to spread requests over replicas",
        kind="linelist",
        env="LRM_BASE_URL",
        metavar="URL",
        parse=urls,
        check=valid_urls,
        field="base_urls",
    ),
    Option(
        "cases",
        "Files or folders of YAML suites to collect when no path is given (default: cases)",
        kind="linelist",
        default=["cases"],
        metavar="PATH",
        parse=lines,
        path=True,
    ),
    Option(
        "category",
        "Run only probes of this category (repeatable)",
        kind="list",
        metavar="NAME",
        cli=True,
        parse=lines,
        field="categories",
    ),
    Option(
        "attack",
        "Run only probes of this attack (repeatable)",
        kind="list",
        metavar="NAME",
        parse=lines,
        field="attacks",
    ),
    Option(
        "list_attacks",
        "List the attacks (built-in, from hooks and attack files) with one line each, and exit",
        kind="bool",
        default=False,
    ),
    Option(
        "attack_file",
        "YAML file of your own template attacks ({prompt} is replaced by the request); repeatable",
        kind="linelist",
        metavar="PATH",
        parse=lines,
        path=True,
        field="attack_files",
    ),
    Option(
        "attack_seed",
        "Seed of what attacks choose (personas, distractors, split points); default 0",
        kind="int",
        default=0,
        metavar="N",
    ),
    Option(
        "attacker_model",
        "Attacker model of the attacker-model attacks (pair, crescendo_adaptive, tap), same "
        "syntax as --lrm-model; those attacks are skipped without it",
        metavar="SPEC",
    ),
    Option(
        "attacker_base_url",
        "Server URL of the attacker model (repeatable: replicas)",
        kind="linelist",
        metavar="URL",
        parse=urls,
        check=valid_urls,
        field="attacker_base_urls",
    ),
    Option(
        "attacker_rounds",
        "Most rounds of an attacker-model attack per probe: pair's rounds, crescendo_adaptive's "
        "turns (and as many taken back), tap's depth (default 3)",
        kind="int",
        default=3,
        metavar="N",
        check=Range(lambda v: 1 <= v <= 50, "within 1..50"),
    ),
    Option(
        "attacker_budget",
        "Most model calls (attacker, evaluator and target together) of a crescendo_adaptive "
        "or tap search per probe; 0, the default, caps them only by rounds and tree shape",
        kind="int",
        default=0,
        metavar="N",
        check=Range(lambda v: 0 <= v <= 100_000, "within 0..100000"),
    ),
    Option(
        "tap_width",
        "Leaves the tap search keeps from one level of its tree to the next (default 4)",
        kind="int",
        default=4,
        metavar="N",
        check=Range(lambda v: 1 <= v <= 50, "within 1..50"),
    ),
    Option(
        "tap_branch",
        "Children the attacker writes for each leaf of the tap search's tree (default 2)",
        kind="int",
        default=2,
        metavar="N",
        check=Range(lambda v: 1 <= v <= 20, "within 1..20"),
    ),
    Option(
        "translator_model",
        "Translation model of the multilingual attacks (translate_*), same syntax as "
        "--lrm-model; those attacks are skipped without it",
        metavar="SPEC",
    ),
    Option(
        "translator_base_url",
        "Server URL of the translation model (repeatable: replicas)",
        kind="linelist",
        metavar="URL",
        parse=urls,
        check=valid_urls,
        field="translator_base_urls",
    ),
    Option(
        "victim_model",
        "Victim model of the phishing attack (it plays the target), same syntax as "
        "--lrm-model; default: the judge model; phishing probes are skipped without either",
        env="LRM_VICTIM_MODEL",
        metavar="SPEC",
    ),
    Option(
        "victim_base_url",
        "Server URL of the victim model (repeatable: replicas)",
        kind="linelist",
        metavar="URL",
        parse=urls,
        check=valid_urls,
        field="victim_base_urls",
    ),
    Option(
        "phishing_turns",
        "Most messages the model writes in a phishing dialogue (default 6, CyberSecEval 3's)",
        kind="int",
        default=6,
        metavar="N",
        check=Range(lambda v: 1 <= v <= 20, "within 1..20"),
    ),
    Option(
        "efforts",
        "Run every probe under each of these reasoning efforts (comma-separated, e.g. "
        "low,high): a variant dimension, overriding the suites' efforts",
        metavar="LIST",
        parse=efforts,
    ),
    Option(
        "thinking_budgets",
        "Run every probe under each of these thinking budgets (comma-separated token counts, "
        "0 = thinking off, e.g. 0,512,4096): a variant dimension, overriding the suites' budgets",
        metavar="LIST",
        parse=budgets,
    ),
    Option(
        "report_json", "Write the machine-readable report to this path", metavar="PATH", path=True
    ),
    Option(
        "report_html", "Write a self-contained HTML report to this path", metavar="PATH", path=True
    ),
    Option(
        "report_md",
        "Write a Markdown summary (for pull requests and CI step summaries) to this path",
        metavar="PATH",
        path=True,
    ),
    Option(
        "baseline",
        "An earlier JSON report to compare with: deltas per category and attack, probes "
        "that turned from pass to fail, delta(...) gates",
        metavar="PATH",
        path=True,
    ),
    Option(
        "max_regression",
        "Gate every 'higher is worse' rate on its change against --lrm-baseline: at most "
        "this much worse (e.g. 0.02 or 2%)",
        metavar="DELTA",
        parse=fraction,
    ),
    Option(
        "confidence",
        "Confidence level of the Wilson intervals shown beside every rate and used by "
        "upper()/lower() gates (default 0.95)",
        kind="float",
        default=0.95,
        metavar="LEVEL",
        check=Range(lambda v: 0.5 <= v < 1, "within 0.5..0.999"),
    ),
    Option(
        "gate_min_probes",
        "Warn when a gate rests on fewer probes than this (default 10)",
        kind="int",
        default=10,
        metavar="N",
        check=AT_LEAST_0,
    ),
    Option(
        "profile",
        "Report in a paper's terms beside its published figures: r1-study (Zhou et al. 2025, "
        "tables 1-7, 9, 10 and Figure 3, one benchmark each: safety rate, over-refusal "
        "classes, spear phishing, jailbreak and injection attack success, answer vs thinking)",
        choices=("r1-study",),
        metavar="NAME",
    ),
    Option(
        "triage",
        "Print failures grouped by category and attack, with excerpts of thinking and answer "
        "and the deciding rationale, and the thinking-vs-answer table",
        kind="bool",
        default=False,
    ),
    Option(
        "redact",
        "Mask harmful answer and thinking text (and cut the rest) in every report, keeping "
        "SHA-256 digests so runs stay comparable",
        kind="bool",
        default=False,
    ),
    Option(
        "gate",
        "Make the exit status the gate verdict: 0 all thresholds hold, 1 one is broken",
        kind="bool",
        default=False,
    ),
    Option(
        "gates",
        "Gate expressions applied to all probes, one per line",
        kind="linelist",
        default=["error_rate <= 0.02"],
        cli=False,
        parse=lines,
    ),
    Option(
        "presets",
        "Extra model presets, one per line: NAME = MODEL [key=value ...]",
        kind="linelist",
        default=[],
        cli=False,
        parse=lines,
    ),
    Option("stream", "Request completions as server-sent events", kind="bool", default=False),
    # 300 s: a reasoning model that writes 8,000 tokens of thought at 30 tokens a second takes
    # about 270 s before a non-streamed answer's first byte; a server silent for longer is more
    # likely hung than thinking. The SDK tries a timed-out request 1 + --lrm-retries times, so
    # a hung server costs a probe at most 15 minutes; --lrm-deadline bounds the whole run.
    Option(
        "timeout",
        "Seconds a model request may go without an answer (default 300; streamed: between "
        "chunks); connecting may take 10",
        kind="float",
        default=300.0,
        metavar="S",
        check=POSITIVE,
    ),
    Option(
        "deadline",
        "Seconds the generation may take in all; then probes without a completion are "
        "errors and the report is partial (default: no deadline)",
        kind="float",
        metavar="S",
        check=POSITIVE,
    ),
    Option(
        "retries",
        "Retries per model request on connection errors, 429 and 5xx",
        kind="int",
        default=2,
        metavar="N",
        check=AT_LEAST_0,
    ),
    Option(
        "temperature",
        "Sampling temperature sent to the model",
        kind="float",
        metavar="T",
        check=Range(lambda v: 0 <= v <= 2, "within 0..2"),
    ),
    Option(
        "top_p",
        "Nucleus sampling top_p sent to the model",
        kind="float",
        metavar="P",
        check=Range(lambda v: 0 < v <= 1, "within (0, 1]"),
    ),
    Option(
        "max_tokens",
        "Token limit per completion, thinking included",
        kind="int",
        metavar="N",
        check=Range(lambda v: v > 0, "a positive integer"),
    ),
    Option(
        "reasoning_effort",
        "Reasoning effort for models that take it",
        choices=EFFORTS,
        metavar="LEVEL",
    ),
    Option("seed", "Sampling seed sent to the model", kind="int", metavar="N"),
    Option(
        "fail_on",
        "Targets whose unsafe verdict fails a refuse probe: answer,thinking",
        metavar="TARGETS",
        parse=targets,
    ),
    Option(
        "unclear",
        "What an unclear verdict does to a probe: pass or fail (it is always counted)",
        choices=UNCLEAR_POLICIES,
        default="pass",
        metavar="POLICY",
    ),
    Option(
        "concurrency",
        "Model requests in flight at most, per process",
        kind="int",
        default=8,
        metavar="N",
        check=Range(lambda v: 1 <= v <= 1024, "within 1..1024"),  # one thread each
    ),
    Option(
        "rpm",
        "Cap on calls of the model under test per minute, per process: every call of a "
        "probe of several (turns, prefill steps, translation, phishing turns, pair/tap/"
        "crescendo rounds) counts; attacker, translator, victim and judge calls do not "
        "(default: no cap)",
        kind="float",
        metavar="N",
        check=POSITIVE,
    ),
    Option(
        "progress",
        "Progress line while probes generate (done, rate, errors, in flight, ETA): auto "
        "(default; only when the output is a terminal), on or off",
        choices=("auto", "on", "off"),
        default="auto",
        metavar="MODE",
    ),
    Option(
        "cache",
        "Cache mode: rw (default), ro, off, or refresh (regenerate and overwrite)",
        choices=CACHE_MODES,
        default="rw",
        metavar="MODE",
    ),
    Option(
        "cache_dir",
        "Folder of the completion and verdict cache (default: .lrmsafety in the rootdir)",
        default=".lrmsafety",
        metavar="DIR",
        path=True,
    ),
    Option(
        "model_revision",
        "Name of the deployment of an openai-compat model (weights version, image tag): "
        "cached results are shared by every URL serving this revision; default: the URLs "
        "of the run and the weights the server reports",
        env="LRM_MODEL_REVISION",
        metavar="NAME",
        parse=stripped,
    ),
    Option(
        "record",
        "Write every completion of the run to this cassette (JSONL)",
        metavar="PATH",
        path=True,
    ),
    Option(
        "samples",
        "Samples per case, overriding the suites' samples",
        kind="int",
        metavar="K",
        check=Range(lambda v: 1 <= v <= 1000, "within 1..1000"),
    ),
    Option(
        "judge_model",
        "Judge model for the 'llm' judge and the benchmark-native judges (airbench, xstest, "
        "...; the phishing victim by default), same syntax as --lrm-model (kept apart from it)",
        env="LRM_JUDGE_MODEL",
        metavar="SPEC",
    ),
    Option(
        "harm_judge",
        "What the default judge asks when rules cannot tell: auto (a judge model if there is one "
        "- --lrm-judge-model, or the model's own family for deepseek-r1 and o3-mini - else the "
        "offline embedded judge, else rules with a warning), llm, embedded, rules, or a judge "
        "name your plugin registers",
        env="LRM_HARM_JUDGE",
        default="auto",
        metavar="NAME",
    ),
    Option(
        "judge_base_url",
        "Server URL of an openai-compat judge model (repeatable: replicas)",
        kind="linelist",
        env="LRM_JUDGE_BASE_URL",
        metavar="URL",
        parse=urls,
        check=valid_urls,
        field="judge_base_urls",
    ),
    Option(
        "guard_model",
        "Llama Guard model for the 'llama_guard' judge, same syntax as --lrm-model",
        env="LRM_GUARD_MODEL",
        metavar="SPEC",
    ),
    Option(
        "guard_base_url",
        "Server URL of the Llama Guard model (repeatable: replicas)",
        kind="linelist",
        metavar="URL",
        parse=urls,
        check=valid_urls,
        field="guard_base_urls",
    ),
    Option(
        "embedded_head",
        "Judge model of the offline 'embedded' judge (default: the one that ships; yours "
        "from benchmarks/train_embedded_judge.py)",
        default="",
        metavar="PATH",
        path=True,
    ),
    Option(
        "reward_model",
        "Local folder of a sequence-classification reward model for the 'reward' judge "
        "(harm scores, as in the R1 study)",
        metavar="PATH",
        path=True,
    ),
    Option(
        "reward_higher_is_safer",
        "The reward model scores safe answers higher, so its harm score is the negated reward "
        "(default false: a higher reward on a harmful request is more help, so more harm)",
        kind="bool",
        default=False,
        cli=False,
    ),
    Option(
        "judge_weights",
        "Votes of the judges under --lrm-judge-ensemble weighted, e.g. llm=2,refusal=1",
        metavar="NAME=WEIGHT,...",
        parse=weights,
    ),
    Option(
        "judge_ensemble",
        "How several judges on one target combine: any (default), all, majority or weighted",
        choices=("any", "all", "majority", "weighted"),
        default="any",
        metavar="RULE",
    ),
    Option(
        "judge_check",
        "Before the suites, run a human-labelled set (a YAML file, or 'builtin') through the "
        "judges and check their agreement",
        metavar="PATH",
        path=True,
    ),
    Option(
        "judge_check_min",
        "Least agreement with the labelled set a judge must reach (default 0.8)",
        kind="float",
        default=0.8,
        metavar="SHARE",
        check=Range(lambda v: 0 <= v <= 1, "within 0..1"),
    ),
    Option(
        "judge_check_action",
        "What a judge below the agreement threshold does: fail (default) the run or warn",
        choices=("fail", "warn"),
        default="fail",
        metavar="ACTION",
    ),
    Option(
        "judge_json",
        "Ask the judge server for a JSON object (response_format); false for servers without it",
        kind="bool",
        default=True,
        cli=False,
    ),
    Option(
        "open_tag_in_prompt",
        "The chat template opens <think> itself (R1 distills without a parser)",
        kind="bool",
    ),
    Option(
        "thinking",
        "The chat template's thinking switch (enable_thinking) for models run here (hf:): "
        "on, off, or auto (the template's default)",
        choices=("auto", "on", "off"),
        default="auto",
        metavar="SWITCH",
        parse=on_off,
    ),
    Option(
        "device",
        "Device for models run here (hf:): auto (CUDA if present), cpu, cuda or mps",
        choices=("auto", "cpu", "cuda", "mps"),
        default="auto",
        metavar="DEVICE",
    ),
    Option(
        "dtype",
        "Weight dtype for models run here (hf:): auto (bfloat16 on GPU, float32 on CPU), "
        "float32, bfloat16 or float16",
        choices=("auto", "float32", "bfloat16", "float16"),
        default="auto",
        metavar="DTYPE",
    ),
    Option(
        "trust_remote_code",
        "Let transformers run the model repository's own code (hf:, the reward judge's "
        "custom classes such as ArmoRM's); off unless set",
        kind="bool",
        default=False,
    ),
    Option(
        "vllm_arg",
        "An engine argument for vllm: and vllm-server: models, NAME=VALUE (repeatable), e.g. "
        "tensor_parallel_size=2, max_model_len=8192, gpu_memory_utilization=0.85",
        kind="linelist",
        metavar="NAME=VALUE",
        parse=lines,
        field="vllm_args",
    ),
    Option(
        "serve",
        "With --lrm-model vllm-server:MODEL, start a local vLLM server for the run (a free "
        "port on 127.0.0.1, stopped at the end; its log in .lrmsafety/)",
        kind="bool",
        default=False,
    ),
    Option(
        "reasoning_parser",
        "vLLM reasoning parser for a started server (qwen3, deepseek_r1, ...; 'none' for "
        "none); default: chosen from the model's name",
        metavar="NAME",
    ),
    Option(
        "serve_timeout",
        "Seconds to wait for a started vLLM server to answer (default 600)",
        kind="int",
        default=600,
        metavar="S",
    ),
    Option(
        "guard_prompt",
        "How the llama_guard judge builds its prompt: template (the model's chat template), "
        "builtin (this project's Llama Guard 3 layout; hf: guard models only) or auto",
        choices=("auto", "template", "builtin"),
        default="auto",
        metavar="MODE",
    ),
)
_BY_NAME = {o.name: o for o in OPTIONS}


def add_options(parser: pytest.Parser) -> None:
    """Registers every ``--lrm-*`` option and ``lrm_*`` ini key."""
    group = parser.getgroup("lrmsafety", "safety tests for large reasoning models")
    for opt in OPTIONS:
        if opt.cli:
            # argparse %-formats help texts ("2%" would break `pytest --help`); ini help is not
            kwargs: dict[str, Any] = {
                "dest": "lrm_" + opt.name,
                "default": None,
                "help": opt.help.replace("%", "%%"),
            }
            if opt.kind == "bool":
                kwargs["action"] = "store_true"
            elif opt.kind in ("list", "linelist"):
                kwargs["action"] = "append"
                kwargs["metavar"] = opt.metavar
            else:
                kwargs["metavar"] = opt.metavar
            group.addoption(opt.flag, **kwargs)
        if opt.kind != "list":
            ini_type = {"int": "string", "float": "string"}.get(opt.kind, opt.kind)
            parser.addini(opt.ini, opt.help, type=ini_type, default=None)  # type: ignore[arg-type]


def lookup(config: pytest.Config, name: str) -> tuple[Any, str]:
    """Returns ``(value, where)`` for one setting, by CLI > environment > ini > default."""
    opt = _BY_NAME[name]
    candidates: list[tuple[Any, str]] = []
    if opt.cli:
        cli = config.getoption("lrm_" + name)
        if cli not in (None, False, []):
            if opt.kind == "linelist" and isinstance(cli, list):
                cli = [item for value in cli for item in str(value).split(",") if item.strip()]
            candidates.append((cli, f"option {opt.flag}"))
    if opt.env and os.environ.get(opt.env):
        candidates.append((os.environ[opt.env], f"environment variable {opt.env}"))
    if opt.kind != "list":
        try:
            ini = config.getini(opt.ini)
        except (TypeError, ValueError, pytest.UsageError) as exc:  # pytest's bool / toml checks
            raise ConfigError(f"ini {opt.ini}: expected {KIND_WORDS[opt.kind]} ({exc})") from None
        if ini not in (None, []):
            candidates.append((ini, f"ini {opt.ini}"))
    for raw, where in candidates:
        return convert(opt.kind, opt.choices, raw, where), where
    return opt.default, f"default of {opt.ini}"
