"""The unmodified OpenFeature Python SDK and its OFREP provider against a running promptreg.

Run by run.sh, which starts the server and sets PROMPTREG_URL and PROMPTREG_TOKEN (an admin
token). This script sets the registry up through the native API (prompts, deploys, a canary
and a reader token for the agents), then evaluates through OpenFeature only, comparing with
what GET /v1/resolve answers. Exits non-zero on the first failed check.
"""

import os
import sys
import time

import requests
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

URL = os.environ["PROMPTREG_URL"]
ADMIN = {"Authorization": f"Bearer {os.environ['PROMPTREG_TOKEN']}"}
checks = []


def check(name, condition, detail=""):
    assert condition, f"{name}: {detail}"
    checks.append(name)


def native(method, path, body=None, expect=(200, 201)):
    r = requests.request(method, URL + path, json=body, headers=ADMIN, timeout=10)
    assert r.status_code in expect, f"{method} {path}: {r.status_code} {r.text}"
    return r.json()


def push(name, template):
    return native("POST", f"/v1/prompts/{name.replace('/', '%2F')}/versions",
                  {"type": "text", "template": template})


def deploy(env, name, version):
    native("PUT", f"/v1/environments/{env}/prompts/{name.replace('/', '%2F')}",
           {"version": version})


def resolve(name, **query):
    """What GET /v1/resolve answers (the value an OFREP evaluation must carry)."""
    r = requests.get(f"{URL}/v1/resolve/{name.replace('/', '%2F')}", params=query,
                     headers=ADMIN, timeout=10)
    assert r.status_code == 200, f"resolve {name}: {r.status_code} {r.text}"
    return r.json()


def setup():
    push("support/triage", "Triage {{ ticket }}")
    push("support/triage", "Triage {{ ticket }} by urgency")
    deploy("production", "support/triage", 1)
    deploy("staging", "support/triage", 2)
    push("greet", "Hello {{ who }}")
    push("greet", "Hi {{ who }}")
    deploy("production", "greet", 1)
    push("drafts/idea", "Not live anywhere")
    rollout = native("POST", "/v1/environments/production/prompts/greet/rollouts", {
        "candidate": 2, "reason": "openfeature compat",
        "strategy": {"canary": {"steps": [{"set_weight": 5000}, {"pause": {}}]}}})
    for _ in range(200):
        if native("GET", f"/v1/rollouts/{rollout['id']}")["weight"] == 5000:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the canary never reached 50 %")
    reader = native("POST", "/v1/tokens", {"name": "agents", "role": "reader"})["token"]
    return rollout["id"], reader


def main():
    started = time.monotonic()
    rollout, reader = setup()
    api.set_provider(OFREPProvider(
        URL, headers_factory=lambda: {"Authorization": f"Bearer {reader}"}))
    client = api.get_client()
    prod = EvaluationContext(targeting_key="agent-1", attributes={"env": "production"})

    # A deployed prompt: the resolved prompt object, STATIC, variant v<version>.
    d = client.get_object_details("support/triage", {}, prod)
    check("static reason", d.reason == Reason.STATIC, d)
    check("static value", d.value == resolve("support/triage", env="production"), d.value)
    check("static variant", d.variant == "v1", d.variant)
    check("static metadata", d.flag_metadata.get("version") == 1
          and d.flag_metadata.get("digest") == d.value["digest"], d.flag_metadata)
    check("no error", d.error_code is None, d.error_code)
    staging = client.get_object_details(
        "support/triage", {}, EvaluationContext("agent-1", {"env": "staging"}))
    check("env from context", staging.variant == "v2" and staging.value["env"] == "staging",
          staging)

    # A rollout: SPLIT, and the version and arm GET /v1/resolve?subject= gives, for each subject.
    versions = set()
    for i in range(60):
        subject = f"agent-{i}"
        d = client.get_object_details("greet", {}, EvaluationContext(subject, {"env": "production"}))
        r = resolve("greet", env="production", subject=subject)
        check("split reason", d.reason == Reason.SPLIT, d)
        check("split version", d.value["version"] == r["version"], (subject, d.value, r))
        check("split arm", d.flag_metadata.get("arm") == r["assignment"]["arm"]
              and d.flag_metadata.get("rollout") == rollout, d.flag_metadata)
        check("split variant", d.variant == f"v{r['version']}", d.variant)
        versions.add(d.value["version"])
    check("both arms served", versions == {1, 2}, versions)

    # An unknown flag: the caller's default, FLAG_NOT_FOUND.
    default = {"fallback": True}
    d = client.get_object_details("no/such-prompt", default, prod)
    check("not found default", d.value == default, d.value)
    check("not found code", d.error_code == ErrorCode.FLAG_NOT_FOUND, d.error_code)

    # No targeting key during a rollout: TARGETING_KEY_MISSING (the SDK returns the caller's
    # default on any error); the server's body carries the stable value for HTTP clients.
    d = client.get_object_details("greet", default, EvaluationContext(attributes={"env": "production"}))
    check("missing key code", d.error_code == ErrorCode.TARGETING_KEY_MISSING, d)
    check("missing key default", d.value == default and d.reason == Reason.ERROR, d)
    raw = requests.post(f"{URL}/ofrep/v1/evaluate/flags/greet", json={"context": {}},
                        headers={"Authorization": f"Bearer {reader}"}, timeout=10)
    check("missing key wire", raw.status_code == 400
          and raw.json()["errorCode"] == "TARGETING_KEY_MISSING"
          and raw.json()["value"] == resolve("greet", env="production"), raw.text)

    # Nothing deployed in the environment: DISABLED, the caller's default (OFREP code default).
    d = client.get_object_details("drafts/idea", default, prod)
    check("disabled", d.reason == Reason.DISABLED and d.value == default and d.error_code is None, d)

    # A wrong token: an error, the default.
    api.set_provider(OFREPProvider(URL, headers_factory=lambda: {"Authorization": "Bearer nope"}))
    d = api.get_client().get_object_details("support/triage", default, prod)
    check("bad token", d.value == default and d.error_code == ErrorCode.GENERAL, d)

    # Bulk (what static-context providers poll): ETag and 304.
    auth = {"Authorization": f"Bearer {reader}"}
    body = {"context": {"targetingKey": "agent-1", "env": "production"}}
    b = requests.post(f"{URL}/ofrep/v1/evaluate/flags", json=body, headers=auth, timeout=10)
    keys = [f["key"] for f in b.json()["flags"]]
    check("bulk", b.status_code == 200 and keys == ["greet", "support/triage"], b.text)
    again = requests.post(f"{URL}/ofrep/v1/evaluate/flags", json=body, timeout=10,
                          headers={**auth, "If-None-Match": b.headers["ETag"]})
    check("bulk 304", again.status_code == 304, again.status_code)

    print(f"openfeature compat: {len(checks)} checks passed in "
          f"{time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
