"""Churn risk from a company's own customer CSV, with the factors behind each score.

Which column is the label, which is the id and which are features is configuration: every
other column is a feature, numeric when all its values parse as numbers, categorical otherwise.

Training picks the model by 5-fold cross-validated ROC-AUC inside the training rows, among
plain logistic regression and logistic regression over engineered numeric features (log and
spline bases: tenure and charges do not act linearly); gradient boosting on request. The factors
shown to agents always come from the logistic regression, whose pull per column is readable.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import joblib
import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_score, recall_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict, cross_val_score
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    OrdinalEncoder,
    SplineTransformer,
    StandardScaler,
)

POSITIVE_VALUES = frozenset({"yes", "true", "1", "churned", "y"})
MODEL_FILE = "churn.joblib"
Row = Mapping[str, str]


class ChurnDataError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Factor:
    feature: str
    value: str
    weight: float


@dataclass(frozen=True, slots=True)
class ChurnScore:
    risk: float
    factors: tuple[Factor, ...]

    def explain(self) -> str:
        parts = [f"{f.feature}={f.value}" for f in self.factors]
        return f"churn risk {self.risk:.2f}" + (f" ({', '.join(parts)})" if parts else "")


MODEL_KINDS = ("logistic", "logistic_splines", "gradient_boosting")
DEFAULT_KINDS = ("logistic", "logistic_splines")
"""Gradient boosting is on request only: it never won the cross-validation on the Telco data
and costs ten times the training time."""


@dataclass(frozen=True, slots=True)
class ChurnEvaluation:
    customers: int
    churn_rate: float
    roc_auc: float
    precision: float
    recall: float
    threshold: float
    model: str = "logistic"
    """The kind chosen (by cross-validation inside the training rows; the commonest over folds)."""
    baseline_roc_auc: float | None = None
    """Plain logistic regression on the same rows, for comparison."""

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)


def read_customers(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [dict(r) for r in csv.DictReader(handle)]
    except UnicodeDecodeError:
        raise ChurnDataError(f"{path}: not UTF-8") from None
    if not rows:
        raise ChurnDataError(f"{path}: no rows")
    return rows


def _is_number(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _labels(rows: Sequence[Row], label: str) -> np.ndarray:
    if label not in rows[0]:
        raise ChurnDataError(f"no column {label!r}; columns are {sorted(rows[0])}")
    values = np.array([str(r[label]).strip().lower() in POSITIVE_VALUES for r in rows], dtype=int)
    if values.min() == values.max():
        raise ChurnDataError(f"column {label!r} has one class only; need churned and stayed")
    return values


class ChurnModel:
    def __init__(
        self,
        pipeline: Pipeline,
        numeric: list[str],
        categorical: list[str],
        threshold: float,
        kind: str = "logistic",
        scorer: Pipeline | None = None,
    ) -> None:
        self._pipeline = pipeline  # the logistic regression: factors
        self._scorer = scorer or pipeline  # the chosen model: risk
        self.numeric = numeric
        self.categorical = categorical
        self.threshold = threshold
        self.kind = kind

    @classmethod
    def train(
        cls,
        rows: Sequence[Row],
        label: str,
        id_column: str | None = None,
        kinds: Sequence[str] = DEFAULT_KINDS,
    ) -> ChurnModel:
        y = _labels(rows, label)
        numeric, categorical = _feature_columns(rows, {label, id_column or ""})
        frame = _matrix(rows, numeric, categorical)
        kind = _choose_kind(kinds, frame, y, numeric, categorical)
        scorer = make_model(kind, numeric, categorical)
        out_of_fold = cross_val_predict(scorer, frame, y, cv=5, method="predict_proba")[:, 1]
        scorer.fit(frame, y)
        explainer = scorer if kind == "logistic" else _pipeline(numeric, categorical).fit(frame, y)
        return cls(
            explainer, numeric, categorical, _best_f1_threshold(y, out_of_fold), kind, scorer
        )

    def risks(self, rows: Sequence[Row]) -> np.ndarray:
        scorer = getattr(self, "_scorer", self._pipeline)  # models saved before the choice
        return scorer.predict_proba(_matrix(rows, self.numeric, self.categorical))[:, 1]

    def baseline_risks(self, rows: Sequence[Row]) -> np.ndarray:
        """The plain logistic regression's risks (the explainer), for comparison."""
        return self._pipeline.predict_proba(_matrix(rows, self.numeric, self.categorical))[:, 1]

    def score(self, row: Row, top: int = 3) -> ChurnScore:
        risk = float(self.risks([row])[0])
        return ChurnScore(round(risk, 4), self._factors(row, top))

    def _factors(self, row: Row, top: int) -> tuple[Factor, ...]:
        """Each feature's pull towards churn: coefficient × its transformed value, by column."""
        transform: ColumnTransformer = self._pipeline.named_steps["features"]
        coefficients = self._pipeline.named_steps["model"].coef_[0]
        values = transform.transform(_matrix([row], self.numeric, self.categorical))
        values = values.toarray()[0] if hasattr(values, "toarray") else values[0]
        by_column: dict[str, float] = {}
        names = transform.get_feature_names_out(self.numeric + self.categorical)
        for name, contribution in zip(names, coefficients * values, strict=True):
            column = _source_column(name, self.numeric, self.categorical)
            by_column[column] = by_column.get(column, 0.0) + float(contribution)
        pulling = sorted(((w, c) for c, w in by_column.items() if w > 0), reverse=True)[:top]
        return tuple(Factor(c, str(row.get(c, "")), round(w, 3)) for w, c in pulling)

    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / MODEL_FILE
        staging = path.with_suffix(".tmp")
        joblib.dump(self, staging)
        staging.replace(path)
        return path

    @staticmethod
    def load(directory: Path) -> ChurnModel | None:
        path = directory / MODEL_FILE
        return joblib.load(path) if path.is_file() else None


def evaluate_churn(
    rows: Sequence[Row],
    label: str,
    id_column: str | None = None,
    folds: int = 5,
    seed: int = 0,
    kinds: Sequence[str] = DEFAULT_KINDS,
) -> ChurnEvaluation:
    """Stratified k-fold: every customer is scored once by a model that never saw them.

    Each fold's model picks its own kind and threshold from its own training rows, so the
    precision and recall reported are what a company would see on new customers.
    """
    y = _labels(rows, label)
    risks = np.zeros(len(rows))
    baseline = np.zeros(len(rows))
    predicted = np.zeros(len(rows), dtype=int)
    thresholds, chosen = [], []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_index, test_index in splitter.split(np.zeros(len(rows)), y):
        train_rows, test_rows = [rows[i] for i in train_index], [rows[i] for i in test_index]
        model = ChurnModel.train(train_rows, label, id_column, kinds)
        fold_risks = model.risks(test_rows)
        risks[test_index] = fold_risks
        baseline[test_index] = model.baseline_risks(test_rows)
        predicted[test_index] = fold_risks >= model.threshold
        thresholds.append(model.threshold)
        chosen.append(model.kind)
    return _evaluation(y, risks, predicted, float(np.mean(thresholds)), chosen, baseline)


def evaluate_churn_split(
    train_rows: Sequence[Row],
    test_rows: Sequence[Row],
    label: str,
    id_column: str | None = None,
    kinds: Sequence[str] = DEFAULT_KINDS,
) -> ChurnEvaluation:
    """Train on one set of customers, score another (a fixed split, a later month)."""
    model = ChurnModel.train(train_rows, label, id_column, kinds)
    y = _labels(test_rows, label)
    risks = model.risks(test_rows)
    predicted = (risks >= model.threshold).astype(int)
    return _evaluation(
        y, risks, predicted, model.threshold, [model.kind], model.baseline_risks(test_rows)
    )


def _evaluation(
    y: np.ndarray,
    risks: np.ndarray,
    predicted: np.ndarray,
    threshold: float,
    kinds: list[str],
    baseline: np.ndarray,
) -> ChurnEvaluation:
    return ChurnEvaluation(
        customers=len(y),
        churn_rate=round(float(y.mean()), 4),
        roc_auc=round(float(roc_auc_score(y, risks)), 4),
        precision=round(float(precision_score(y, predicted, zero_division=0)), 4),
        recall=round(float(recall_score(y, predicted)), 4),
        threshold=round(threshold, 4),
        model=max(set(kinds), key=kinds.count),
        baseline_roc_auc=round(float(roc_auc_score(y, baseline)), 4),
    )


def _choose_kind(
    kinds: Sequence[str],
    frame: np.ndarray,
    y: np.ndarray,
    numeric: list[str],
    categorical: list[str],
) -> str:
    if len(kinds) == 1:
        return kinds[0]
    splitter = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    scores = {
        kind: cross_val_score(
            make_model(kind, numeric, categorical), frame, y, cv=splitter, scoring="roc_auc"
        ).mean()
        for kind in kinds
    }
    return max(scores, key=lambda k: scores[k])


def _log_magnitude(values: np.ndarray) -> np.ndarray:
    return np.log1p(np.abs(values.astype(float)))


def make_model(kind: str, numeric: list[str], categorical: list[str]) -> Pipeline:
    n = len(numeric)
    numeric_index, categorical_index = list(range(n)), list(range(n, n + len(categorical)))
    if kind == "logistic":
        return _pipeline(numeric, categorical)
    if kind == "logistic_splines":
        engineered = Pipeline(
            [
                ("impute", SimpleImputer(strategy="median")),
                (
                    "bases",
                    FeatureUnion(
                        [
                            ("scaled", StandardScaler()),
                            (
                                "log",
                                Pipeline(
                                    [
                                        ("log", FunctionTransformer(_log_magnitude)),
                                        ("scale", StandardScaler()),
                                    ]
                                ),
                            ),
                            ("splines", SplineTransformer(n_knots=5, degree=3)),
                        ]
                    ),
                ),
            ]
        )
        features = ColumnTransformer(
            [
                ("numeric", engineered, numeric_index),
                ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical_index),
            ]
        )
        return Pipeline(
            [("features", features), ("model", LogisticRegression(C=0.1, max_iter=3000))]
        )
    if kind == "gradient_boosting":
        features = ColumnTransformer(
            [
                ("numeric", "passthrough", numeric_index),
                (
                    "categorical",
                    OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
                    categorical_index,
                ),
            ]
        )
        booster = HistGradientBoostingClassifier(
            learning_rate=0.05,
            max_iter=200,
            max_depth=3,
            categorical_features=categorical_index or None,
            random_state=0,
        )
        return Pipeline([("features", features), ("model", booster)])
    raise ChurnDataError(f"unknown model kind {kind!r}; choose from {MODEL_KINDS}")


def _feature_columns(rows: Sequence[Row], excluded: set[str]) -> tuple[list[str], list[str]]:
    numeric, categorical = [], []
    for column in rows[0]:
        if column in excluded:
            continue
        values = [str(r[column]).strip() for r in rows if str(r[column]).strip()]
        (numeric if values and all(_is_number(v) for v in values) else categorical).append(column)
    if not numeric and not categorical:
        raise ChurnDataError("no feature columns besides the label and id")
    return numeric, categorical


def _matrix(rows: Sequence[Row], numeric: list[str], categorical: list[str]) -> np.ndarray:
    def number(value: object) -> float:
        text = str(value if value is not None else "").strip()
        return float(text) if _is_number(text) else math.nan

    columns = [[number(r.get(c)) for r in rows] for c in numeric]
    columns += [[str(r.get(c) or "").strip() or "(blank)" for r in rows] for c in categorical]
    return np.array(columns, dtype=object).T


def _pipeline(numeric: list[str], categorical: list[str]) -> Pipeline:
    n = len(numeric)
    features = ColumnTransformer(
        [
            (
                "numeric",
                Pipeline(
                    [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
                ),
                list(range(n)),
            ),
            (
                "categorical",
                OneHotEncoder(handle_unknown="ignore"),
                list(range(n, n + len(categorical))),
            ),
        ]
    )
    return Pipeline([("features", features), ("model", LogisticRegression(C=0.5, max_iter=2000))])


def _source_column(name: str, numeric: list[str], categorical: list[str]) -> str:
    """'numeric__tenure' → tenure; 'categorical__Contract_Month-to-month' → Contract."""
    kind, _, rest = name.partition("__")
    if kind == "numeric":
        return rest
    return max((c for c in categorical if rest.startswith(c + "_")), key=len)


def _best_f1_threshold(y: np.ndarray, risks: np.ndarray) -> float:
    best, best_f1 = 0.5, -1.0
    for threshold in np.linspace(0.1, 0.9, 81):
        predicted = risks >= threshold
        tp = float((predicted & (y == 1)).sum())
        f1 = 2 * tp / (predicted.sum() + (y == 1).sum()) if tp else 0.0
        if f1 > best_f1:
            best, best_f1 = float(threshold), f1
    return best


class ChurnScorer:
    """The company's trained churn model, if any, scoring customers' stored attributes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._model: ChurnModel | None = None
        self._stamp: float | None = None
        self.reload()

    @property
    def trained(self) -> bool:
        return self._model is not None

    def reload(self) -> None:
        """Pick up a model `deskbot churn train` wrote, also while the server runs."""
        path = self.directory / MODEL_FILE
        stamp = path.stat().st_mtime if path.is_file() else None
        if stamp != self._stamp:
            self._model = ChurnModel.load(self.directory)
            self._stamp = stamp

    def score(self, attributes: Row) -> ChurnScore | None:
        if self._model is None or not attributes:
            return None
        return self._model.score(attributes)
