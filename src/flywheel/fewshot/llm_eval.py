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

The model is asked through :class:`~flywheel.hosted.HostedClient`, like every hosted call:
``model = "gpt-4o-mini"`` means ``openai:gpt-4o-mini`` (any OpenAI-compatible endpoint), and
``cohere:...`` works too. Answers are cached (a rerun sends nothing), failures retried with
backoff, and calls, tokens and cost are metered (``--dry-run`` and ``--max-cost`` on the CLI).

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

import os
import time
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flywheel.errors import ConfigError, LeakageError, ProviderError
from flywheel.evaluation.compare import Comparison
from flywheel.evaluation.evaluate import EvaluationResult
from flywheel.evaluation.experiment import (
    Verdict,
    compare_for_spec,
    git_commit,
    judge,
    overall_verdict,
    package_versions,
)
from flywheel.evaluation.experiment_spec import SuccessCriterion
from flywheel.evaluation.significance import SignificanceTest
from flywheel.fewshot.examples import Example, examples_from_file
from flywheel.fewshot.library import FewShotLibrary, PromptMode
from flywheel.fewshot.prompting import DEFAULT_TEMPLATE, load_template, render_prompt
from flywheel.fewshot.scoring import resolve_scorer
from flywheel.hosted.client import HostedClient, Request, chat_request
from flywheel.hosted.providers import is_hosted_model
from flywheel.hosted.usage import Estimate

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


def hosted_model(model: str) -> str:
    """The spec's model as ``provider:model``; a bare name is an OpenAI-compatible model."""
    return model if is_hosted_model(model) else f"openai:{model}"


def experiment_client(
    spec: LLMExperimentSpec,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    max_cost: float | None = None,
    prices: str | Path | None = None,
    require_key: bool = True,
) -> HostedClient:
    """The spec's model behind :class:`~flywheel.hosted.HostedClient` (cached, retried, metered).

    Credentials are the hosted ones (``--api-key``/``OPENAI_API_KEY``, ``--base-url``/
    ``OPENAI_BASE_URL``); the older ``FLYWHEEL_LLM_API_KEY``/``FLYWHEEL_LLM_BASE_URL`` are still
    read, and a server given by URL with no key anywhere gets ``EMPTY``, as vLLM expects.
    """
    model = hosted_model(spec.model)
    base_url = base_url or os.environ.get("FLYWHEEL_LLM_BASE_URL")
    api_key = api_key or os.environ.get("FLYWHEEL_LLM_API_KEY")
    if model.startswith("openai:") and not (api_key or os.environ.get("OPENAI_API_KEY")):
        if base_url or os.environ.get("OPENAI_BASE_URL"):
            api_key = "EMPTY"
    return HostedClient(
        model,
        kind="chat",
        api_key=api_key,
        base_url=base_url,
        concurrency=spec.concurrency,
        max_cost=max_cost,
        prices=prices,
        require_key=require_key,
    )


def _variant_prompts(
    spec: LLMExperimentSpec,
    variant: PromptVariant,
    questions: list[Example],
    libraries: dict[int | None, FewShotLibrary],
    *,
    store: Any,
    embedder: Any,
    log: bool,
) -> tuple[list[str], list[list[str]], int | None]:
    """Prompts, the example qids each shows, and the library version (``None``: zero-shot)."""
    texts = [q.question for q in questions]
    if variant.k == 0:
        return (
            [render_prompt(q, [], template=variant.template).text for q in texts],
            [[] for _ in texts],
            None,
        )
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
        store=store if log else None,
        context=f"experiment:{spec.name}:{variant.name}",
        seed=spec.seed,
    )
    return (
        [p.text for p in prompts],
        [[e.qid for e in p.examples] for p in prompts],
        library.version,
    )


def _requests(spec: LLMExperimentSpec, prompts: list[str]) -> list[Request]:
    return [
        chat_request(
            p, max_tokens=spec.max_tokens, temperature=spec.temperature, system=spec.system
        )
        for p in prompts
    ]


def estimate_llm_experiment(
    spec: LLMExperimentSpec, client: HostedClient, *, store: Any, embedder: Any = None
) -> Estimate:
    """What the experiment would send and cost (``--dry-run``); nothing is sent or logged."""
    questions = _questions(spec)
    libraries: dict[int | None, FewShotLibrary] = {}
    requests: list[Request] = []
    for variant in spec.variants:
        prompts, _, _ = _variant_prompts(
            spec, variant, questions, libraries, store=store, embedder=embedder, log=False
        )
        requests += _requests(spec, prompts)
    return client.estimate(requests)


def run_llm_experiment(
    spec: LLMExperimentSpec,
    *,
    store: Any,
    client: HostedClient | None = None,
    embedder: Any = None,
    save: bool = True,
) -> dict[str, Any]:
    """Ask every question with every variant, score, compare, judge; returns the result dict
    (stored as an experiment run when ``save``; its ``run_id`` is then in the dict).

    Every call goes through ``client`` (default: :func:`experiment_client`), so answers are
    cached (a rerun sends nothing) and ``result["llm"]["usage"]`` holds calls, tokens and cost.
    A question left without an answer (a failure after every retry, or ``max_cost`` reached)
    stops the experiment with :class:`~flywheel.errors.ProviderError`: a comparison over the
    questions that happened to be answered would not be the pre-registered one. What was
    bought stays cached, so running again only sends the rest.
    """
    questions = _questions(spec)
    client = client or experiment_client(spec)
    scorers = {metric: resolve_scorer(metric) for metric in spec.all_metrics()}
    libraries: dict[int | None, FewShotLibrary] = {}
    results: dict[str, EvaluationResult] = {}
    answers: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    calls = cached = 0
    for variant in spec.variants:
        start = time.perf_counter()
        rendered, shown, version = _variant_prompts(
            spec, variant, questions, libraries, store=store, embedder=embedder, log=True
        )
        outcomes = client.run(
            _requests(spec, rendered), description=f"Asking {client.name} ({variant.name})"
        )
        failed = [(q.qid, o.error) for q, o in zip(questions, outcomes, strict=True) if not o.ok]
        if failed:
            raise ProviderError(
                f"{client.name}: {len(failed)} of {len(questions)} questions of variant "
                f"'{variant.name}' got no answer (e.g. '{failed[0][0]}': {failed[0][1]}); "
                "answers received are cached, run again to resume"
            )
        calls += sum(not o.cached for o in outcomes)
        cached += sum(o.cached for o in outcomes)
        per_query: dict[str, dict[str, float]] = {m: {} for m in scorers}
        answers[variant.name] = {"library_version": version, "per_question": {}}
        for question, outcome, examples in zip(questions, outcomes, shown, strict=True):
            reply = outcome.result or {}
            answer = extract_answer(reply.get("text") or "", spec.answer_prefix)
            for metric, scorer in scorers.items():
                per_query[metric][question.qid] = scorer(answer, question.answer or "")
            answers[variant.name]["per_question"][question.qid] = {
                "answer": answer,
                "examples": examples,
                "cached": outcome.cached,
                **({"refusal": reply["refusal"]} if reply.get("refusal") else {}),
            }
        results[variant.name] = EvaluationResult(
            mean={m: sum(v.values()) / len(v) for m, v in per_query.items()},
            per_query=per_query,
            metrics=list(scorers),
        )
        timings[f"{variant.name}_s"] = time.perf_counter() - start
    comparison: Comparison = compare_for_spec(spec, {}, results)
    verdicts = {name: judge(comparison, name, spec.success) for name in comparison.variants}
    out: dict[str, Any] = {
        "comparison": comparison.to_dict(),
        "verdicts": {k: v.value for k, v in verdicts.items()},
        "verdict": overall_verdict(verdicts).value,
        "timings": timings,
        "answers": answers,
        "llm": {"requests": calls, "cache_hits": cached, "usage": client.meter.to_dict()},
    }
    if save:
        out["run_id"] = store.save_experiment_run(
            spec.name,
            spec.to_dict(),
            {k: v for k, v in out.items() if k != "run_id"},
            git_commit=git_commit(),
            versions={**package_versions(), "model": client.name},
        )
    return out


def usage_line(result: dict[str, Any]) -> str:
    """Calls, cache hits, tokens and cost of a run (its ``llm`` entry), for the CLI."""
    llm = result.get("llm", {})
    line = f"LLM calls: {llm.get('requests', 0)} sent, {llm.get('cache_hits', 0)} from cache"
    usage = llm.get("usage")
    if not usage:  # runs stored before usage was recorded
        return line
    cost = usage.get("cost_usd")
    money = "unknown (no price)" if cost is None else f"${cost:.4f}"
    tokens = usage.get("input_tokens", 0) + usage.get("output_tokens", 0)
    return f"{line}, {tokens:,} tokens, cost {money}"


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
