"""Use cases of Guetteur: registry, recorder, live fan-out, retention, integrity check, access."""
