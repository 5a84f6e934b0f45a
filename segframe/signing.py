"""HMAC-SHA256 signatures of stored pipelines, keyed by ``SEGFRAME_SIGNING_KEY``.

The SHA-256 stored beside an artifact catches corruption, but anyone who can write to
the database can replace both. A signature made with a key the writer does not hold
catches that. The signed message covers the artifact's hash, the study, the trial and the
spec, so an artifact cannot be swapped for another either. ``details`` are descriptive and
may be edited later (segment names), so they are not signed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import Any

from segframe.errors import IntegrityError

KEY_ENV = "SEGFRAME_SIGNING_KEY"


def signing_key() -> bytes | None:
    """The key from the environment, or None when signing is off."""
    key = os.environ.get(KEY_ENV, "")
    return key.encode() if key else None


def _message(record: Any) -> bytes:
    signed = [record.study_name, record.trial_number, record.spec, record.sha256]
    return json.dumps(signed, sort_keys=True, default=str).encode()


def signature(record: Any) -> str | None:
    """The record's signature under the current key; None when no key is set."""
    key = signing_key()
    return hmac.new(key, _message(record), hashlib.sha256).hexdigest() if key else None


def check_signature(record: Any) -> None:
    """Refuse a record whose signature is wrong, missing while a key is set, or unverifiable."""
    key = signing_key()
    what = f"The stored pipeline of study {record.study_name!r}"
    if key is None and record.signature:
        raise IntegrityError(
            f"{what} is signed, but {KEY_ENV} is not set, so its signature cannot be checked "
            f"and it was not loaded. Set {KEY_ENV} to the key it was stored with."
        )
    if key is not None and not record.signature:
        raise IntegrityError(
            f"{what} is not signed, but {KEY_ENV} is set, so only signed pipelines are "
            f"loaded. Re-run the search with {KEY_ENV} set to store a signed winner, or unset "
            "it to load unsigned pipelines you trust."
        )
    if key is not None and not hmac.compare_digest(record.signature, signature(record) or ""):
        raise IntegrityError(
            f"{what} failed verification: its HMAC-SHA256 signature does not match under the "
            f"current {KEY_ENV}. It was changed by someone without the key, or signed with "
            "another key, so it was not loaded."
        )
