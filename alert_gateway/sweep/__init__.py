"""Disaster sweeps (災害時安否確認): every resident of an area called, those at risk first."""
