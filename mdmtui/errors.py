"""One exception family: each error carries a message an admin can act on."""

from __future__ import annotations


class MdmtuiError(Exception):
    """Base of every error mdmtui reports to the admin."""

    exit_code = 1

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # extra context for the log file, never secrets

    def __str__(self) -> str:
        return self.message


class UsageError(MdmtuiError):
    """The command line or a form was used wrongly."""

    exit_code = 2


class ConfigurationError(MdmtuiError):
    """Settings, a linkage or a definition file are invalid."""


class NotFoundError(MdmtuiError):
    """A linkage, device or record named by the admin does not exist."""


class AmbiguousError(MdmtuiError):
    """A name matches more than one object; the candidates are listed."""

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


class ConnectionFailed(MdmtuiError):
    """The MDM could not be reached, timed out or broke the connection."""


class AuthenticationFailed(MdmtuiError):
    """The MDM rejected the credentials or the permissions are missing."""


class Throttled(MdmtuiError):
    """The MDM kept answering 429/503 after every retry."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProtocolError(MdmtuiError):
    """The MDM answered something that is not its documented wire format."""


class MdmRequestError(MdmtuiError):
    """The MDM refused a request with an error status (code and message kept)."""

    def __init__(self, message: str, *, status: int, code: str | None = None,
                 request_id: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id


class ActionRefused(MdmtuiError):
    """An action was refused before anything was sent (capability, read-only, confirmation)."""


class Busy(MdmtuiError):
    """Another collection of the same linkage is running."""


class Cancelled(MdmtuiError):
    """The admin cancelled the operation."""
