"""The package version, in a module of its own so the library can read it without importing
``flywheel/__init__`` (which pulls in the SDK)."""

__version__ = "0.1.0"
