#!/usr/bin/env python3
"""A minimal agent loop on the promptreg Python SDK: resolve the prompt (from the local,
push-invalidated cache), render it locally, call a (fake) model inside an OpenTelemetry span
carrying the prompt attributes, and report the outcome. A few iterations, then exit 0.

    PROMPTREG_URL=http://127.0.0.1:8700 PROMPTREG_TOKEN=... \
        python examples/python-agent/agent.py --prompt support/triage --iterations 5

Optional: PROMPTREG_SNAPSHOT=FILE (start from a signed snapshot when no server answers),
PROMPTREG_ENV (default production).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

from promptreg import Client, prompt_span


def fake_model(prompt: str) -> tuple[str, bool]:
    """Stands in for an LLM call: answers, and succeeds most of the time."""
    time.sleep(0.01)
    return f"(model answer to {len(prompt)} characters)", random.random() > 0.1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", default="support/triage")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--agent-id", default="agent-1", help="the rollout stickiness subject")
    args = parser.parse_args()

    with Client(
        os.environ.get("PROMPTREG_URL"),
        os.environ.get("PROMPTREG_TOKEN"),
        env=os.environ.get("PROMPTREG_ENV", "production"),
        snapshot_path=os.environ.get("PROMPTREG_SNAPSHOT"),
    ) as client:
        for i in range(args.iterations):
            resolution = client.resolve(args.prompt, subject=args.agent_id)
            arm = resolution.assignment.arm if resolution.assignment else "-"
            rendered = resolution.render({"customer": f"customer-{i}", "question": "where is my order?"})
            text = rendered if isinstance(rendered, str) else "\n".join(m["content"] for m in rendered)
            start = time.monotonic()
            with prompt_span(resolution, "agent.step"):
                answer, ok = fake_model(text)
            latency_ms = (time.monotonic() - start) * 1000
            client.report(resolution, success=ok, latency_ms=latency_ms)
            print(f"step {i}: {resolution.name}@{resolution.version} arm={arm} "
                  f"stale={resolution.stale} success={ok}: {answer}")
        client.flush()
        st = client.status().outcomes
        print(f"outcomes: sent={st.sent} rejected={st.rejected} dropped={st.dropped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
