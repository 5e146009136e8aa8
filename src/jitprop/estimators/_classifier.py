"""The scikit-learn-style classifier."""

import numpy as np

from . import _docs
from . import _sklearn as sk
from ._base import MLP, Task, _store_params


class Classifier(sk.ClassifierMixin, MLP):
    def __init__(
        self,
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
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Class labels of any sortable type, or a 0/1 indicator matrix for
            multi-label classification.
        sample_weight : array-like of shape (n_samples,), optional
            Non-negative weights; each batch's loss is their weighted mean.

        Returns
        -------
        self : Classifier
        """
        return self._fit(X, y, sample_weight)

    @sk.available_if(lambda estimator: estimator._partial_fit_available())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over ``(X, y)``, continuing from the current weights and optimizer state.

        Parameters
        ----------
        X, y, sample_weight
            As for :meth:`fit`.
        classes : array-like of shape (n_classes,), optional
            Every class the estimator will see; required on the first call
            (for multi-label ``y`` too, as in scikit-learn), ignored after.

        Returns
        -------
        self : Classifier
        """
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes={np.unique(classes)!r} is not the same as on the last call to partial_fit, "
                f"was: {self.classes_!r}."
            )
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict(self, X):
        """Predicted classes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,), or (n_samples, n_classes) of 0/1 for multi-label
            The most probable class; for binary and multi-label problems, the
            classes (labels) whose probability exceeds 0.5.
        """
        return self._decode(self._outputs(X))

    def predict_proba(self, X):
        """Probability of each class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of :attr:`classes_`; float32 for float32 ``X``
            to a float32 model, else float64. Rows sum to 1 except for
            multi-label problems, where each column is the probability of its
            label on its own.
        """
        outputs = self._outputs(X)
        if self._multilabel or self.classes_.shape[0] > 2:
            return outputs
        if self.classes_.shape[0] == 1:
            return np.ones_like(outputs)
        return np.hstack([1 - outputs, outputs])

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        probabilities = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(probabilities, out=probabilities)

    # ---------------------------------------------------------------- helpers
    def _encode(self, y, first, incremental, classes):
        """Check ``y`` against the classes and encode it for the network (see :class:`Task`).

        Multiclass: softmax output and cross-entropy on class indices.
        Two classes (or one): one sigmoid output, binary cross-entropy on
        "is the second class". Multi-label: one sigmoid output per label —
        jitprop averages binary cross-entropy over the outputs where
        scikit-learn sums, hence ``scale = 1 / n_labels``
        (:meth:`jitprop.losses.Loss.sklearn_scale`).
        """
        if y.ndim == 2 and y.shape[1] == 1:
            sk.warn_column_vector()
            y = y.ravel()
        kind = sk.type_of_target(y)
        if kind not in ("binary", "multiclass", "multilabel-indicator"):
            raise ValueError(
                f"Unknown label type: {kind}. Classifier takes class labels (n_samples,) or a 0/1 "
                "multi-label indicator matrix (n_samples, n_labels); for continuous targets use Regressor."
            )
        multilabel = kind == "multilabel-indicator"
        if first:
            self._multilabel = multilabel
            if multilabel:
                self.classes_ = np.arange(y.shape[1])
            else:
                self.classes_ = np.unique(y if classes is None else np.asarray(classes))
        elif multilabel != self._multilabel or (multilabel and y.shape[1] != self.classes_.shape[0]):
            raise ValueError(f"y is {kind}, but the estimator was fitted on other targets.")
        if multilabel:
            return Task.of(y.astype(np.float64), "binary_cross_entropy", y.shape[1])

        seen = np.unique(y)
        if self.warm_start and not incremental and not first and not np.array_equal(seen, self.classes_):
            raise ValueError(
                "warm_start can only be used where `y` has the same classes as in the previous call to fit. "
                f"Previously got {self.classes_}, `y` has {seen}."
            )
        unknown = np.setdiff1d(seen, self.classes_)
        if unknown.shape[0]:
            raise ValueError(
                f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. 'y' has {seen}."
            )
        index = np.searchsorted(self.classes_, y)
        if self.classes_.shape[0] > 2:
            return Task.of(index.astype(np.int64), "cross_entropy", self.classes_.shape[0], index)
        return Task.of((index == 1).astype(np.float64).reshape(-1, 1), "binary_cross_entropy", 1, index)

    def _decode(self, outputs):
        if self._multilabel:
            return (outputs > 0.5).astype(np.int64)
        if self.classes_.shape[0] > 2:
            return self.classes_[outputs.argmax(axis=1)]
        if self.classes_.shape[0] == 1:
            return np.repeat(self.classes_, outputs.shape[0])
        return self.classes_[(outputs[:, 0] > 0.5).astype(np.int64)]

    def _validation_score(self, outputs, y, sample_weight):
        return sk.accuracy(y, self._decode(outputs), sample_weight)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.multi_label = True
        return tags


Classifier.__doc__ = f"""A multi-layer perceptron classifier trained by jitprop: a drop-in for ``MLPClassifier``.

    Parameters follow ``sklearn.neural_network.MLPClassifier`` where the
    concept is the same, so that the same hyper-parameters give the same kind
    of model; ``dropout``, ``dtype`` and ``n_threads`` are jitprop's own. The
    output layer is softmax with cross-entropy for more than two classes,
    one logistic unit with binary cross-entropy for two, one logistic unit
    per label for a multi-label indicator ``y``.

    Parameters
    ----------
{_docs.PARAMETERS}
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted (``arange(n_labels)`` for multi-label ``y``).
{_docs.ATTRIBUTES}
    Notes
    -----
{_docs.NOTES}
    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> import jitprop as jp
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = jp.Classifier(hidden_layer_sizes=(64,), max_iter=50, random_state=0).fit(X / 16, y)
    >>> clf.predict(X[:3] / 16)
    array([0, 1, 2])
    """
