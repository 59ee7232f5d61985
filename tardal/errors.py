"""Exceptions raised on bad user input.

Every message names the file, line or key at fault, what was expected and what was found.
"""

from __future__ import annotations


class TardalError(Exception):
    """Base class of every error the package raises for bad input."""


class ConfigError(TardalError, ValueError):
    """A config file or override has an unknown key, a wrong type or a bad value."""


class DataError(TardalError, ValueError):
    """A data set, image, label or annotation file is missing, corrupt or inconsistent."""


class CheckpointError(TardalError, ValueError):
    """A checkpoint file is missing, corrupt, or does not match the model it is loaded into."""


class UnknownNameError(TardalError, KeyError):
    """A registry lookup found no entry of that name."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""
