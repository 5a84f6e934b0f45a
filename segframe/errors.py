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
