"""The exception classes jitprop defines, in one place.

Everything else jitprop raises is a built-in ``ValueError``, ``TypeError``,
``OSError`` or ``FloatingPointError`` whose message names the argument.

============================  =================  ===================================================
class                         base               raised when
============================  =================  ===================================================
:class:`DivergenceError`      ValueError,        training produced a non-finite loss or gradient
                              ArithmeticError
:class:`ModelFileError`       ValueError         a file is not a valid jitprop model file
:class:`DataError`            ValueError         a data file given to the command line is unusable
:class:`UsageError`           ValueError         command-line options cannot work together
:class:`Interrupted`          KeyboardInterrupt  Ctrl-C stopped a command (with what was saved)
:class:`ThreadingLayerError`  RuntimeError       Numba's threading layer cannot run the kernels here
:class:`RankError`            RuntimeError       a rank of a distributed fit failed; every rank raises it
============================  =================  ===================================================
"""


class DivergenceError(ValueError, ArithmeticError):
    """Training produced a non-finite loss or gradient.

    The network keeps the parameters from before the failing batch, the last
    finite ones. It is a ``ValueError``, as scikit-learn's MLP raises for
    non-finite weights, and an ``ArithmeticError``, as it always was here.

    Parameters
    ----------
    epoch, batch : int
        See Attributes.
    lr : float
        The learning rate of the failing batch, quoted in the message.
    message : str, optional
        The message, instead of the one made from ``epoch``, ``batch`` and ``lr``.

    Attributes
    ----------
    epoch : int
        0-based epoch of the failing batch.
    batch : int
        0-based batch within that epoch.
    """

    def __init__(self, epoch, batch, lr, message=None):
        self.epoch = epoch
        self.batch = batch
        self.lr = lr
        if message is None:
            message = (
                f"Training diverged: the loss or gradient became NaN or infinite at epoch {epoch}, "
                f"batch {batch}. The network keeps the last finite weights. "
                f"Try a lower learning rate (lr={lr:g})."
            )
        super().__init__(message)

    def __reduce__(self):
        # Pickled (by joblib's workers, for instance) with every argument, not only the message.
        return type(self), (self.epoch, self.batch, self.lr, str(self))


class ModelFileError(ValueError):
    """A file is not a valid jitprop model file.

    Attributes
    ----------
    path : str
        The file.
    reason : str
        What is wrong with it.
    """

    def __init__(self, path, reason):
        self.path = path
        self.reason = reason
        super().__init__(f"Cannot load jitprop model file {path!r}: {reason}")


class DataError(ValueError):
    """A data file cannot be used; the message says where and why, in one line."""


class UsageError(ValueError):
    """Command-line options that cannot work together, found before any work is done."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a command; the message says what was (not) saved."""


class RankError(RuntimeError):
    """A rank of a distributed :meth:`~jitprop.Network.fit` (``comm=...``) failed; every rank raises this.

    The failing rank raises it from its own exception; the others learn its
    message with the batch's gradient exchange (or the step's agreement), so
    that no rank waits for one that has stopped.

    Parameters
    ----------
    rank, size : int
        See Attributes.
    where : str
        What the ranks were doing (``"setup"``, ``"epoch 3, batch 7"``).
    message : str
        The failing rank's exception, as ``"TypeName: text"``.

    Attributes
    ----------
    rank : int
        The lowest rank that failed.
    size : int
        Number of ranks.
    """

    def __init__(self, rank, size, where, message):
        self.rank = rank
        self.size = size
        self.where = where
        self.message = message
        super().__init__(f"rank {rank} of {size} failed ({where}): {message}")

    def __reduce__(self):
        return type(self), (self.rank, self.size, self.where, self.message)


__all__ = [
    "DataError",
    "DivergenceError",
    "Interrupted",
    "ModelFileError",
    "RankError",
    "ThreadingLayerError",
    "UsageError",
]


class ThreadingLayerError(RuntimeError):
    """Numba's threading layer cannot run jitprop's parallel kernels in this process."""
