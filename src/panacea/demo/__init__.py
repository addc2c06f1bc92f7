"""The synthetic demo hospital: a realistic inventory with real CVEs, for demos and benchmarks."""
