"""The TAXII 2.1 server: collections of signed STIX objects, served under ``/taxii2/``."""
