"""The NVD API 2.0 CVE schema, as far as PANACEA reads it: the trust boundary, strictly typed.

Field names follow the NVD's JSON through aliases, so validation errors name JSON paths. Fields
PANACEA does not read (references, CVSS v2, vendor comments...) are ignored, not checked.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, Field, StringConstraints

from panacea.vulndb.documents import FEED_MODEL_CONFIG, UtcTimestamp

CVE_ID_PATTERN: Final = r"^CVE-\d{4}-\d{4,19}$"
METRIC_KEYS: Final = {"3.0": "cvssMetricV30", "3.1": "cvssMetricV31", "4.0": "cvssMetricV40"}
CveId = Annotated[str, StringConstraints(pattern=CVE_ID_PATTERN)]


class Text(BaseModel):
    model_config = FEED_MODEL_CONFIG
    lang: str
    value: str


class CvssData(BaseModel):
    model_config = FEED_MODEL_CONFIG
    version: str
    vector: str = Field(alias="vectorString")
    base_score: float = Field(alias="baseScore", ge=0, le=10)


class Metric(BaseModel):
    model_config = FEED_MODEL_CONFIG
    source: str = ""
    type: str | None = None
    cvss_data: CvssData = Field(alias="cvssData")


class Metrics(BaseModel):
    model_config = FEED_MODEL_CONFIG
    v30: list[Metric] = Field(default_factory=list, alias="cvssMetricV30")
    v31: list[Metric] = Field(default_factory=list, alias="cvssMetricV31")
    v40: list[Metric] = Field(default_factory=list, alias="cvssMetricV40")


class Weakness(BaseModel):
    model_config = FEED_MODEL_CONFIG
    description: list[Text] = Field(default_factory=list)


class CpeMatch(BaseModel):
    model_config = FEED_MODEL_CONFIG
    vulnerable: bool
    criteria: str


class Node(BaseModel):
    model_config = FEED_MODEL_CONFIG
    operator: Literal["AND", "OR"] = "OR"
    negate: bool = False
    cpe_match: list[CpeMatch] = Field(default_factory=list, alias="cpeMatch")


class Configuration(BaseModel):
    model_config = FEED_MODEL_CONFIG
    nodes: list[Node]
    operator: Literal["AND", "OR"] | None = None
    negate: bool = False


class NvdCve(BaseModel):
    model_config = FEED_MODEL_CONFIG
    id: CveId
    published: UtcTimestamp
    last_modified: UtcTimestamp = Field(alias="lastModified")
    vuln_status: str | None = Field(default=None, alias="vulnStatus", max_length=50)
    descriptions: list[Text] = Field(default_factory=list)
    metrics: Metrics = Field(default_factory=Metrics)
    weaknesses: list[Weakness] = Field(default_factory=list)
    configurations: list[Configuration] = Field(default_factory=list)


class Item(BaseModel):
    model_config = FEED_MODEL_CONFIG
    cve: NvdCve


class NvdPage(BaseModel):
    model_config = FEED_MODEL_CONFIG
    results_per_page: int = Field(alias="resultsPerPage", ge=0)
    start_index: int = Field(alias="startIndex", ge=0)
    total_results: int = Field(alias="totalResults", ge=0)
    format: Literal["NVD_CVE"]
    version: Literal["2.0"]
    timestamp: UtcTimestamp | None = None
    # Items are validated one by one (``Item``): validating a 2000-record page at once keeps
    # every intermediate object alive, and the garbage collector's passes over them made
    # page validation five times slower per record than validating records singly.
    vulnerabilities: list[Any]
