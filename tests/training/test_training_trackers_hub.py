"""Training honours installed trackers (``--report-to``) and can push an accepted model."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from flywheel.cli.app import app
from flywheel.errors import ConfigError, ProviderError
from flywheel.training.config import EmbedderTrainConfig
from flywheel.training.hub import push_to_hub
from flywheel.training.loop import report_to, training_arguments


def test_report_to_is_an_option_not_hard_coded(tmp_path: Path) -> None:
    from transformers.integrations import get_available_reporting_integrations

    default = training_arguments(
        EmbedderTrainConfig(), tmp_path, best_metric=None, steps_per_epoch=10
    )
    assert default["report_to"] == "none"
    every = EmbedderTrainConfig(report_to="all")
    assert (
        training_arguments(every, tmp_path, best_metric=None, steps_per_epoch=10)["report_to"]
        == "all"
    )
    installed = get_available_reporting_integrations()
    if installed:  # a named, installed tracker goes through as a list
        assert report_to([installed[0]]) == [installed[0]]
    with pytest.raises(ConfigError, match="not installed"):
        report_to(["no-such-tracker"])
    for command in ("embedder", "reranker"):
        help_text = CliRunner().invoke(app, ["train", command, "--help"]).output
        assert "--report-to" in help_text and "--push-to-hub" in help_text


def test_push_to_hub_offline_is_one_clear_error(tmp_path: Path, monkeypatch) -> None:
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with pytest.raises(ProviderError, match="offline mode is on") as info:
        push_to_hub(model, "someone/fine-tuned")
    assert str(model) in str(info.value)
