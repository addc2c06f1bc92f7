"""Sharing threat intelligence between hospitals: incidents, STIX 2.1, signing and TAXII 2.1."""
