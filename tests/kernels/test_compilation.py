"""How kernels call each other: no integer literals passed between them (each would be a signature of its own)."""


def _literal_integer_arguments(module):
    """``(function, line)`` of each call in ``module`` passing an integer literal to a compiled kernel."""
    import ast
    import inspect

    from numba.core.registry import CPUDispatcher

    found = []
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        if not isinstance(getattr(module, node.func.id, None), CPUDispatcher):
            continue
        for arg in node.args:
            value = arg.operand if isinstance(arg, ast.UnaryOp) else arg
            if isinstance(value, ast.Constant) and type(value.value) is int:
                found.append((node.func.id, node.lineno))
    return found


def test_kernels_pass_no_integer_literals_to_kernels():
    # Numba types a literal argument (a plain 0) as a type of its own and
    # compiles a second copy of the callee, with all it calls, for it: seconds
    # of compiling on first use for nothing. np.int64(0) shares the
    # compiled version of the callers that pass a variable.
    import importlib
    import pkgutil

    import jitprop.kernels

    found = {}
    for info in pkgutil.iter_modules(jitprop.kernels.__path__):
        module = importlib.import_module(f"jitprop.kernels.{info.name}")
        if calls := _literal_integer_arguments(module):
            found[info.name] = calls
    assert found == {}
