"""Findings: a vulnerability on an asset (endpoint, component or the asset itself)."""
