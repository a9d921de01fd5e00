"""Churn: a fixed train/test evaluation beside k-fold, the model chosen by cross-validation,
and the plain logistic regression reported beside it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from escalation.churn import (
    DEFAULT_KINDS,
    ChurnModel,
    evaluate_churn_split,
    read_customers,
)
from tests.test_cli import run
from tests.test_policy import synthetic_customers


def _halves(tmp_path: Path) -> tuple[Path, Path]:
    rows = read_customers(synthetic_customers(tmp_path / "all.csv", 800))
    paths = (tmp_path / "train.csv", tmp_path / "test.csv")
    for path, part in zip(paths, (rows[:600], rows[600:]), strict=True):
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, list(rows[0]))
            writer.writeheader()
            writer.writerows(part)
    return paths


def test_train_on_one_file_and_score_another(tmp_path: Path) -> None:
    train, test = _halves(tmp_path)
    result = evaluate_churn_split(read_customers(train), read_customers(test), "churned", "email")
    assert result.customers == 200 and result.model in DEFAULT_KINDS
    assert result.roc_auc > 0.75 and result.baseline_roc_auc is not None
    assert abs(result.roc_auc - result.baseline_roc_auc) < 0.1


def test_the_chosen_model_still_explains_itself(tmp_path: Path) -> None:
    rows = read_customers(synthetic_customers(tmp_path / "c.csv"))
    model = ChurnModel.train(rows, "churned", "email", kinds=("logistic_splines",))
    assert model.kind == "logistic_splines"
    risky = model.score({"plan": "monthly", "tenure": "1", "seats": "3"})
    safe = model.score({"plan": "yearly", "tenure": "70", "seats": "3"})
    assert risky.risk > safe.risk
    assert {f.feature for f in risky.factors} & {"plan", "tenure"}


def test_churn_evaluate_train_test_from_the_command_line(tmp_path: Path) -> None:
    _halves(tmp_path)
    args = ["churn", "evaluate", "--train", "train.csv", "--test", "test.csv"]
    result = run([*args, "--label", "churned", "--id", "email", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["customers"] == 200 and figures["baseline_roc_auc"] > 0.7
    both = run([*args, "--data", "all.csv", "--label", "churned"], tmp_path)
    assert both.returncode == 2 and "--train" in both.stderr
