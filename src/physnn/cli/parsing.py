"""The command line's argparse base: one-sentence errors with exit code 2, defaults shown in
the help, and the value types of its options (``KEY=VALUE``, positive integers)."""

from __future__ import annotations

import argparse
import tomllib
from typing import Any, NoReturn


class DefaultsFormatter(argparse.HelpFormatter):
    """Help that ends each option with its default, unless the help already names it or there is
    none to show (a switch, a repeatable option, nothing)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default in (None, argparse.SUPPRESS) or default is False:
            return text
        if isinstance(default, list | tuple):
            if not default:
                return text
            default = " ".join(str(d) for d in default)
        return f"{text} (default: {str(default).replace('%', '%%')})"


class Parser(argparse.ArgumentParser):
    """argparse with one-sentence errors, exit code 2, and defaults in the help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def key_value(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as a TOML literal (bare words are strings)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip().replace("-", "_"), value


def positive_int(text: str) -> int:
    """A positive integer, or an argparse error that says what was given."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value
