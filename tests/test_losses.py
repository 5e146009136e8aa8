"""The losses' registry: what each loss requires of the network, and its cost."""

import pytest

from jitprop.activations import ACTIVATIONS
from jitprop.losses import LOSSES, get_loss


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_entry_is_complete(name):
    spec = LOSSES[name]
    assert spec.name == name
    assert spec.output_activation is None or spec.output_activation in ACTIVATIONS
    assert all(isinstance(count, int) and count > 0 for count in spec.flops) and len(spec.flops) == 2


def test_what_each_loss_requires_and_reports():
    requires = {name: (spec.output_activation, spec.over_outputs, spec.classification) for name, spec in LOSSES.items()}
    assert requires == {
        "mse": (None, True, False),
        "cross_entropy": ("softmax", False, True),
        "binary_cross_entropy": ("sigmoid", True, True),
    }
    assert len({spec.code for spec in LOSSES.values()}) == len(LOSSES)


def test_an_unknown_name_lists_the_valid_ones():
    expected = "Unknown loss 'hinge'; expected one of binary_cross_entropy, cross_entropy, mse"
    with pytest.raises(ValueError, match=expected):
        get_loss("hinge")
