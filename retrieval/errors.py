"""Errors with one-line, user-facing messages."""


class CitebotError(Exception):
    """Base class: ``str(err)`` is a complete one-line message for a user."""


class QuestionError(CitebotError, ValueError):
    """The question is empty, too long or otherwise unusable."""


class IndexMissing(CitebotError):
    """No index exists yet at the configured location."""


class IndexCorrupt(CitebotError):
    """The index exists but fails validation (manifest, checksums, files)."""


class IndexBuildError(CitebotError):
    """Writing a new index version failed (disk full, I/O error, …); the previous version is untouched."""


class ReindexInProgress(CitebotError):
    """A reindex is already running for this engine."""


class ConfigError(CitebotError):
    """The configuration file or an environment variable is invalid."""


class CorpusError(CitebotError):
    """The corpus path does not exist or cannot be read at all."""


class DocumentNotFound(CitebotError, KeyError):
    """A document id (or paragraph) is not in the index."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "document not found"
