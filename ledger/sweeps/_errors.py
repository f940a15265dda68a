"""The errors of sweeps (see ledger/_errors.py for the rest of the hierarchy)::

LedgerError
 +-- SweepConfigError (ValueError)   a sweep config key or value that is not supported
 +-- SweepNotFoundError (LookupError) no sweep with that id under the root
"""

from __future__ import annotations

from ledger._errors import LedgerError


class SweepConfigError(LedgerError, ValueError):
    """A sweep config has a key ledger does not support or a malformed value; the message
    names the key and says what is allowed."""


class SweepNotFoundError(LedgerError, LookupError):
    """No sweep with the given id (or id prefix) exists under the root."""
