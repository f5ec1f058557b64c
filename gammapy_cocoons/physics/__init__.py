"""Numerical core: pure numpy in fixed internal units (GeV, cm, s, g, kpc, mb)."""
