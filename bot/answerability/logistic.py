"""A small L2-regularised logistic regression, fitted by Newton's method in NumPy.

Answerability is fitted on a few hundred labelled questions with a handful of features,
so a dozen Newton steps on standardised inputs converge exactly; no solver library needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LogisticFit:
    weights: tuple[float, ...]
    """Per standardised feature."""
    bias: float
    means: tuple[float, ...]
    scales: tuple[float, ...]

    def decision(self, features: Matrix) -> npt.NDArray[np.float64]:
        """Log-odds that each row (question) is answerable."""
        z = (np.atleast_2d(features) - np.asarray(self.means)) / np.asarray(self.scales)
        result: npt.NDArray[np.float64] = z @ np.asarray(self.weights) + self.bias
        return result


def fit_logistic(
    features: Matrix, labels: npt.NDArray[np.bool_], *, l2: float = 1.0, iterations: int = 50
) -> LogisticFit:
    """Fit P(answerable | features); classes weighted equally so a rare class still counts.

    `l2` penalises the weights (not the bias) of the standardised features: with about
    thirty negative examples, a strong penalty keeps the model from memorising them.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError("features must be (questions, features) and match the labels")
    if y.min() == y.max():
        raise ValueError("fitting needs both answerable and unanswerable questions")
    means = x.mean(axis=0)
    scales = x.std(axis=0)
    scales[scales < 1e-9] = 1.0
    z = np.hstack([(x - means) / scales, np.ones((len(x), 1))])
    positives = y.sum()
    sample_weight = np.where(y == 1, len(y) / (2 * positives), len(y) / (2 * (len(y) - positives)))
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0
    theta = np.zeros(z.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(z @ theta)))
        gradient = z.T @ (sample_weight * (p - y)) + penalty * theta
        hessian = (z * (sample_weight * p * (1 - p))[:, None]).T @ z + np.diag(penalty)
        hessian += np.eye(len(theta)) * 1e-9
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return LogisticFit(
        weights=tuple(float(w) for w in theta[:-1]),
        bias=float(theta[-1]),
        means=tuple(float(m) for m in means),
        scales=tuple(float(s) for s in scales),
    )
