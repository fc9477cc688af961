"""Fleets: systems (pools of identical replicas), fleet TOML files and the bundled fleets."""

from .model import Fleet, System
from .toml import bundled_fleets, fleet_from_dict, load_systems, read_fleet

__all__ = ["Fleet", "System", "bundled_fleets", "fleet_from_dict", "load_systems", "read_fleet"]
