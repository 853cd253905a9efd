"""physnn — training physical neural networks.

A training method is a gradient estimator: it queries a (simulated or real) device, computes on
a digital twin where it may, and fills ``.grad`` of the physical controls. See
``docs/architecture.md``.
"""

__version__ = "0.1.0"
