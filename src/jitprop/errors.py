"""Exceptions jitprop raises beyond ``ValueError`` and ``TypeError``."""


class DivergenceError(ArithmeticError):
    """Training produced a non-finite loss or gradient.

    The network keeps the parameters from before the failing batch, the last
    finite ones.

    Attributes
    ----------
    epoch : int
        0-based epoch of the failing batch.
    batch : int
        0-based batch within that epoch.
    """

    def __init__(self, epoch, batch, lr):
        self.epoch = epoch
        self.batch = batch
        super().__init__(
            f"Training diverged: the loss or gradient became NaN or infinite at epoch {epoch}, "
            f"batch {batch}. The network keeps the last finite weights. "
            f"Try a lower learning rate (lr={lr:g})."
        )
