"""Score a model's answer against a reference answer: exact match, token F1, or your function.

``exact_match`` and ``token_f1`` follow the SQuAD evaluation script: lower-case, drop
punctuation and the articles a/an/the, collapse spaces; F1 over the bag of tokens. A user scorer
is ``"module:function"`` or ``"path/to/file.py:function"`` taking ``(prediction, reference)``
and returning a number in [0, 1].
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import string
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from flywheel.errors import ConfigError, UnknownComponentError

Scorer = Callable[[str, str], float]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(reference).split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = Counter(predicted) & Counter(expected)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(predicted)
    recall = overlap / len(expected)
    return 2 * precision * recall / (precision + recall)


SCORERS: dict[str, Scorer] = {"exact_match": exact_match, "token_f1": token_f1}


def _load_user_function(spec: str) -> Scorer:
    target, _, attribute = spec.rpartition(":")
    if not target or not attribute:
        raise UnknownComponentError(
            "scorer", spec, [*SCORERS, "module:function", "file.py:function"]
        )
    if target.endswith(".py"):
        path = Path(target).expanduser()
        if not path.is_file():
            raise ConfigError(f"scorer '{spec}': no file {path}; give an existing .py file")
        module_spec = importlib.util.spec_from_file_location(
            f"flywheel_user_scorer_{path.stem}", path
        )
        if module_spec is None or module_spec.loader is None:
            raise ConfigError(f"scorer '{spec}': cannot import {path}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ConfigError(f"scorer '{spec}': cannot import module '{target}' ({exc})") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ConfigError(f"scorer '{spec}': '{target}' has no function '{attribute}'")
    return function


def resolve_scorer(name: str) -> Scorer:
    """A scorer by name (``exact_match``, ``token_f1``) or a ``module:function`` path."""
    if name in SCORERS:
        return SCORERS[name]
    if ":" not in name:
        raise UnknownComponentError(
            "scorer", name, [*SCORERS, "module:function", "file.py:function"]
        )
    function = _load_user_function(name)

    def checked(prediction: str, reference: str) -> float:
        value = function(prediction, reference)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"scorer '{name}' returned {value!r}; return a number in [0, 1]"
            ) from None
        if not 0.0 <= number <= 1.0:
            raise ConfigError(f"scorer '{name}' returned {number}; return a number in [0, 1]")
        return number

    return checked
