"""Pure rules and types of Guetteur. No I/O here and no import of adapters, services or web."""
