"""segframe's version, in a module of its own so that core modules can name it without
importing the package root (which imports them lazily: that would be a cycle)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("segframe")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
