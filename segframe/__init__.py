"""segframe: plugin-based AutoML for customer segmentation.

The public API is what ``__all__`` lists; every other module is internal.
"""

from __future__ import annotations

from segframe.components import CONTRACT_VERSION, Component, SearchContext
from segframe.errors import DataError, IntegrityError, PluginError, SegframeError, StorageError
from segframe.hookspecs import hookimpl, hookspec
from segframe.version import __version__


def __getattr__(name: str):  # keep `import segframe` light: the engine loads on first use
    if name in {"search", "SearchResult"}:
        from segframe import engine

        return getattr(engine, name)
    if name == "load_pipeline":
        from segframe.storage import load_pipeline

        return load_pipeline
    if name in {"segment", "SegmentResult", "rename_segments"}:
        from segframe import profiles, segmentation

        return getattr(segmentation if name != "rename_segments" else profiles, name)
    raise AttributeError(f"module 'segframe' has no attribute {name!r}")


__all__ = [
    "CONTRACT_VERSION",
    "Component",
    "DataError",
    "IntegrityError",
    "PluginError",
    "SearchContext",
    "SearchResult",
    "SegframeError",
    "SegmentResult",
    "StorageError",
    "__version__",
    "hookimpl",
    "hookspec",
    "load_pipeline",
    "rename_segments",
    "search",
    "segment",
]
