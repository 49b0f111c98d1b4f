"""Test helpers for the project's own tests and users': fakes, tiny models, simulated users.

- :mod:`flywheel.testing.fakes`: a fake embedder, tiny sentence-transformers models that train
  in milliseconds, a tiny random causal LM for ``local:PATH``, a fake hosted-provider server.
- :mod:`flywheel.testing.simulate`: a user simulator that writes click, dwell, thumbs and
  citation logs over your own corpus through :class:`flywheel.Logger`, and returns the truth
  (examination per rank, relevance of every shown pair) to score labels against.

Nothing here imports torch until a tiny model is built.
"""

from flywheel.hosted.fake_server import FakeProviderServer
from flywheel.testing.fakes import (
    FakeEmbedder,
    FakeSentenceModel,
    build_tiny_causal_lm,
    build_tiny_cross_encoder,
    build_tiny_sentence_transformer,
)
from flywheel.testing.simulate import (
    DwellDistribution,
    ListSource,
    SimulationConfig,
    SimulationTruth,
    simulate_sessions,
)

__all__ = [
    "DwellDistribution",
    "FakeEmbedder",
    "FakeProviderServer",
    "FakeSentenceModel",
    "ListSource",
    "SimulationConfig",
    "SimulationTruth",
    "build_tiny_causal_lm",
    "build_tiny_cross_encoder",
    "build_tiny_sentence_transformer",
    "simulate_sessions",
]
