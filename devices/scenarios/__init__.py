"""Shipped simulator scenarios (YAML); a package so they install with the wheel."""
