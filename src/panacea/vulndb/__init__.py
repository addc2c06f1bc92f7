"""Vulnerability knowledge: NVD, CISA KEV, FIRST EPSS, and matching against the inventory."""
