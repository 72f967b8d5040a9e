"""The attributes of DeepClassifier's and DeepRegressor's docstrings (numpydoc), written once; their
parameters' entries come from the parameter table (``hyperparameters.documentation``).

Each part is indented as a class docstring's body, to be placed at the start of a line.
"""

ATTRIBUTES = """\
    coefs_ : list of ndarray
        W[l]ᵀ for each layer, of shape (n[l-1], n[l]) as in scikit-learn (a host copy).
    intercepts_ : list of ndarray
        b[l] for each layer, of shape (n[l],) (a host copy).
    n_features_in_ : int
        The number of input features, n[0].
    feature_names_in_ : ndarray of str
        The input's column names, when ``fit`` was given a DataFrame (or a CSV through ``gpudeep train``);
        kept by ``save`` and ``load``.
    n_layers_ : int
        The number of layers, counting the input layer: L + 1.
    n_outputs_ : int
        The number of output units, n[L].
    out_activation_ : str
        The output activation, named as in scikit-learn: 'logistic', 'softmax' or 'identity'.
    n_iter_ : int
        The epochs run in all.
    t_ : int
        The training samples seen: samples × epochs.
    loss_ : float
        The last epoch's training loss.
    loss_curve_ : list of float
        The training loss of each epoch (with its L2 term, averaged over the epoch's batches).
    best_loss_ : float or None
        The lowest training loss; None when training stopped on a validation score.
    validation_scores_ : list of float or None
        The validation score of each epoch, when there was validation data.
    best_validation_score_ : float or None
        The best of ``validation_scores_``.
    history_ : dict of str to list of float
        Each epoch's training loss and score and, with validation data, validation loss and score, by name.
    n_steps_ : int
        The optimizer steps taken in all.
    backend_ : Backend
        Where the math ran.
    state_ : TrainingState
        The network, its parameters on the device, the optimizer and the history."""
