"""strangers: anonymous one-to-one chat with strangers, safe by default."""

__version__ = "0.1.0"
