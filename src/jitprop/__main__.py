"""``python -m jitprop`` runs the ``jitprop`` command."""

import sys

from .cli import main

sys.exit(main())
