"""Observability: JSON logs (logging.py) and Prometheus metrics (metrics.py)."""
