"""Dynamic risk management: attack graph, likelihood, clinical impact, scenarios and plans."""
