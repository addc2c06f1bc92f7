"""PANACEA: see, reduce and share the cyber risk of hospitals."""

__version__ = "0.1.0"
