"""syncwatch's core: configuration, comparison, the probe engine, the store, the CLI."""

__all__ = ["__version__"]

__version__ = "0.1.0"
