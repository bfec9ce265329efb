"""The error every configuration reader raises, apart so that readers do not import each other."""


class ConfigError(Exception):
    """A configuration problem a person must fix; the message is safe to print."""
