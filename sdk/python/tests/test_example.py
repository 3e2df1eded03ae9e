"""examples/python-agent/agent.py runs against a real server and reports its outcomes."""

from __future__ import annotations

import os
import subprocess
import sys

from .conftest import ROOT, Server, wait_for


def test_example_agent_runs(server: Server) -> None:
    server.publish("support/triage", "Help {{ customer }}: {{ question }}")
    server.deploy("support/triage", 1)
    env = {**os.environ, "PROMPTREG_URL": server.url, "PROMPTREG_TOKEN": server.token}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "python-agent" / "agent.py"), "--iterations", "4"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("support/triage@1") == 4, out.stdout
    assert "outcomes: sent=4 rejected=0 dropped=0" in out.stdout, out.stdout

    def samples() -> bool:
        figures = server.call("GET", "/v1/prompts/support%2Ftriage/versions/1/outcomes")
        return int(figures["samples"]) == 4

    wait_for(samples, timeout=10, interval=0.1)
