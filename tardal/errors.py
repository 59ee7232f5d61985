"""Exceptions raised on bad user input: the one error policy of the package.

* :class:`ConfigError`: a config file, a ``key=value`` override, a command-line flag or an
  environment variable (names the key or flag, the allowed range or choices, the value found);
* :class:`DataError`: images, labels, data sets, result folders, and files that cannot be
  written (names the file, and the line for text files);
* :class:`CheckpointError`: checkpoints and weight files (names the file);
* :class:`UnknownNameError`: a registry lookup (lists close matches and every valid name).

Every message is one line and says what was expected and what was found. The command line
prints it as ``tardal <command>: error: <message>`` and exits with status 2. Anything else that
escapes is a bug (traceback, status 1); ``assert`` guards internal invariants only.
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
