"""Choosing the local model's settings from its own training data, as every retrain does.

Leave-intents-out cross-validation: each fold hides a quarter of the intents entirely (their
questions play "something this knowledge base does not cover") and a quarter of the other
intents' examples (in-scope questions the model has not seen). From the held-out answers it
picks the regularisation C, fits the softmax temperature, and trains a small logistic
"none of these" detector over how sure the model was and how close the question came to any
training example, with the threshold that maximises in-scope accuracy plus out-of-scope recall.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

C_GRID = (0.3, 1.0)
IN_SCOPE_WEIGHT = 2.0
"""The threshold maximises 2 × in-scope accuracy + out-of-scope recall: most messages a
support bot gets are about the company, so a needless fallback costs about as often as
two wrong answers to off-topic questions (a prior of one message in three off-topic)."""


def class_weights(labels: np.ndarray, offtopic: str) -> dict[str, float]:
    """The shipped off-topic class has many more examples than any intent; at full weight
    it would pull in-domain questions phrased like chat ("hi, I think you billed me two
    times") to itself. It is weighed as one intent of twice the median size."""
    names, counts = np.unique(labels, return_counts=True)
    sizes = dict(zip((str(n) for n in names), (int(c) for c in counts), strict=True))
    if offtopic not in sizes or len(sizes) < 2:
        return {}
    median = float(np.median([c for n, c in sizes.items() if n != offtopic]))
    return {offtopic: min(1.0, 2 * median / sizes[offtopic])}


FOLDS = 4
SMALL_KB_EXAMPLES = 3000
SMALL_KB_REPEATS = 2
MIN_INTENTS_FOR_OOS = 6
"""With fewer intents, hiding a quarter of them leaves too little to learn 'unknown' from."""


@dataclass(frozen=True, slots=True)
class Detector:
    """p(none of these) = sigmoid(weights · unknown_features + bias); unknown at ≥ threshold."""

    weights: tuple[float, ...]
    bias: float
    threshold: float

    def probability(self, features: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(features @ np.asarray(self.weights) + self.bias)))


@dataclass(frozen=True, slots=True)
class Calibration:
    c: float
    temperature: float
    detector: Detector | None
    cv_in_scope_accuracy: float | None = None
    cv_oos_recall: float | None = None


def softmax(decision: np.ndarray, temperature: float) -> np.ndarray:
    scaled = decision / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    np.exp(scaled, out=scaled)
    scaled /= scaled.sum(axis=1, keepdims=True)
    return scaled


def unknown_features(
    decision: np.ndarray, probabilities: np.ndarray, closest: np.ndarray, closest_top: np.ndarray
) -> np.ndarray:
    """Per row: the raw margin of the best intent and its lead over the second (softmax
    hides how low all of them are for a question nobody trained), top probability,
    normalised entropy, and the cosine to the nearest training example, of any intent and
    of the predicted one."""
    raw = -np.sort(-decision, axis=1)
    ordered = -np.sort(-probabilities, axis=1)
    second_raw = raw[:, 1] if raw.shape[1] > 1 else raw[:, 0] - 1.0
    entropy = -(probabilities * np.log(np.clip(probabilities, 1e-12, None))).sum(axis=1)
    entropy /= np.log(max(probabilities.shape[1], 2))
    return np.column_stack(
        [raw[:, 0], raw[:, 0] - second_raw, ordered[:, 0], entropy, closest, closest_top]
    )


@dataclass(frozen=True, slots=True)
class Reference:
    """Training sentence vectors grouped by intent, for nearest-example similarities."""

    vectors: np.ndarray
    starts: np.ndarray
    intents: tuple[str, ...]

    @classmethod
    def of(cls, vectors: np.ndarray, labels: np.ndarray) -> Reference:
        order = np.argsort(labels, kind="stable")
        sorted_labels = labels[order]
        intents, starts = np.unique(sorted_labels, return_index=True)
        return cls(np.ascontiguousarray(vectors[order]), starts, tuple(str(i) for i in intents))

    def similarities(
        self, vectors: np.ndarray, predicted: list[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(cosine to the nearest example of any intent, … of the predicted intent)."""
        n = vectors.shape[0]
        if self.vectors.shape[0] == 0:
            zeros = np.zeros(n, dtype=np.float32)
            return zeros, zeros
        per_intent = np.maximum.reduceat(vectors @ self.vectors.T, self.starts, axis=1)
        column = {name: i for i, name in enumerate(self.intents)}
        top = np.array(
            [per_intent[row, column[p]] if p in column else 0.0 for row, p in enumerate(predicted)],
            dtype=np.float32,
        )
        return per_intent.max(axis=1), top


def calibrate(
    matrix: sparse.csr_matrix,
    vectors: np.ndarray,
    labels: np.ndarray,
    never_unknown: Sequence[str],
    seed: int = 0,
) -> Calibration:
    """`never_unknown`: classes that are always in training (the off-topic class)."""
    candidates = np.array(sorted(set(labels) - set(never_unknown)))
    if len(candidates) < MIN_INTENTS_FOR_OOS:
        return Calibration(C_GRID[0], _temperature_without_folds(labels), None)
    splits = [_split(labels, candidates, seed + r) for r in range(repeats_for(len(labels)))]
    best: tuple[float, float, list[_FoldAnswers]] | None = None
    for c in C_GRID:
        answers = [
            _fold(matrix, vectors, labels, example_fold, k, set(groups[k]), c)
            for groups, example_fold in splits
            for k in range(FOLDS)
        ]
        known = np.concatenate([a.known_correct for a in answers])
        accuracy = float(known.mean()) if known.size else 0.0
        if best is None or accuracy > best[0]:
            best = (accuracy, c, answers)
    assert best is not None
    _, c, answers = best
    temperature = _fit_temperature(answers)
    detector, in_scope, recall = _fit_detector(answers, temperature)
    return Calibration(c, temperature, detector, in_scope, recall)


def repeats_for(examples: int) -> int:
    """A small knowledge base's cross-validation depends on which intents a fold happens to
    hide (the demo's threshold moved from 0.60 to 0.71 with the split): it is repeated over
    more splits, which a small one can afford."""
    return SMALL_KB_REPEATS if examples <= SMALL_KB_EXAMPLES else 1


def _split(
    labels: np.ndarray, candidates: np.ndarray, seed: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Which intents each fold hides, and each example's fold among the rest."""
    rng = np.random.default_rng(seed)
    groups = np.array_split(rng.permutation(candidates), FOLDS)
    example_fold = np.empty(len(labels), dtype=np.int64)
    for intent in sorted(set(labels)):  # sorted: a set's order changes with each process
        rows = np.flatnonzero(labels == intent)
        example_fold[rows] = rng.permutation(len(rows)) % FOLDS
    return groups, example_fold


@dataclass(slots=True)
class _FoldAnswers:
    known_decision: np.ndarray
    known_true_column: np.ndarray
    known_correct: np.ndarray
    known_closest: tuple[np.ndarray, np.ndarray]
    unknown_decision: np.ndarray
    unknown_closest: tuple[np.ndarray, np.ndarray]
    unknown_said_offtopic: np.ndarray


def _fold(
    matrix: sparse.csr_matrix,
    vectors: np.ndarray,
    labels: np.ndarray,
    example_fold: np.ndarray,
    k: int,
    hidden: set[str],
    c: float,
) -> _FoldAnswers:
    is_hidden = np.isin(labels, list(hidden))
    train = ~is_hidden & (example_fold != k)
    known = ~is_hidden & (example_fold == k)
    weights = class_weights(labels[train], "out_of_scope")
    model = LinearSVC(C=c, class_weight=weights or None, random_state=0).fit(
        matrix[train], labels[train]
    )
    classes = [str(x) for x in model.classes_]
    column = {name: i for i, name in enumerate(classes)}
    known_decision = model.decision_function(matrix[known])
    unknown_decision = model.decision_function(matrix[is_hidden])
    in_scope_train = train & (labels != "out_of_scope")
    reference = Reference.of(vectors[in_scope_train], labels[in_scope_train])
    offtopic_column = column.get("out_of_scope")
    said_offtopic = (
        unknown_decision.argmax(axis=1) == offtopic_column
        if offtopic_column is not None
        else np.zeros(int(is_hidden.sum()), dtype=bool)
    )
    true_columns = np.array([column[str(x)] for x in labels[known]])
    return _FoldAnswers(
        known_decision,
        true_columns,
        known_decision.argmax(axis=1) == true_columns,
        reference.similarities(vectors[known], [classes[i] for i in known_decision.argmax(axis=1)]),
        unknown_decision,
        reference.similarities(
            vectors[is_hidden], [classes[i] for i in unknown_decision.argmax(axis=1)]
        ),
        said_offtopic,
    )


def _fit_temperature(answers: list[_FoldAnswers]) -> float:
    def loss(log_t: float) -> float:
        t = float(np.exp(log_t))
        total, count = 0.0, 0
        for a in answers:
            p = softmax(a.known_decision.copy(), t)
            total -= float(
                np.log(np.clip(p[np.arange(len(p)), a.known_true_column], 1e-12, 1)).sum()
            )
            count += len(p)
        return total / max(count, 1)

    found = minimize_scalar(loss, bounds=(np.log(0.01), np.log(10.0)), method="bounded")
    return float(np.exp(found.x))


def _temperature_without_folds(labels: np.ndarray) -> float:
    """Too few intents to hold any out: LinearSVC margins of about ±1 read as sure answers."""
    return 0.3


def _fit_detector(answers: list[_FoldAnswers], temperature: float) -> tuple[Detector, float, float]:
    known_x = np.vstack(
        [
            unknown_features(
                a.known_decision, softmax(a.known_decision.copy(), temperature), *a.known_closest
            )
            for a in answers
        ]
    )
    unknown_x = np.vstack(
        [
            unknown_features(
                a.unknown_decision,
                softmax(a.unknown_decision.copy(), temperature),
                *a.unknown_closest,
            )
            for a in answers
        ]
    )
    known_correct = np.concatenate([a.known_correct for a in answers])
    said_offtopic = np.concatenate([a.unknown_said_offtopic for a in answers])
    x = np.vstack([known_x, unknown_x])
    y = np.concatenate([np.zeros(len(known_x)), np.ones(len(unknown_x))])
    meta = LogisticRegression(class_weight="balanced", C=10.0, max_iter=2000).fit(x, y)
    weights = tuple(float(w) for w in meta.coef_[0])
    bias = float(meta.intercept_[0])
    probe = Detector(weights, bias, 0.5)
    known_p, unknown_p = probe.probability(known_x), probe.probability(unknown_x)
    best = (-1.0, 0.5, 0.0, 0.0)
    for threshold in np.unique(
        np.quantile(np.concatenate([known_p, unknown_p]), np.linspace(0.01, 0.99, 99))
    ):
        in_scope = float((known_correct & (known_p < threshold)).mean())
        recall = float(((unknown_p >= threshold) | said_offtopic).mean())
        if IN_SCOPE_WEIGHT * in_scope + recall > best[0]:
            best = (IN_SCOPE_WEIGHT * in_scope + recall, float(threshold), in_scope, recall)
    _, threshold, in_scope, recall = best
    return Detector(weights, bias, threshold), round(in_scope, 4), round(recall, 4)
