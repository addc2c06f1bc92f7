"""Importers: one module per source format, each behind ``interface.Importer``."""
