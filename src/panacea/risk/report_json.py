"""The versioned JSON form of an assessment (documented in docs/risk-model.md)."""

from __future__ import annotations

from typing import Any

from panacea.risk.assessment import MODEL_VERSION, Assessment
from panacea.risk.collector import paused_collector
from panacea.risk.explain import ExplainedScenario, Explainer
from panacea.risk.snapshot import RiskSnapshot

SCHEMA = "panacea.assessment/1"


def _scenario(s: ExplainedScenario) -> dict[str, Any]:
    return {
        "probability": round(s.probability, 4),
        "steps": [
            {
                "action": step.action,
                "asset": step.asset,
                "asset_id": step.asset_id,
                "cve": step.cve,
                "other_cves": list(step.other_cves),
                "account": step.account,
                "probability": round(step.probability, 4),
                "evidence": step.evidence,
                "text": step.text,
            }
            for step in s.steps
        ],
    }


def assessment_document(assessment: Assessment) -> dict[str, Any]:
    """The assessment as the ``panacea.assessment/1`` JSON document.

    With the cyclic collector paused (see ``collector``): a row per asset, and no cycles.
    """
    with paused_collector():
        return _document(assessment)


def _document(assessment: Assessment) -> dict[str, Any]:
    explainer = Explainer(assessment.graph, assessment.inputs)
    services = []
    for s in assessment.services:
        i = s.impact
        services.append(
            {
                "id": i.service.id,
                "key": i.service.key,
                "name": i.service.name,
                "probability": round(i.probability, 4),
                "interval": [round(i.low, 4), round(i.high, 4)],
                "patient_safety": i.service.patient_safety,
                "risk_class": i.risk_class.label,
                "risk": {
                    "severity": i.service.patient_safety,
                    "band": i.band,
                    "class": i.risk_class.label,
                },
                "expected_loss": round(i.expected_loss, 2),
                "loss_if_disrupted": round(i.loss_if_disrupted, 2),
                "top_paths": [_scenario(explainer.scenario(sc)) for sc in s.scenarios],
            }
        )
    records = assessment.inputs.assets
    figures = assessment.asset_probabilities([a.id for a in records])
    assets = [
        {"id": a.id, "name": a.name, "probability": round(p, 4)}
        for a, p in zip(records, figures, strict=True)
    ]
    return {
        "schema": SCHEMA,
        "model_version": MODEL_VERSION,
        "generated_at": assessment.generated_at.isoformat(),
        "entries": list(assessment.options.entries),
        "trials": assessment.simulation.trials,
        "total_expected_loss": round(assessment.total_expected_loss, 2),
        "services": services,
        "assets": sorted(assets, key=lambda a: (-a["probability"], a["name"])),
    }


def snapshot_of(
    assessment: Assessment, *, document: dict[str, Any], trigger: str = "assessment"
) -> RiskSnapshot:
    """The stored summary of an assessment, with its document (:func:`assessment_document`)."""
    return RiskSnapshot(
        organisation_id=assessment.organisation_id,
        generated_at=assessment.generated_at,
        model_version=MODEL_VERSION,
        entries=list(assessment.options.entries),
        trigger=trigger,
        total_expected_loss=assessment.total_expected_loss,
        services={
            s.impact.service.key: {
                "probability": s.impact.probability,
                "risk_class": s.impact.risk_class.label,
                "expected_loss": s.impact.expected_loss,
            }
            for s in assessment.services
        },
        document=document,
    )
