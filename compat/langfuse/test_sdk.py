"""The unmodified Langfuse Python SDK against a running promptreg server.

Run by run.sh, which starts the server (a new project has the `production` and `staging` environments)
and a key pair, and sets LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY / LANGFUSE_BASE_URL.
Exits non-zero on the first failed assertion.
"""

import sys
import time

from langfuse import Langfuse

checks = []


def check(name, condition, detail=""):
    assert condition, f"{name}: {detail}"
    checks.append(name)


def main():
    started = time.monotonic()
    lf = Langfuse()

    check("auth_check", lf.auth_check() is True)

    # Text prompt, live in production at once.
    text = lf.create_prompt(
        name="movie-critic",
        prompt="As a {{criticlevel}} critic, do you like {{movie}}?",
        labels=["production"],
        tags=["films"],
        config={"model": "gpt-4o", "temperature": 0.7},
        commit_message="first",
    )
    check("create text", text.version == 1 and "production" in text.labels, text.labels)

    # A second version, not labelled: production still serves version 1.
    v2 = lf.create_prompt(
        name="movie-critic",
        prompt="As a {{criticlevel}} critic, would you recommend {{movie}}?",
    )
    check("create v2", v2.version == 2 and v2.labels == ["latest"], v2.labels)
    check("tags inherited", lf.get_prompt("movie-critic", label="latest").tags == ["films"])

    prod = lf.get_prompt("movie-critic")
    check("get production", prod.version == 1 and not prod.is_fallback, prod.version)
    check("config", prod.config == {"model": "gpt-4o", "temperature": 0.7}, prod.config)
    compiled = prod.compile(criticlevel="expert", movie="Dune 2")
    check(
        "compile text",
        compiled == "As a expert critic, do you like Dune 2?",
        compiled,
    )
    check("variables", sorted(prod.variables) == ["criticlevel", "movie"], prod.variables)

    # Labels are environments: setting one is a deploy.
    lf.update_prompt(name="movie-critic", version=2, new_labels=["staging"])
    staging = lf.get_prompt("movie-critic", label="staging")
    check("get staging", staging.version == 2, staging.version)
    check("get version", lf.get_prompt("movie-critic", version=1).version == 1)
    lf.update_prompt(name="movie-critic", version=2, new_labels=["production"])
    moved = lf.get_prompt("movie-critic", cache_ttl_seconds=0)
    check("production moved", moved.version == 2, moved.version)

    # Chat prompt with a history placeholder, in a folder.
    chat = lf.create_prompt(
        name="support/reviewer",
        type="chat",
        prompt=[
            {"role": "system", "content": "You review {{topic}}."},
            {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "{{question}}"},
        ],
        labels=["production"],
    )
    check("create chat", chat.version == 1)
    got = lf.get_prompt("support/reviewer", type="chat")
    messages = got.compile(
        topic="pull requests",
        question="Is this safe?",
        history=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
    )
    expected = [
        {"role": "system", "content": "You review pull requests."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "Is this safe?"},
    ]
    check("compile chat", messages == expected, messages)

    # Labels are free-form as in Langfuse: a new one becomes an environment (for a deployer).
    canary = lf.create_prompt(name="movie-critic", prompt="x", labels=["canary"])
    fetched = lf.get_prompt("movie-critic", label="canary")
    check("new label", "canary" in canary.labels and fetched.version == canary.version, canary.labels)

    # A label that cannot be an environment name is refused, naming it.
    try:
        lf.create_prompt(name="movie-critic", prompt="y", labels=["Not A Label!"])
        refused = False
    except Exception as e:  # the SDK raises its BadRequestError
        refused = "Not A Label!" in str(e)
    check("invalid label refused", refused)

    # A missing prompt falls back to the literal.
    fallback = lf.get_prompt("does-not-exist", fallback="Hello {{name}}")
    check("fallback", fallback.is_fallback and fallback.compile(name="Ada") == "Hello Ada")

    print(f"langfuse SDK compat: {len(checks)} checks passed in {time.monotonic() - started:.1f}s")
    print("  " + ", ".join(checks))


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED after {len(checks)} checks: {e}", file=sys.stderr)
        sys.exit(1)
