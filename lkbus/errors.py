"""The root error of the `lkbus` package.

Every error a user can meet says what is wrong and what to do about it, in one line.
"""


class LkbusError(Exception):
    """Base of every error raised by `lkbus`; `str()` is the one-line message shown to users."""


class SettingsError(LkbusError):
    """A setting (environment variable or option) has an invalid value."""


class KafkaUnavailableError(LkbusError):
    """The configured Kafka cluster cannot be reached."""


class TopicError(LkbusError):
    """A topic could not be created or described."""


class BrokerError(LkbusError):
    """The local broker could not be prepared, started or stopped."""


class JavaMissingError(BrokerError):
    """No Java 17+ runtime was found."""


class MavenMissingError(BrokerError):
    """Maven, which resolves the broker's jars, was not found."""


class JarsUnavailableError(BrokerError):
    """Maven could not resolve the broker's jars."""


class PortInUseError(BrokerError):
    """The broker's port is taken by another process."""


class BrokerExitedError(BrokerError):
    """The broker process exited while starting."""
