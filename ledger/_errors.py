"""Exceptions raised by ledger.

Hierarchy::

    LedgerError                          base of everything ledger raises on purpose
     +-- FormatVersionError (ValueError) a file written in a format this version cannot read
     +-- CorruptFileError (ValueError)   a file that is not what the format says it is
     +-- InvalidNameError (ValueError)   a project, run id or file name that cannot become a path
     +-- LedgerNotFoundError (LookupError) no ledger (no ledger.yaml) at the root given
     +-- RunNotFoundError (LookupError)  no run with that id under the root
     +-- ArtifactNotFoundError (LookupError) no artifact, version or alias by that reference
     +-- RunStateError (RuntimeError)    an operation the run's state does not allow
     +-- StorageError (OSError)          storage failed and retrying did not help
     |    +-- RefusedFileError               a file readers refuse: a symlink, not a regular file, too large
     +-- SettingError (ValueError)       a LEDGER_* environment variable holds an unusable value
     +-- SqlError (ValueError)           a query Ledger.sql could not run (syntax, unknown column, refused)

Programmer errors in ``run.log`` (a string value, a decreasing step) raise the builtin
``TypeError`` / ``ValueError`` at once, as Python code expects.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of the errors ledger raises on purpose."""


class FormatVersionError(LedgerError, ValueError):
    """A ledger file declares a format version this version of ledger cannot read."""

    def __init__(self, where: str, found: object, supported: int) -> None:
        self.where = where
        self.found = found
        self.supported = supported
        super().__init__(
            f"{where}: format {found!r} is not supported by this version of ledger, "
            f"which reads format {supported}; upgrade experiment-ledger "
            f"(pip install -U experiment-ledger) to read it"
        )


class CorruptFileError(LedgerError, ValueError):
    """A ledger file cannot be parsed as the format says (not a torn last line)."""


class InvalidNameError(LedgerError, ValueError):
    """A name that becomes part of a path (project, run id, saved file) is not allowed."""


class LedgerNotFoundError(LedgerError, LookupError):
    """No ledger at the root given: it has no ``ledger.yaml``."""


class RunNotFoundError(LedgerError, LookupError):
    """No run with the given id (or id prefix) exists under the root."""


class ArtifactNotFoundError(LedgerError, LookupError):
    """No artifact of that name, no such version of it, or no such alias, under the root."""


class RunStateError(LedgerError, RuntimeError):
    """The run is in a state that does not allow the operation (e.g. log after finish)."""


class StorageError(LedgerError, OSError):
    """Storage kept failing after retries; the message says what was not written and where it is."""


class RefusedFileError(StorageError):
    """A path of a ledger (or of an import source) that readers refuse: a symlink (never
    followed, so nothing outside the root is read or written through it), something that is
    not a regular file (a FIFO, a device), or a file over a size limit. Retrying cannot help."""


class SettingError(LedgerError, ValueError):
    """A ``LEDGER_*`` environment variable holds a value ledger cannot use."""


class LedgerWarning(UserWarning):
    """Something was stored differently from how it was given (e.g. a config value kept as its repr)."""


class SqlError(LedgerError, ValueError):
    """A query :meth:`Ledger.sql` (``ledger sql``) could not run: DuckDB's message, e.g. a
    syntax error, an unknown view or column, or an action a read-only query may not take."""
