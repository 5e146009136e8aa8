"""jitprop's airspeed velocity (asv) benchmarks; shared code lives in ``common``."""
