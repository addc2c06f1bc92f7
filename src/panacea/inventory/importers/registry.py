"""The importers by kind. The one place that knows every importer module."""

from __future__ import annotations

from panacea.inventory.importers.csv_assets import CsvAssetImporter
from panacea.inventory.importers.cyclonedx import CycloneDxImporter
from panacea.inventory.importers.interface import Importer
from panacea.inventory.importers.inventory_yaml import InventoryYamlImporter
from panacea.inventory.importers.nmap import NmapImporter

IMPORTERS: dict[str, Importer] = {
    "inventory": InventoryYamlImporter(),
    "nmap": NmapImporter(),
    "sbom": CycloneDxImporter(),
    "csv": CsvAssetImporter(),
}
