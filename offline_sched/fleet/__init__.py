"""Fleets: systems (pools of identical replicas), fleet TOML files and the bundled fleets."""
