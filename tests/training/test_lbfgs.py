"""L-BFGS (``gpudeep.lbfgs``) against scipy's L-BFGS-B on the same problems, in float64, and the network's
full-batch objective against scikit-learn's own."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize

from gpudeep import Architecture, DeepClassifier, DeepRegressor, init_parameters
from gpudeep.lbfgs import minimize
from gpudeep.optim import SGD
from gpudeep.training import TrainingState
from gpudeep.training.full_batch import objective


def rosenbrock(xp):
    def cost(x):
        a, b = x[:-1], x[1:]
        f = xp.sum(100.0 * (b - a * a) ** 2 + (1 - a) ** 2)
        g = xp.zeros_like(x)
        g[:-1] = -400.0 * a * (b - a * a) - 2 * (1 - a)
        g[1:] = g[1:] + 200.0 * (b - a * a)
        return float(f), g
    return cost


def test_rosenbrock_reaches_its_minimum_on_every_backend(backend):
    xp = backend.xp
    x0 = backend.asarray(np.array([-1.2, 1.0, -1.2, 1.0]), "float64")
    result = minimize(xp, rosenbrock(xp), x0, max_iter=500, max_fun=2000, gtol=1e-9, ftol=0.0)
    assert result.converged and result.fun < 1e-12, result
    np.testing.assert_allclose(backend.to_numpy(result.x), 1.0, atol=1e-6)


def test_the_limits_stop_it_and_say_which():
    x0 = np.array([-1.2, 1.0])
    by_iterations = minimize(np, rosenbrock(np), x0, max_iter=3, max_fun=1000)
    assert not by_iterations.converged and by_iterations.nit == 3 and "max_iter=3" in by_iterations.message
    by_evaluations = minimize(np, rosenbrock(np), x0, max_iter=1000, max_fun=10)
    assert not by_evaluations.converged and by_evaluations.nfev <= 10 and "max_fun=10" in by_evaluations.message


def network_problem(numpy_backend, sizes, loss, rng=0):
    rng = np.random.default_rng(rng)
    arch = Architecture.build(sizes, hidden="tanh", loss=loss)
    params = init_parameters(arch, numpy_backend, init="xavier", dtype="float64", rng=rng)
    X = rng.normal(size=(sizes[0], 60))
    if loss == "binary_cross_entropy":
        Y = (X[:1] + 0.5 * X[1:2] > 0).astype(np.float64)
    else:
        Y = np.sin(X[:1]) + 0.1 * rng.normal(size=(1, 60))
    state = TrainingState(arch, params, SGD(0.1), rng)
    return state, objective(np, state, X, Y, l2=0.1)


@pytest.mark.parametrize("sizes, loss", [
    ((4, 1), "binary_cross_entropy"),  # logistic regression: convex, one minimum
    ((4, 1), "mean_squared_error"),  # ridge regression
    ((4, 5, 1), "binary_cross_entropy"),  # a hidden layer: both go down from the same start
    ((3, 6, 1), "mean_squared_error"),
])
def test_the_final_loss_is_scipys_within_1e_6(numpy_backend, sizes, loss):
    state, cost = network_problem(numpy_backend, sizes, loss)
    x0 = state.params.flat.copy()
    ours = minimize(np, cost, x0, max_iter=2000, max_fun=10_000, gtol=1e-10, ftol=1e-15)
    theirs = scipy.optimize.minimize(cost, x0, jac=True, method="L-BFGS-B",
                                     options={"maxiter": 2000, "maxfun": 10_000, "gtol": 1e-10, "ftol": 1e-15})
    assert ours.fun == pytest.approx(theirs.fun, rel=1e-6), (ours, theirs.message)


def test_the_objective_and_its_packing_are_scikit_learns():
    """The cost and gradient of a network, at the same weights, are scikit-learn's own ``_loss_grad_lbfgs``'s,
    packed in its order."""
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    ours = DeepClassifier((5, 4), solver="lbfgs", alpha=0.3, max_iter=3, random_state=0, backend="numpy")
    theirs = MLPClassifier((5, 4), solver="lbfgs", alpha=0.3, max_iter=3, random_state=0)
    with pytest.warns(Warning):
        ours.fit(X, y)
        theirs.fit(X, y)
    packed = np.concatenate([c.ravel() for c in ours.coefs_] + [b.ravel() for b in ours.intercepts_])
    Y = np.eye(3)[y]
    sizes = [4, 5, 4, 3]
    activations = [X] + [np.empty((30, n)) for n in sizes[1:]]
    deltas = [np.empty((30, n)) for n in sizes[1:]]
    coef_grads = [np.empty((a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    intercept_grads = [np.empty(n) for n in sizes[1:]]
    their_cost, their_grad = theirs._loss_grad_lbfgs(packed, X, Y, None, activations, deltas, coef_grads,
                                                     intercept_grads)
    our_cost, our_grad = ours._loss_grad_lbfgs(packed, X, Y)
    assert our_cost == pytest.approx(their_cost, rel=1e-12)
    np.testing.assert_allclose(our_grad, their_grad, rtol=1e-10, atol=1e-14)


def test_a_full_batch_fit_lowers_the_loss_like_scikit_learns(numpy_backend):
    from sklearn.datasets import load_diabetes
    from sklearn.neural_network import MLPRegressor

    X, y = load_diabetes(return_X_y=True)
    y = (y - y.mean()) / y.std()
    ours = DeepRegressor(hidden_layer_sizes=(20,), solver="lbfgs", max_iter=100, random_state=0, backend="numpy")
    theirs = MLPRegressor(hidden_layer_sizes=(20,), solver="lbfgs", max_iter=100, random_state=0)
    with pytest.warns(Warning):
        ours.fit(X, y)
        theirs.fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == 100
    assert ours.loss_ <= 1.1 * theirs.loss_ and ours.score(X, y) > 0.5  # after as many iterations, as low a loss
