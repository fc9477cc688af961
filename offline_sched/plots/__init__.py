"""Figures: cost-model diagnostics and study plots (needs the ``plot`` extra)."""
