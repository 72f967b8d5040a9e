"""The parts of DeepClassifier's and DeepRegressor's docstrings (numpydoc) that they share, written once.

Each part is indented as a class docstring's body, to be placed at the start of a line.
"""

PARAMETERS = """\
    hidden_layer_sizes : tuple of int, default=(100,)
        The sizes of the hidden layers, n[1], ..., n[L-1]; n[0] and n[L] come from the data.
    activation : {'relu', 'leaky_relu', 'tanh', 'sigmoid', 'identity', 'logistic'}, default='relu'
        The hidden layers' activation g[l]; 'logistic' is scikit-learn's name for 'sigmoid'.
    solver : {'adam', 'sgd', 'rmsprop'}, default='adam'
        The optimizer.
    alpha : float, default=0.0001
        The L2 penalty λ: (λ/2m)·Σ‖W[l]‖² is added to the cost.
    batch_size : int or 'auto', default='auto'
        Samples per mini-batch; 'auto' is min(200, n_samples).
    learning_rate : {'constant', 'step', 'exponential'}, default='constant'
        The schedule: constant, halved every 10 epochs, or ×0.95 per epoch.
    learning_rate_init : float, default=0.001
        The initial learning rate α.
    max_iter : int, default=200
        The most epochs (passes over the data) one ``fit`` runs.
    shuffle : bool, default=True
        Shuffle the samples at each epoch.
    random_state : int, RandomState, Generator or None, default=None
        The seed of the initial weights, the shuffles, dropout and the validation split.
    tol : float, default=1e-4
        The least improvement that counts: training stops when the loss (or the validation score) has not
        improved by ``tol`` for ``n_iter_no_change`` epochs.
    verbose : bool or int, default=False
        0: silent; 1: a progress bar on a terminal, else a line per epoch on stderr; 2: a line per epoch.
        Each line gives the training loss (with its L2 term) and score (averaged over the epoch's batches,
        with dropout), and the validation loss and score when there is validation data.
    warm_start : bool, default=False
        Let ``fit`` continue from the current weights instead of starting anew.
    momentum : float, default=0.9
        The momentum of ``solver='sgd'``.
    nesterovs_momentum : bool, default=True
        Nesterov's momentum for ``solver='sgd'``.
    early_stopping : bool, default=False
        Stop on the validation score: on ``validation_data`` when ``fit`` is given it, else on
        ``validation_fraction`` of the training data held out; the best epoch's weights are kept.
    validation_fraction : float, default=0.1
        The share held out for ``early_stopping`` (of each class, for a classifier).
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decay rates of its moment estimates.
    epsilon : float, default=1e-8
        Adam's and RMSProp's term that keeps their division finite.
    n_iter_no_change : int, default=10
        The epochs without an improvement of ``tol`` after which training stops.
    dropout : float, default=0.0
        The rate of inverted dropout on the hidden layers during training.
    batch_norm : bool, default=False
        Normalise each hidden layer's pre-activations over the batch (batch normalization, with a learnt
        scale and shift in place of the bias); predictions use the running statistics kept with the model.
    standardize : bool, default=False
        Scale each input feature by the training data's mean and standard deviation (kept with the model).
    backend : {'auto', 'numpy', 'cupy', 'array_api_strict'}, Backend or None, default=None
        Where the math runs; None and 'auto' take CuPy when a GPU is usable, else NumPy.
    dtype : {'float32', 'float64'}, default='float32'
        The dtype of the weights and of the math.
    tf32 : bool or None, default=None
        True: float32 products use a GPU's TF32 tensor cores; False: they do not; None: CuPy's setting
        (``CUPY_TF32``). No effect on the CPU.
    checkpoint_path : path or None, default=None
        Write a checkpoint here, atomically, after every epoch, for ``fit(..., resume_from=path)``.
    distributed : bool, default=False
        Data-parallel training over the ranks of an MPI job (see ``gpudeep.distributed``).
    n_jobs : int or None, default=None
        BLAS threads on the CPU: None chooses them by problem size, -1 uses every core."""

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
