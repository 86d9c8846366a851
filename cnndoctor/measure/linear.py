"""The two linear classifiers the baselines fit, in numpy.

- :func:`ridge_classifier`: a ridge classifier on ±1 class indicators (one column per class, an unpenalised
  intercept), its penalty chosen from ``ALPHAS`` by the mean squared leave-one-out error, which the hat
  matrix gives in closed form: scikit-learn's ``RidgeClassifierCV`` with its default generalised
  cross-validation. One eigendecomposition of the smaller Gram matrix serves every penalty.
- :func:`logistic_regression`: multinomial logistic regression with an L2 penalty ``1 / (2C)`` on the weights
  (not the intercepts), by Newton steps whose systems are solved by conjugate gradients, stopped when the
  largest gradient component of the averaged loss is under ``tol``: scikit-learn's
  ``LogisticRegression(solver="newton-cg")`` objective and stopping rule.

They are here because a diagnosis costs about one training epoch (BENCHMARKS.md): importing
``sklearn.linear_model`` alone took 0.6 s of W2's 12 s, and its per-fit input validation runs on every one
of the ~45 fits of L105, L106, A201 and D303. Both minimise the same strictly convex objectives as
scikit-learn's, so they reach the same optima to the stopping tolerance (the tests hold their predictions to
scikit-learn's). Inputs are float arrays (n, p) and class labels (n,).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ALPHAS", "LinearClassifier", "logistic_regression", "ridge_classifier"]

ALPHAS = tuple(np.logspace(-3, 3, 7))  # the ridge penalties tried, 0.001 to 1000 (on standardised features)


@dataclass(frozen=True)
class LinearClassifier:
    classes: np.ndarray  # (K,) the labels, sorted
    coef: np.ndarray  # (p, K)
    intercept: np.ndarray  # (K,)
    alpha: float | None = None  # the ridge penalty chosen (None: logistic)
    iterations: int = 0  # Newton steps taken (logistic)

    def decision(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float64) @ self.coef + self.intercept

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes[np.argmax(self.decision(X), axis=1)]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return _softmax(self.decision(X))


def _softmax(Z: np.ndarray) -> np.ndarray:
    Z = Z - Z.max(axis=1, keepdims=True)
    np.exp(Z, out=Z)
    Z /= Z.sum(axis=1, keepdims=True)
    return Z


def _finite(X: np.ndarray) -> np.ndarray:
    """``X`` as float64; a NaN or infinity (features that overflowed) is an error, as in scikit-learn: a fit on it
    would run every iteration and predict one class."""
    X = np.asarray(X, dtype=np.float64)
    if not np.isfinite(X).all():
        raise ValueError("the features contain NaN or infinity (the series hold values too large to summarise)")
    return X


def ridge_classifier(X: np.ndarray, y: np.ndarray, alphas=ALPHAS) -> LinearClassifier:
    """Fit the ridge classifier whose penalty in ``alphas`` has the least mean squared leave-one-out error (the
    first on ties). Needs two classes in ``y``."""
    X = _finite(X)
    classes, codes = np.unique(y, return_inverse=True)
    n, p = X.shape
    Y = np.full((n, len(classes)), -1.0)
    Y[np.arange(n), codes] = 1.0
    x_mean, y_mean = X.mean(axis=0), Y.mean(axis=0)
    Xc, Yc = X - x_mean, Y - y_mean
    if n <= p:  # eigenvectors of Xc Xc^T are the left singular vectors; eigenvalues the squared singular values
        lam, U = np.linalg.eigh(Xc @ Xc.T)
        lam = np.clip(lam, 0.0, None)
        UtY = U.T @ Yc
        U2 = U * U
    else:  # eigenvectors of Xc^T Xc are the right singular vectors
        lam, V = np.linalg.eigh(Xc.T @ Xc)
        lam = np.clip(lam, 0.0, None)
        XV = Xc @ V  # = U diag(s): the hat matrix's diagonal is sum_j XV_ij^2 / (lam_j + alpha)
        XtY = V.T @ (Xc.T @ Yc)
    best = None
    for alpha in alphas:
        if n <= p:
            shrink = lam / (lam + alpha)
            fitted = U @ (shrink[:, None] * UtY)
            hat = U2 @ shrink
        else:
            inv = 1.0 / (lam + alpha)
            fitted = XV @ (inv[:, None] * XtY)
            hat = (XV * XV) @ inv
        hat = hat + 1.0 / n  # the unpenalised intercept: centred columns are orthogonal to the constant
        loo = (Yc - fitted) / np.maximum(1.0 - hat, 1e-12)[:, None]
        score = float(np.mean(loo * loo))
        if best is None or score < best[0]:
            best = (score, float(alpha))
    alpha = best[1]
    if n <= p:
        coef = Xc.T @ (U @ (UtY / (lam + alpha)[:, None]))
    else:
        coef = V @ (XtY / (lam + alpha)[:, None])
    return LinearClassifier(classes, coef, y_mean - x_mean @ coef, alpha=alpha)


def logistic_regression(X: np.ndarray, y: np.ndarray, *, C: float = 1.0, max_iter: int = 100,
                        tol: float = 1e-4) -> LinearClassifier:
    """Fit multinomial logistic regression (softmax over one weight column per class) minimising the mean
    cross-entropy plus ``||W||^2 / (2 C n)``. Two classes are scikit-learn's binomial model: its one weight
    vector is the difference of the two columns here, whose penalty is half of that vector's, so they are fitted
    with ``C / 2``. Needs two classes in ``y``."""
    X = _finite(X)
    classes, codes = np.unique(y, return_inverse=True)
    n, p = X.shape
    K = len(classes)
    Y = np.zeros((n, K))
    Y[np.arange(n), codes] = 1.0
    Xb = np.hstack([X, np.ones((n, 1))])  # the last row of the parameters is the intercept
    penalty = np.ones((p + 1, 1)) / ((C / 2 if K == 2 else C) * n)
    penalty[-1] = 0.0

    def loss_grad(W):
        Z = Xb @ W
        top = Z.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(Z - top).sum(axis=1))
        loss = float(np.mean(log_norm - Z[np.arange(n), codes])) + 0.5 * float(np.sum(penalty * W * W))
        P = np.exp(Z - log_norm[:, None])
        return loss, Xb.T @ (P - Y) / n + penalty * W, P

    W = np.zeros((p + 1, K))
    loss, grad, P = loss_grad(W)
    steps = 0
    for steps in range(1, max_iter + 1):
        if np.max(np.abs(grad)) <= tol:
            steps -= 1
            break
        direction = _newton_direction(Xb, P, penalty, grad, n)
        # backtracking (Armijo): the Newton step first, halved until the loss falls enough
        slope = float(np.sum(grad * direction))
        step = 1.0
        while True:
            new_loss, new_grad, new_P = loss_grad(W + step * direction)
            if new_loss <= loss + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        W = W + step * direction
        loss, grad, P = new_loss, new_grad, new_P
    return LinearClassifier(classes, W[:-1], W[-1], iterations=steps)


def _newton_direction(Xb, P, penalty, grad, n, max_cg: int = 200) -> np.ndarray:
    """Conjugate gradients on ``H d = -grad`` (H: the averaged loss's Hessian), to a residual of
    ``min(0.5, sqrt(|grad|_1)) * |grad|_1`` (scikit-learn's inexact Newton tolerance)."""

    def hess(V):
        S = Xb @ V
        R = P * (S - np.sum(P * S, axis=1, keepdims=True))
        return Xb.T @ R / n + penalty * V

    g1 = float(np.sum(np.abs(grad)))
    stop = min(0.5, np.sqrt(g1)) * g1
    d = np.zeros_like(grad)
    r = -grad.copy()
    q = r.copy()
    rr = float(np.sum(r * r))
    for _ in range(max_cg):
        if float(np.sum(np.abs(r))) <= stop:
            break
        Hq = hess(q)
        curvature = float(np.sum(q * Hq))
        if curvature <= 0:
            break  # no more descent along q (the intercepts' common shift is flat)
        a = rr / curvature
        d += a * q
        r -= a * Hq
        rr_new = float(np.sum(r * r))
        q = r + (rr_new / rr) * q
        rr = rr_new
    return d if np.any(d) else -grad
