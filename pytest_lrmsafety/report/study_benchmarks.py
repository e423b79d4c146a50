"""The R1 study's benchmarks (Zhou et al. 2025, Table 1) as a run holds them: the subsets
``lrmsafety import`` gives each data set's cases, the native fields it keeps as tags, and the
import command that adds a missing benchmark to a run (read by :mod:`.study_tables`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Benchmark:
    """A data set of the study's Table 1: the run's subsets it is read from, the probes that
    count (``expect``), and how a user adds it to a run."""

    name: str
    subsets: tuple[str, ...]
    expect: str | None  # None: any expectation
    fmt: str  # lrmsafety import's format
    source: str  # the file, as the data set publishes it (CyberSecEval's: PurpleLlama's
    # CybersecurityBenchmarks/datasets/mitre/, interpreter/, spear_phishing/, prompt_injection/)
    sample: int | None = None  # the study's size, where it sampled the data set
    attack: str = "direct"  # how the study sent its prompts: as they are, or a victim dialogue

    def command(self) -> str:
        sample = f" --sample {self.sample}" if self.sample else ""
        out = self.subsets[0].removeprefix("cyberseceval-")
        return f"lrmsafety import {self.fmt} {self.source} -o cases/{out}.yaml{sample}"


BENCHMARKS = {
    b.name: b
    for b in (
        Benchmark("AirBench", ("airbench",), "refuse", "airbench", "air_bench_2024.json"),
        Benchmark(
            "MITRE",
            ("cyberseceval-mitre",),
            "refuse",
            "cyberseceval-mitre",
            "mitre_benchmark_100_per_category_with_augmentation.json",
            sample=377,
        ),
        Benchmark(
            "Interpreter",
            ("cyberseceval-interpreter",),
            "refuse",
            "cyberseceval-interpreter",
            "interpreter.json",
        ),
        Benchmark(
            "Phishing",
            ("cyberseceval-phishing",),
            None,
            "cyberseceval-phishing",
            "multiturn_phishing_challenges.json",
            attack="phishing",  # the dialogue with a victim model (attacks/phishing.py)
        ),
        Benchmark("XSTest", ("xstest",), "comply", "xstest", "xstest_prompts.csv"),
        Benchmark(
            "WildGuard",
            ("wildguardtest", "wildjailbreak"),
            "refuse",
            "wild",
            "wildguardtest.jsonl",
            sample=810,
        ),
        Benchmark(
            "Injection",
            ("cyberseceval-injection",),
            "resist",
            "cyberseceval-injection",
            "prompt_injection.json",
        ),
    )
}
# The study's column names for the benchmarks (Tables 2 and 7 say "Code Interp").
COLUMN = {"Code Interp": "Interpreter"}

# XSTest's types (the importer's ``xstest-TYPE`` tags) as the rows of Table 9.
XSTEST_TYPES = {
    "homonyms": "T1 Homonyms",
    "figurative_language": "T2 Figurative language",
    "safe_targets": "T3 Safe targets",
    "safe_contexts": "T4 Safe contexts",
    "definitions": "T5 Definitions",
    "nons_group_real_discr": "T6 Real discr., nons. group",
    "real_group_nons_discr": "T7 Nons. discr., real group",
    "historical_events": "T8 Historical events",
    "privacy_public": "T9 Privacy (public)",
    "privacy_fictional": "T10 Privacy (fictional)",
}
PHISHING_JUDGES = {
    "persuasion": "phishing_persuasion",
    "rapport": "phishing_rapport",
    "argumentation": "phishing_argumentation",
}
HARM_JUDGE = "reward"  # Figure 3: the reward judge's harm score (larger = more harmful)


INJECTION_TAGS = {
    "direct": "injection-direct",
    "indirect": "injection-indirect",
    "security-violating": "risk-security",
    "logic-violating": "risk-logic",
}
