"""The ``jitprop`` command."""


def main(argv=None):
    return 0
