"""measure/linear: the baselines' ridge classifier and logistic regression against scikit-learn's, on real
features (the reference baselines' summary and convolution features of UCR series) and on seeded synthetic
problems, binary and multi-class, with more samples than features and fewer."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression, RidgeClassifierCV

from cnndoctor.measure.baselines import conv_features, summary_features
from cnndoctor.measure.linear import ALPHAS, logistic_regression, ridge_classifier
from tests.fixtures.data import ucr


def _standardise(a, b):
    m, s = a.mean(0), a.std(0)
    s = np.where(s > 0, s, 1.0)
    return (a - m) / s, (b - m) / s


def _synthetic(n, p, k, noise, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * rng.uniform(0.1, 3.0, p)
    X[:, 1] = 0.9 * X[:, 0] + 0.1 * X[:, 1]  # correlated columns, as summary features are
    y = np.argmax(X @ rng.standard_normal((p, k)) + noise * np.sqrt(p) * rng.standard_normal((n, k)), axis=1)
    cut = 2 * n // 3
    a, b = _standardise(X[:cut], X[cut:])
    return a, y[:cut], b, y[cut:]


def _problems():
    out = []
    for name in ("GunPoint", "ArrowHead", "BasicMotions"):
        X, y, Xt, yt = ucr(name)
        X = X[:, None] if X.ndim == 2 else X
        Xt = Xt[:, None] if Xt.ndim == 2 else Xt
        for feats in (summary_features, lambda V: conv_features(V, 0)):
            a, b = _standardise(feats(X.astype(float)), feats(Xt.astype(float)))
            out.append((f"{name}", a, y, b, yt))
    for n, p, k, noise in ((300, 20, 3, 0.3), (150, 400, 2, 1.0), (600, 60, 2, 0.5), (400, 900, 5, 1.0)):
        out.append((f"synthetic {n}x{p}, {k} classes", *_synthetic(n, p, k, noise, seed=n)))
    return out


PROBLEMS = _problems()


@pytest.mark.parametrize("name,a,y,b,yt", PROBLEMS, ids=[p[0] for p in PROBLEMS])
def test_ridge_classifier_chooses_the_same_penalty_and_predicts_as_scikit_learn(name, a, y, b, yt):
    theirs = RidgeClassifierCV(alphas=np.array(ALPHAS)).fit(a, y)
    ours = ridge_classifier(a, y)
    assert ours.alpha == pytest.approx(theirs.alpha_)
    assert np.array_equal(ours.predict(b), theirs.predict(b))
    # the decision values, not only their argmax (scikit-learn keeps one column for two classes)
    theirs_d = theirs.decision_function(b)
    ours_d = ours.decision(b)
    if ours_d.shape[1] == 2:
        ours_d = (ours_d[:, 1] - ours_d[:, 0]) / 2
    np.testing.assert_allclose(ours_d, theirs_d, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name,a,y,b,yt", PROBLEMS, ids=[p[0] for p in PROBLEMS])
def test_logistic_regression_reaches_scikit_learns_optimum(name, a, y, b, yt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = LogisticRegression(C=1.0, solver="newton-cg", max_iter=200).fit(a, y)
        tight = LogisticRegression(C=1.0, solver="newton-cg", max_iter=1000, tol=1e-10).fit(a, y)
    ours = logistic_regression(a, y, C=1.0, max_iter=200)
    assert np.array_equal(ours.classes, theirs.classes_) and 0 < ours.iterations <= 200
    # both stop at the same gradient tolerance: each is as close to the exact optimum as the other
    ours_gap = np.abs(ours.predict_proba(b) - tight.predict_proba(b)).max()
    theirs_gap = np.abs(theirs.predict_proba(b) - tight.predict_proba(b)).max()
    assert ours_gap <= max(2 * theirs_gap, 0.02)
    assert np.mean(ours.predict(b) == theirs.predict(b)) >= 0.98


def test_logistic_regression_penalises_weights_not_intercepts():
    # one feature that says nothing, a 90/10 class balance: the intercept alone carries the prior
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 1))
    y = (rng.random(1000) < 0.1).astype(int)
    fitted = logistic_regression(X, y)
    assert fitted.predict_proba(X)[:, 1].mean() == pytest.approx(y.mean(), abs=0.01)
    assert abs(fitted.coef[0, 1] - fitted.coef[0, 0]) < 0.2


@pytest.mark.parametrize("fit", [ridge_classifier, logistic_regression])
def test_features_with_nan_or_infinity_are_an_error_not_a_constant_guess(fit):
    # summary features of series holding values near the float64 maximum overflow to inf and NaN
    a, y, _, _ = _synthetic(200, 10, 3, 0.3, seed=1)
    a[5, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        fit(a, y)
    a[5, 2], a[7, 1] = 0.0, np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        fit(a, y)
