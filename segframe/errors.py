"""User-facing errors.

Everything a user can get wrong (a file, a column, a study name, a plugin) raises
:class:`SegframeError` with one paragraph that names the culprit and says what to do.
The CLI prints that paragraph without a traceback; the Python API raises it as is.
"""

from __future__ import annotations


class SegframeError(Exception):
    """A problem the user can fix; the message says what is wrong and what to do."""


class DataError(SegframeError):
    """The input data (files, columns, target) cannot be used as given."""


class PluginError(SegframeError):
    """A plugin or component is missing, broken or conflicts with another."""


class StorageError(SegframeError):
    """The study database cannot be reached or holds nothing usable for the request."""


class IntegrityError(StorageError):
    """A stored pipeline failed verification and was not deserialised."""


#: Items a message lists before it says "and N more", and characters kept of each item.
LIST_LIMIT = 5
ITEM_WIDTH = 40


def shorten(value: object, width: int = ITEM_WIDTH) -> str:
    """``value`` as text of at most ``width`` characters (cut with an ellipsis)."""
    text = str(value)
    return text if len(text) <= width else f"{text[: width - 1]}…"


def listing(
    items: object, limit: int = LIST_LIMIT, *, quote: bool = False, width: int = ITEM_WIDTH
) -> str:
    """The first ``limit`` items, each shortened, then "and N more": a message stays short
    whatever the data holds (thousands of classes, columns with kilobyte names)."""
    items = list(items)  # type: ignore[call-overload]
    shown = [repr(shorten(i, width)) if quote else shorten(i, width) for i in items[:limit]]
    rest = len(items) - len(shown)
    return ", ".join(shown) + (f" and {rest} more" if rest > 0 else "")
