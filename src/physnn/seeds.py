"""Seeds derived from a run seed: one independent stream per purpose.

A run has one seed. Everything random in it (the hidden perturbations of a simulated device, its
measurement noise, a method's probes, a twin's fit) draws from its own seed derived here from the
run seed and a purpose name, so that adding a new consumer never shifts the numbers of another.
Torch-free on purpose: any layer may import it.
"""

from __future__ import annotations

import hashlib


def derived_seed(seed: int, purpose: str) -> int:
    """A 63-bit seed for one purpose, derived from a run seed (independent streams)."""
    digest = hashlib.sha256(f"{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
