"""Engines for job lists beyond one machine (Dask)."""
