"""The installed version of delve-advisor, read once from the package metadata."""

from __future__ import annotations

from importlib import metadata

try:
    __version__: str = metadata.version("delve-advisor")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
