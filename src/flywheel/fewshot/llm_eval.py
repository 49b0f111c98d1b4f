"""Prompt-variant experiments against an LLM, judged like retrieval experiments.

A TOML spec fixes the hypothesis, the metric and the success criterion before anything runs
(the same :class:`~flywheel.evaluation.experiment_spec.SuccessCriterion` and verdicts as
``flywheel experiment run``). Each variant is a prompt recipe: library version, ``k``, mode
(``dynamic``, ``static``, ``nearest``, ``random``) and template; ``k = 0`` is zero-shot. Every
question of the held-out file is asked with every variant, answers are scored against the
reference answers (``exact_match``, ``token_f1`` or ``module:function``), and the per-question
scores go through :func:`~flywheel.evaluation.compare.compare`: bootstrap intervals, paired
tests against the baseline, Holm's correction, win/tie/loss. Every prompt use is logged with its
library version; the run is stored with the retrieval experiments (``kind = "fewshot-llm"``).

.. code-block:: toml

    name = "fewshot-vs-zero-shot"
    hypothesis = "Library examples beat zero-shot on token F1"
    questions = "heldout.jsonl"      # question, answer (qid optional); relative to the spec
    library = "default"              # a stored library
    model = "gpt-4o-mini"
    primary_metric = "token_f1"
    metrics = ["exact_match", "token_f1"]
    baseline = "zero-shot"

    [success]
    metric = "token_f1"
    min_absolute_gain = 0.05

    [[variants]]
    name = "zero-shot"
    k = 0

    [[variants]]
    name = "library-k4"
    k = 4
"""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flywheel.errors import ConfigError, LeakageError
from flywheel.evaluation.compare import Comparison, compare
from flywheel.evaluation.evaluate import EvaluationResult
from flywheel.evaluation.experiment import (
    Verdict,
    git_commit,
    judge,
    overall_verdict,
    package_versions,
)
from flywheel.evaluation.experiment_spec import SuccessCriterion
from flywheel.evaluation.significance import SignificanceTest
from flywheel.fewshot.examples import Example, examples_from_file
from flywheel.fewshot.library import FewShotLibrary, PromptMode
from flywheel.fewshot.llm_client import ChatClient
from flywheel.fewshot.prompting import DEFAULT_TEMPLATE, load_template, render_prompt
from flywheel.fewshot.scoring import resolve_scorer

KIND = "fewshot-llm"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PromptVariant(_Strict):
    """One prompt recipe. ``version`` None: the library's newest version."""

    name: str
    k: int = Field(4, ge=0)
    mode: PromptMode = PromptMode.DYNAMIC
    template: str = DEFAULT_TEMPLATE
    version: int | None = Field(None, ge=1)


class LLMExperimentSpec(_Strict):
    name: str
    hypothesis: str
    questions: str
    library: str = "default"
    model: str
    primary_metric: str
    success: SuccessCriterion
    metrics: list[str] = Field(default_factory=list)
    baseline: str
    variants: list[PromptVariant] = Field(min_length=2)
    system: str | None = None
    answer_prefix: str = "Answer:"
    temperature: float = 0.0
    max_tokens: int = Field(256, ge=1)
    concurrency: int = Field(4, ge=1)
    test: SignificanceTest = SignificanceTest.PERMUTATION
    alpha: float = Field(0.05, gt=0, lt=1)
    n_resamples: int = Field(10_000, ge=100)
    seed: int = 0
    source: str | None = None

    def all_metrics(self) -> list[str]:
        return list(dict.fromkeys([self.primary_metric, self.success.metric, *self.metrics]))

    def questions_path(self) -> Path:
        path = Path(self.questions).expanduser()
        if not path.is_absolute() and self.source:
            path = Path(self.source).parent / path
        return path

    def to_dict(self) -> dict[str, Any]:
        return {"kind": KIND, **self.model_dump(mode="json")}


def _fail(source: str | None, field: str, problem: str) -> ConfigError:
    return ConfigError(f"{source or '<spec>'}: field '{field}': {problem}")


def parse_llm_spec(data: dict[str, Any], *, source: str | None = None) -> LLMExperimentSpec:
    """Validate a spec dict; the first problem becomes one ConfigError naming the field."""
    data = {k: v for k, v in data.items() if k != "kind"}
    try:
        spec = LLMExperimentSpec.model_validate({**data, "source": source})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in first["loc"])
        raise _fail(source, field.replace(".[", "[") or "(top level)", first["msg"]) from None
    names = [v.name for v in spec.variants]
    if len(set(names)) != len(names):
        raise _fail(source, "variants", f"variant names must be unique, got {names}")
    if spec.baseline not in names:
        raise _fail(source, "baseline", f"'{spec.baseline}' is not a variant: {', '.join(names)}")
    for metric in spec.all_metrics():
        try:
            resolve_scorer(metric)
        except Exception as exc:  # noqa: BLE001 - any failure to resolve is a spec error
            raise _fail(source, "metrics", str(exc)) from None
    for i, variant in enumerate(spec.variants):
        try:
            load_template(variant.template)
        except ConfigError as exc:
            raise _fail(source, f"variants[{i}].template", str(exc)) from None
    return spec


def load_llm_spec(path: str | Path) -> LLMExperimentSpec:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such experiment spec; see docs/fewshot.md") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    spec = parse_llm_spec(data, source=str(path))
    if not spec.questions_path().is_file():
        raise _fail(spec.source, "questions", f"no file {spec.questions_path()}")
    return spec


def extract_answer(text: str, prefix: str = "Answer:") -> str:
    """The text after the last ``prefix`` (the template's answer line), else the whole reply."""
    if prefix and prefix in text:
        text = text.rsplit(prefix, 1)[1]
    return text.strip()


def _questions(spec: LLMExperimentSpec) -> list[Example]:
    questions = examples_from_file(spec.questions_path())
    missing = [q.qid for q in questions if not (q.answer or "").strip()]
    if missing:
        raise ConfigError(
            f"{spec.questions_path()}: {len(missing)} questions have no reference answer "
            f"(e.g. '{missing[0]}'); give each an 'answer'"
        )
    return questions


def _check_leakage(library: FewShotLibrary, questions: list[Example]) -> None:
    pool = {" ".join(e.example.question.lower().split()) for e in library.pool}
    leaked = [q.qid for q in questions if " ".join(q.question.lower().split()) in pool]
    if leaked:
        raise LeakageError(
            f"{len(leaked)} held-out questions are examples of library {library.library_id} "
            f"(e.g. '{leaked[0]}'); build the library without them, or drop them from the file"
        )


def run_llm_experiment(
    spec: LLMExperimentSpec,
    *,
    store: Any,
    client: ChatClient | None = None,
    embedder: Any = None,
    save: bool = True,
) -> dict[str, Any]:
    """Ask every question with every variant, score, compare, judge; returns the result dict
    (stored as an experiment run when ``save``; its ``run_id`` is then in the dict)."""
    questions = _questions(spec)
    client = client or ChatClient(
        spec.model,
        temperature=spec.temperature,
        max_tokens=spec.max_tokens,
        concurrency=spec.concurrency,
    )
    scorers = {metric: resolve_scorer(metric) for metric in spec.all_metrics()}
    libraries: dict[int | None, FewShotLibrary] = {}
    texts = [q.question for q in questions]
    results: dict[str, EvaluationResult] = {}
    answers: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    for variant in spec.variants:
        start = time.perf_counter()
        if variant.k == 0:
            rendered = [render_prompt(q, [], template=variant.template).text for q in texts]
            shown: list[list[str]] = [[] for _ in texts]
            version = None
        else:
            if variant.version not in libraries:
                library = FewShotLibrary.load(store, spec.library, variant.version)
                _check_leakage(library, questions)
                libraries[variant.version] = library
            library = libraries[variant.version]
            prompts = library.prompts(
                texts,
                k=variant.k,
                mode=variant.mode.value,
                template=variant.template,
                embedder=embedder,
                store=store,
                context=f"experiment:{spec.name}:{variant.name}",
                seed=spec.seed,
            )
            rendered = [p.text for p in prompts]
            shown = [[e.qid for e in p.examples] for p in prompts]
            version = library.version
        replies = client.complete_many(
            rendered, system=spec.system, description=f"Asking {spec.model} ({variant.name})"
        )
        per_query: dict[str, dict[str, float]] = {m: {} for m in scorers}
        answers[variant.name] = {"library_version": version, "per_question": {}}
        for question, reply, examples in zip(questions, replies, shown, strict=True):
            answer = extract_answer(reply.text, spec.answer_prefix)
            for metric, scorer in scorers.items():
                per_query[metric][question.qid] = scorer(answer, question.answer or "")
            answers[variant.name]["per_question"][question.qid] = {
                "answer": answer,
                "examples": examples,
                "cached": reply.cached,
            }
        results[variant.name] = EvaluationResult(
            mean={m: sum(v.values()) / len(v) for m, v in per_query.items()},
            per_query=per_query,
            metrics=list(scorers),
        )
        timings[f"{variant.name}_s"] = time.perf_counter() - start
    comparison: Comparison = compare(
        {},
        results,
        metrics=spec.all_metrics(),
        baseline=spec.baseline,
        test=spec.test.value,
        alpha=spec.alpha,
        n_resamples=spec.n_resamples,
        seed=spec.seed,
    )
    verdicts = {name: judge(comparison, name, spec.success) for name in comparison.variants}
    out: dict[str, Any] = {
        "comparison": comparison.to_dict(),
        "verdicts": {k: v.value for k, v in verdicts.items()},
        "verdict": overall_verdict(verdicts).value,
        "timings": timings,
        "answers": answers,
        "llm": {"requests": client.requests, "cache_hits": client.cache_hits},
    }
    if save:
        out["run_id"] = store.save_experiment_run(
            spec.name,
            spec.to_dict(),
            {k: v for k, v in out.items() if k != "run_id"},
            git_commit=git_commit(),
            versions={**package_versions(), "model": spec.model},
        )
    return out


def summary_lines(spec: LLMExperimentSpec, result: dict[str, Any]) -> list[str]:
    """The hypothesis, one line per variant against the baseline, and the verdict."""
    comparison = Comparison.from_dict(result["comparison"])
    metric = spec.success.metric
    lines = [f"hypothesis: {spec.hypothesis}"]
    for name, verdict in result["verdicts"].items():
        o = comparison.outcomes[name][metric]
        lines.append(
            f"{name}: {metric} {o.delta:+.4f} vs {comparison.baseline}, p={o.p_value:.3g} "
            f"-> {Verdict(verdict).value}"
        )
    lines.append(f"verdict: {result['verdict']}")
    return lines
