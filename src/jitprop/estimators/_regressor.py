"""The scikit-learn-style regressor."""

from ..losses import LOSSES
from . import _docs
from . import _sklearn as sk
from ._base import MLP, Task, _store_params

#: What a regressor trains on, by scikit-learn's name: jitprop's ``mse`` and ``poisson``.
REGRESSION_LOSSES = {LOSSES[name].sklearn_name: LOSSES[name] for name in ("mse", "poisson")}


class Regressor(sk.RegressorMixin, sk.MultiOutputMixin, MLP):
    _numeric_targets = True

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        dropout=0.0,
        dtype=None,
        n_threads=None,
    ):
        _store_params(self, locals())

    def fit(self, X, y, sample_weight=None):
        """Train on ``(X, y)``: up to ``max_iter`` epochs, from fresh weights unless ``warm_start``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; each batch's loss is their weighted mean.

        Returns
        -------
        self : Regressor
        """
        return self._fit(X, y, sample_weight)

    @sk.available_if(lambda estimator: estimator._partial_fit_available())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over ``(X, y)``, continuing from the current weights and optimizer state.

        Returns
        -------
        self : Regressor
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def predict(self, X):
        """Predicted targets.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            float32 for float32 ``X`` to a float32 model, else float64; 1-D
            when the model has one output.
        """
        outputs = self._outputs(X)
        return outputs.ravel() if self.n_outputs_ == 1 else outputs

    def _encode(self, y, first, incremental, classes):
        """Targets as (n_samples, n_outputs) rows for ``mse`` on an identity output, or ``poisson`` on an exp one.

        scikit-learn's squared error is ``Σ_outputs (y − ŷ)² / 2`` averaged
        over samples; jitprop's ``mse`` averages over the outputs too and has
        no ½, hence ``scale = 2 / n_outputs``. Its Poisson loss is half the
        deviance summed over outputs, jitprop's the same averaged over them:
        ``scale = 1 / n_outputs`` (:meth:`jitprop.losses.Loss.sklearn_scale`).
        """
        if not isinstance(self.loss, str) or self.loss not in REGRESSION_LOSSES:
            raise ValueError(f"loss must be one of {', '.join(map(repr, REGRESSION_LOSSES))}, got {self.loss!r}.")
        loss = REGRESSION_LOSSES[self.loss]
        if y.ndim == 2 and y.shape[1] == 1:
            sk.warn_column_vector()
            y = y.ravel()
        if loss.name == "poisson" and (y < 0).any():
            raise ValueError("Some value(s) of y are negative which is not allowed for Poisson regression.")
        targets = y.reshape(y.shape[0], -1)
        return Task.of(targets, loss.name, targets.shape[1])

    def _validation_score(self, outputs, y, sample_weight):
        return sk.r2(y, outputs, sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


Regressor.__doc__ = f"""A multi-layer perceptron regressor trained by jitprop: a drop-in for ``MLPRegressor``.

    Parameters follow ``sklearn.neural_network.MLPRegressor`` where the
    concept is the same; ``dropout``, ``dtype`` and ``n_threads`` are
    jitprop's own. The output layer has one unit per target: linear
    (identity) for the squared error, exponential for the Poisson loss.

    Parameters
    ----------
    loss : {{"squared_error", "poisson"}}, default "squared_error"
        ``"squared_error"``: half the squared error, on an identity output.
        ``"poisson"``: half the Poisson deviance ``ŷ − y·log ŷ + y·log y − y``
        on an exponential output ``ŷ = e^z`` (the log link); ``y`` must be >= 0.
{_docs.PARAMETERS}
    Attributes
    ----------
{_docs.ATTRIBUTES}
    Notes
    -----
    For several outputs scikit-learn's ``loss_curve_`` averages the squared
    error over the outputs while its updates follow the sum; here the updates
    are the same and ``loss_curve_`` reports the sum that they minimise (the
    two agree for one output).

{_docs.NOTES}
    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.pipeline import make_pipeline
    >>> import jitprop as jp
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), jp.Regressor(learning_rate_init=0.01, max_iter=500, random_state=0))
    >>> model.fit(X, y).score(X, y) > 0.5
    True
    """
