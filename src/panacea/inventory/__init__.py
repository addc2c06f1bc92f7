"""Inventory: organisations, zones, reachability, assets, accounts, staff and clinical services."""
