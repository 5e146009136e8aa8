"""scikit-learn-compatible estimators on top of :class:`jitprop.Network`.

:class:`Classifier` and :class:`Regressor` take the parameters of
``sklearn.neural_network.MLPClassifier`` and ``MLPRegressor`` and follow
scikit-learn's estimator conventions, so they work in pipelines, grid
searches and cross-validation. scikit-learn is optional (``pip install
'jitprop[sklearn]'``): with it installed the estimators inherit its base
classes and tags; without it they still fit and predict NumPy arrays.
"""

from ._classifier import Classifier
from ._regressor import Regressor

__all__ = ["Classifier", "Regressor"]
