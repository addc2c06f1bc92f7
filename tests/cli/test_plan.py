"""``panacea plan``: the budgeted plan and the cut, as tables and as panacea.plan/1 JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import typer
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from panacea.cli import plan
from panacea.cli.state import CliState
from panacea.db.engine import create_db_engine
from panacea.demo.install import install_demo
from panacea.risk.errors import RiskModelError

ORG = "Demo General Hospital"
FAST = ["--org", ORG, "--entry", "internet", "--trials", "256"]


@pytest.fixture(scope="module")
def app(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> typer.Typer:
    """The plan command on a small demo hospital, under a root callback like cli.main's."""
    path = tmp_path_factory.mktemp("plan") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = create_db_engine(f"sqlite:///{path}")
    install_demo(sessionmaker(engine), organisation=ORG, assets=80, seed=5)
    engine.dispose()
    application = typer.Typer()

    @application.callback()
    def root(ctx: typer.Context) -> None:
        ctx.obj = CliState(database_url=f"sqlite:///{path}")

    application.command(name="plan")(plan.plan)
    return application


def _invoke(app: typer.Typer, *args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, ["plan", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output, result.exception


def test_budget_plan_as_json(app: typer.Typer) -> None:
    code, out, _ = _invoke(app, *FAST, "--budget", "800", "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["schema"] == "panacea.plan/1"
    assert document["mode"] == "budget"
    assert document["mitigations"]
    assert document["total_cost"] <= 800
    assert document["risk_after"] < document["risk_before"]
    risks = [p["risk"] for p in document["curve"]]
    assert risks == sorted(risks, reverse=True)
    assert document["rosi"] == pytest.approx(
        (document["risk_before"] - document["risk_after"] - document["total_cost"])
        / document["total_cost"],
        rel=1e-3,
    )


def test_cut_plan_as_json_and_table(app: typer.Typer) -> None:
    code, out, _ = _invoke(app, *FAST, "--cut", "ehr", "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["mode"] == "cut"
    assert document["service"] == "ehr"
    assert document["total_cost"] == pytest.approx(sum(m["cost"] for m in document["mitigations"]))
    code, out, _ = _invoke(app, *FAST, "--cut", "ehr")
    assert code == 0
    assert "cheapest cut of service ehr" in out
    assert all(m["target"] in out for m in document["mitigations"])


def test_budget_plan_as_a_table(app: typer.Typer) -> None:
    code, out, _ = _invoke(app, *FAST, "--budget", "600")
    assert code == 0
    assert "plan within a budget of 600" in out
    assert "ROSI" in out
    assert "candidates" in out


@pytest.mark.parametrize("args", [[], ["--budget", "10", "--cut", "ehr"]])
def test_budget_or_cut_is_required(app: typer.Typer, args: list[str]) -> None:
    code, out, _ = _invoke(app, *FAST, *args)
    assert code == 2
    assert "--budget or --cut" in out


def test_unknown_service(app: typer.Typer) -> None:
    code, _, error = _invoke(app, *FAST, "--cut", "nope")
    assert code == 1
    assert isinstance(error, RiskModelError)
    assert "known:" in str(error)
