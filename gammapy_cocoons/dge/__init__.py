"""Diffuse Galactic emission (DGE): readers for published model cubes."""
from .readers import read_dge, read_hermes_cube, read_map_cube

__all__ = ["read_dge", "read_hermes_cube", "read_map_cube"]
