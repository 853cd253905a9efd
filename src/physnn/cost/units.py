"""Quantities in cost parameters: SI values, written with their unit where people read them.

A cost parameter is held in SI units (J, s, W, or a plain count). In a TOML file or on the
command line it may be given as a number (SI) or as a string with an SI prefix and the unit,
``"7 fJ"``, ``"133 ns"``, ``"2.5 mW"``; the unit must be the parameter's own, so that a time
given where an energy is expected is refused in one sentence rather than silently misread.
"""

from __future__ import annotations

import math
import re

from physnn.errors import ConfigError

PREFIXES = {
    "y": 1e-24, "z": 1e-21, "a": 1e-18, "f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6,
    "m": 1e-3, "": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
}  # fmt: skip
"""SI prefixes (``u`` and ``µ`` both micro)."""

PLANCK = 6.62607015e-34
"""Planck's constant h in J s (exact, SI 2019)."""
LIGHT_SPEED = 299_792_458.0
"""The speed of light c in m/s (exact)."""

_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s]*)\s*$")


def photon_energy(wavelength: float) -> float:
    """The energy h c / λ in J of one photon of ``wavelength`` in m."""
    return PLANCK * LIGHT_SPEED / wavelength


def parse_quantity(name: str, value: object, unit: str) -> float:
    """``value`` (a number in SI, "inf", or a string such as "7 fJ") as a float in SI ``unit``;
    ConfigError naming ``name`` for anything else."""
    if isinstance(value, bool):
        raise ConfigError(f"cost parameter {name} must be a quantity in {unit or 'counts'}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if value.strip().lower() in ("inf", "infinity"):
            return math.inf
        match = _QUANTITY.match(value)
        if match:
            number, symbol = match.groups()
            for prefix, factor in PREFIXES.items():
                if symbol == prefix + unit and (prefix or symbol == unit):
                    return float(number) * factor
    expected = f'"1.5 p{unit}"' if unit else "a number"
    raise ConfigError(
        f"cost parameter {name} must be a quantity in {unit or 'counts'} (e.g. {expected}), "
        f"got {value!r}"
    )


def format_quantity(value: float, unit: str) -> str:
    """``value`` in SI ``unit`` with an engineering prefix: 7e-15 J → "7 fJ"."""
    if math.isinf(value) or value == 0 or not unit:
        return f"{value:g} {unit}".strip()
    exponent = min(12, max(-24, 3 * math.floor(math.log10(abs(value)) / 3)))
    return f"{value / 10.0**exponent:.3g} {ENGINEERING[exponent]}{unit}"


ENGINEERING = {-24: "y", -21: "z", -18: "a", -15: "f", -12: "p", -9: "n", -6: "µ", -3: "m",
               0: "", 3: "k", 6: "M", 9: "G", 12: "T"}  # fmt: skip
"""The prefix of each power of 1000, for printing."""
