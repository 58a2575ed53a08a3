"""Self-healing: repair primitives, the heal queue worker, the scrubber and disk refill."""
