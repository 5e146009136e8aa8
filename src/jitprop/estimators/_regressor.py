"""The scikit-learn-style regressor."""

from ..losses import LOSSES
from . import _docs
from . import _sklearn as sk
from ._base import MLP, Task, _store_params

#: What a regressor trains on: jitprop's ``mse``, scikit-learn's ``"squared_error"``.
LOSS = LOSSES["mse"]


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
        dropout=0.0,
        dtype="float32",
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
            float64 (computed in ``dtype``); 1-D when the model has one output.
        """
        outputs = self._outputs(X)
        return outputs.ravel() if self.n_outputs_ == 1 else outputs

    def _encode(self, y, first, incremental, classes):
        """Targets as (n_samples, n_outputs) rows for ``mse`` on an identity output.

        scikit-learn's objective is ``Σ_outputs (y − ŷ)² / 2`` averaged over
        samples; jitprop's ``mse`` averages over the outputs too and has no
        ½, hence ``scale = 2 / n_outputs`` (:meth:`jitprop.losses.Loss.sklearn_scale`).
        """
        if self.loss != LOSS.sklearn_name:
            raise ValueError(f"loss must be {LOSS.sklearn_name!r} (jitprop has no Poisson loss), got {self.loss!r}.")
        if y.ndim == 2 and y.shape[1] == 1:
            sk.warn_column_vector()
            y = y.ravel()
        targets = y.reshape(y.shape[0], -1)
        return Task.of(targets, LOSS.name, targets.shape[1])

    def _validation_score(self, outputs, y, sample_weight):
        return sk.r2(y, outputs, sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


Regressor.__doc__ = f"""A multi-layer perceptron regressor trained by jitprop: a drop-in for ``MLPRegressor``.

    Parameters follow ``sklearn.neural_network.MLPRegressor`` where the
    concept is the same; ``dropout``, ``dtype`` and ``n_threads`` are
    jitprop's own. The output layer is linear (identity) with one unit per
    target, trained on the squared error.

    Parameters
    ----------
    loss : {{"squared_error"}}, default "squared_error"
        The only loss (scikit-learn's ``"poisson"`` is not available).
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
