"""Benchmarks for alert-gateway: run each as `python -m bench.<name>` (see bench/README.md)."""
