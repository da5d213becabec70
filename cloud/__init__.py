"""The fleet service: API and pages, MQTT ingest, stock ledger, resident sessions."""


class CloudError(Exception):
    """Root of the cloud's domain errors; cloud/api turns them into HTTP answers.

    `code` is stable and machine-readable (pages translate by it); the message is the English text,
    and `params` are the values a translation may fill in (`{available}`, `{door}` …).
    """

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, **params: object) -> None:
        super().__init__(message)
        self.code = code or self.code
        self.params = params


class NotFound(CloudError):
    code = "not_found"


class Refused(CloudError):
    """A request the rules refuse (offline cabinet, low balance, busy door …)."""

    code = "refused"


class Forbidden(CloudError):
    code = "forbidden"
