"""The one CLI: its training options are generated from TRAINING_FIELDS, and it fails with one clear line."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from infra.cli import app
from infra.cli.pipeline import _overrides
from pipelines.settings import TRAINING_FIELDS, training_fields

runner = CliRunner()


def test_every_training_field_is_an_option_of_every_stage_command():
    pipeline = typer.main.get_command(app).commands["pipeline"]
    for command in ("run", "validate", "train", "evaluate", "register", "promote"):
        options = {opt for param in pipeline.commands[command].params for opt in param.opts}
        assert {f"--{name.replace('_', '-')}" for name in TRAINING_FIELDS} <= options, command


def test_choices_come_from_the_settings_literals():
    out = runner.invoke(app, ["pipeline", "run", "--loss", "hinge"])
    assert out.exit_code == 2
    assert "hinge" in out.output and "softmax" in out.output


def test_overrides_keep_only_given_values_and_parse_tuples():
    values = {f.name: None for f in training_fields()}
    values.update(loss="bpr", mlp_layers="32,16", epochs=3)
    assert _overrides(values) == {"loss": "bpr", "mlp_layers": (32, 16), "epochs": 3}


def test_a_single_stage_needs_a_run_id():
    out = runner.invoke(app, ["pipeline", "validate"])
    assert out.exit_code == 2
    assert "--run-id is required" in out.output


@pytest.mark.parametrize("group", ["data", "pipeline", "streaming", "stack", "serving", "airflow", "mlflow"])
def test_every_area_has_help(group):
    out = runner.invoke(app, [group, "--help"])
    assert out.exit_code == 0, out.output
