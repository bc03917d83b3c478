"""One exception root for the gateway; each boundary translates it (HTTP status, CLI exit code)."""


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""

    http_status = 500
    exit_code = 2  # the CLI's exit status: as asked, it cannot be done (README: "Exit codes")


class ConfigError(GatewayError):
    """Configuration or policy files are invalid; the message says where and why."""

    exit_code = 3


class DatabaseNotMigrated(GatewayError):
    """The database has no schema, or an older or newer one than this version's."""

    exit_code = 4


class PortInUse(GatewayError):
    """Another process listens on the port we were told to serve on."""

    exit_code = 5


class Unreachable(GatewayError):
    """A service we depend on (the database) did not answer."""

    exit_code = 6


class NotFound(GatewayError):
    """A requested record does not exist."""

    http_status = 404


class Conflict(GatewayError):
    """The request contradicts the record's current state (already resolved, taken by another)."""

    http_status = 409


class InvalidInput(GatewayError):
    """A request or file is malformed; the message tells the person how to fix it."""

    http_status = 400


class Unauthorized(GatewayError):
    """Missing or wrong credentials."""

    http_status = 401


class Forbidden(GatewayError):
    """Authenticated, but not allowed to do this."""

    http_status = 403
