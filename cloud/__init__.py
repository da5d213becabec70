"""The fleet service: API and pages, MQTT ingest, stock ledger, resident sessions."""


class CloudError(Exception):
    """Root of the cloud's domain errors; cloud/api turns them into HTTP answers."""


class NotFound(CloudError):
    pass


class Refused(CloudError):
    """A request the rules refuse (offline cabinet, low balance, busy door …)."""


class Forbidden(CloudError):
    pass
