"""The activations' registry: every entry complete, the one source of codes, FLOPs, names and formulas."""

import pytest

import jitprop.activations as activations
from jitprop.activations import ACTIVATIONS, get_activation
from jitprop.estimators._base import ACTIVATIONS as ESTIMATOR_ACTIVATIONS
from jitprop.initializers import INITIALIZERS


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_entry_is_complete(name):
    spec = ACTIVATIONS[name]
    assert spec.name == name
    assert spec.default_init in INITIALIZERS
    assert all(isinstance(count, int) and count >= 0 for count in spec.flops) and len(spec.flops) == 2
    assert spec.formula and spec.derivative
    assert spec.default_alpha is None or spec.default_alpha >= 0


def test_codes_and_scikit_learn_names_are_unique():
    codes = [spec.code for spec in ACTIVATIONS.values()]
    assert len(set(codes)) == len(codes)
    aliases = [spec.sklearn_name for spec in ACTIVATIONS.values() if spec.sklearn_name]
    assert len(set(aliases)) == len(aliases)
    assert ACTIVATIONS["sigmoid"].sklearn_name == "logistic"


def test_only_the_link_functions_are_for_the_output_layer_alone():
    assert [name for name, spec in ACTIVATIONS.items() if not spec.hidden] == ["softmax", "exp"]
    assert ACTIVATIONS["exp"].sklearn_name == "exp"  # scikit-learn's out_activation_ of its Poisson loss


def test_the_estimators_take_every_hidden_activation_by_either_name():
    hidden = {name for name, spec in ACTIVATIONS.items() if spec.hidden}
    assert set(ESTIMATOR_ACTIVATIONS.values()) == hidden
    assert ESTIMATOR_ACTIVATIONS["logistic"] == ESTIMATOR_ACTIVATIONS["sigmoid"] == "sigmoid"
    assert list(ESTIMATOR_ACTIVATIONS)[:4] == ["identity", "logistic", "tanh", "relu"]  # scikit-learn's first


def test_the_documentation_table_is_built_from_the_entries():
    lines = activations.__doc__.splitlines()
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0] in ACTIVATIONS}
    assert set(rows) == set(ACTIVATIONS)
    for name, spec in ACTIVATIONS.items():
        assert spec.formula in rows[name] and spec.derivative in rows[name] and spec.default_init in rows[name]


def test_an_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown activation 'swish'; expected one of elu, exp, gelu, identity"):
        get_activation("swish")
    with pytest.raises(ValueError, match="Unknown activation"):
        get_activation(["relu"])
