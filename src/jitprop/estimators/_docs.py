"""Docstring sections the classifier and the regressor share."""

PARAMETERS = """\
    hidden_layer_sizes : int or sequence of int, default (100,)
        Units of each hidden layer; ``()`` for none (a linear or logistic model).
    activation : str, default "relu"
        Activation of the hidden layers: scikit-learn's ``"identity"``,
        ``"logistic"`` (1 / (1 + e^-z)), ``"tanh"``, ``"relu"`` (max(z, 0)),
        or jitprop's ``"sigmoid"`` (= logistic), ``"leaky_relu"``, ``"elu"``,
        ``"softplus"``, ``"gelu"`` (see :mod:`jitprop.activations`).
    solver : {"adam", "sgd", "adamw", "rmsprop", "adagrad", "lbfgs"}, default "adam"
        The update rule (:mod:`jitprop.optimizers`). ``"sgd"``: momentum
        ``momentum`` (Nesterov's if ``nesterovs_momentum``), the same updates
        as scikit-learn's. ``"adam"``: ``beta_1``, ``beta_2``, ``epsilon``.
        ``"adamw"``: Adam with ``alpha`` as decoupled weight decay
        ``p ← p − lr·alpha·p`` (on biases too) instead of an L2 penalty.
        ``"rmsprop"`` (ρ = 0.99) and ``"adagrad"``: jitprop's, with ``epsilon``.
        ``"lbfgs"``: SciPy's L-BFGS-B on the full-batch objective (loss plus
        ``alpha · ΣW² / (2·Σw)``), as scikit-learn's (:class:`jitprop.LBFGS`;
        needs SciPy); no ``partial_fit``, no ``dropout``.
    alpha : float, default 0.0001
        L2 penalty, as scikit-learn's: each batch ``B`` minimises its mean loss
        plus ``alpha · ΣW² / (2·|B|)`` (biases are not penalised; ``|B|`` is
        the batch's total sample weight). jitprop fixes the divisor at
        ``batch_size × mean sample weight`` for a whole fit, so a smaller last
        batch of an epoch gets the same penalty as the others.
    batch_size : int or "auto", default "auto"
        Samples per update; "auto" is ``min(200, n_samples)``. Larger than
        the number of samples: clipped, with a warning.
    learning_rate : {"constant", "invscaling", "adaptive"}, default "constant"
        Schedule of the rate, used by every solver but ``"adam"`` (which, as in
        scikit-learn, keeps ``learning_rate_init``). ``"invscaling"``: the rate
        of an epoch is ``learning_rate_init / (t + 1)^power_t``, ``t`` the
        samples seen before it (``learning_rate_init`` for the first).
        ``"adaptive"``: when more than ``n_iter_no_change`` epochs in a row
        miss the ``tol`` criterion the rate is divided by 5 instead of
        stopping, until it is 1e-6 or less.
    learning_rate_init : float, default 0.001
        Initial learning rate, > 0.
    power_t : float, default 0.5
        Exponent of ``"invscaling"``, >= 0.
    max_iter : int, default 200
        Most epochs (passes over the data) per ``fit``; with ``"lbfgs"``,
        most iterations.
    shuffle : bool, default True
        Visit the samples in a new random order each epoch.
    random_state : int, RandomState instance or None, default None
        Source of the initial weights (drawn as scikit-learn draws them, so
        the same ``random_state`` starts from the same weights as
        ``MLPClassifier``/``MLPRegressor``), of the validation split and of
        the seed of the network's shuffling and dropout. An int gives the
        same ``coefs_``, bit for bit, on every run and with any ``n_threads``.
    tol : float, default 1e-4
        An epoch improves when the training loss falls below the best so far
        minus ``tol`` — or, with ``early_stopping``, the validation score rises
        to the best so far plus ``tol``. With ``"lbfgs"``, training stops when
        no component of the objective's gradient exceeds ``tol``.
    verbose : bool, default False
        Print the loss of each epoch (and the validation score) to stdout.
    warm_start : bool, default False
        ``fit`` continues from the previous fit's weights (with a new optimizer
        state, as in scikit-learn) instead of starting afresh.
    momentum : float, default 0.9
        Momentum of ``"sgd"``, in [0, 1).
    nesterovs_momentum : bool, default True
        Nesterov's momentum for ``"sgd"`` (when ``momentum > 0``).
    early_stopping : bool, default False
        Hold out ``validation_fraction`` of the training data (stratified by
        class for single-label classification), score it after each epoch,
        stop when the score stops improving and keep the best epoch's
        weights. Not with ``partial_fit``.
    validation_fraction : float, default 0.1
        Share held out with ``early_stopping``, in (0, 1).
    beta_1, beta_2 : float, default 0.9, 0.999
        Decay rates of Adam's moments, in [0, 1).
    epsilon : float, default 1e-8
        Added to the denominator of ``"adam"``, ``"adamw"``, ``"rmsprop"`` and
        ``"adagrad"``.
    n_iter_no_change : int or numpy.inf, default 10
        Epochs in a row without improvement (see ``tol``) after which training
        stops (or, with ``"adaptive"``, the rate drops).
    max_fun : int, default 15000
        ``"lbfgs"`` only: most evaluations of the loss and its gradient per
        ``fit`` (SciPy finishes the iteration in progress).
    dropout : float, default 0.0
        jitprop's: inverted dropout of this rate, in [0, 1), on the output of
        every hidden layer while training (:class:`jitprop.Dropout`).
    dtype : {None, "float32", "float64"}, default None
        jitprop's: precision of the weights and of all computation; ``X`` is
        converted to it once. None keeps the input's as scikit-learn does:
        float32 ``X`` trains in float32, any other in float64. ``"float32"``
        is faster on float64 data. Predictions are float32 for float32 ``X``
        to a float32 model, else float64 (as scikit-learn's).
    n_threads : int or None, default None
        jitprop's: Numba threads used by ``fit``, ``partial_fit`` and the
        predictions, restored afterwards; -1 for all, None to leave Numba's
        setting as it is. Counts above ``NUMBA_NUM_THREADS`` are capped. The
        setting belongs to the calling thread. Results do not depend on it.
"""

ATTRIBUTES = """\
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when ``X`` in ``fit`` had string column names
        (a DataFrame) and scikit-learn is installed.
    coefs_ : list of ndarray
        ``coefs_[i]`` of shape (fan_in, fan_out): the weights of layer ``i``,
        as writable views into :attr:`network_`'s parameters, in ``dtype``.
    intercepts_ : list of ndarray
        ``intercepts_[i]`` of shape (fan_out,): the biases of layer ``i``.
    loss_ : float
        Training loss of the last epoch (with ``"lbfgs"``: at the weights
        found), in scikit-learn's units (see Notes).
    loss_curve_ : list of float
        Training loss of every epoch of every fit since the estimator was
        (re)initialised, in scikit-learn's units; not with ``"lbfgs"``, as in
        scikit-learn (nor are the three attributes below).
    best_loss_ : float or None
        Smallest value of ``loss_curve_``; None with ``early_stopping``.
    validation_scores_ : list of float or None
        Score on the held-out part after every epoch, with ``early_stopping``;
        else None.
    best_validation_score_ : float or None
        Best of ``validation_scores_``; None without ``early_stopping``.
    n_iter_ : int
        Epochs (``"lbfgs"``: iterations) the last ``fit`` (or ``partial_fit``) ran.
    t_ : int
        Training samples seen since the estimator was (re)initialised.
    n_layers_ : int
        Layers, the input and output layers included.
    n_outputs_ : int
        Units of the output layer.
    out_activation_ : str
        Activation of the output layer ("softmax", "logistic", "identity" or "exp").
    network_ : jitprop.Network
        The trained network; save it with :func:`jitprop.save`.
"""

NOTES = """\
    jitprop's losses are scaled differently from scikit-learn's (``mse`` is
    the mean of squares over samples and outputs, ``binary_cross_entropy``
    is averaged over outputs too). Learning rates (for ``"sgd"``) or
    ``epsilon`` (for the other solvers) and the L2 strength are converted so
    that the updates are those of scikit-learn's objective, and
    ``loss_curve_`` is reported in scikit-learn's units. Other differences
    from ``sklearn.neural_network``: the order of the samples in each epoch
    (drawn by the network's own generator); Adam's ``epsilon`` is added to
    the bias-corrected ``√v̂`` rather than to ``√v``; when an SGD rate changes,
    the velocity is rescaled (PyTorch's momentum form) rather than kept.
    Sparse ``X`` is converted to a dense array. A loss or gradient that
    becomes NaN or infinite keeps the last finite weights; then, as in
    scikit-learn, ``early_stopping`` ends training with a
    ``ConvergenceWarning`` and the best validation epoch's weights, and
    otherwise ``fit`` raises scikit-learn's ``ValueError`` (a
    :class:`jitprop.DivergenceError`). ``coefs_`` and ``intercepts_`` may be
    assigned: the arrays are checked and copied into the network.
    Pickling works (use joblib as with any scikit-learn model);
    :func:`jitprop.save` writes :attr:`network_` to a pickle-free file.
"""
