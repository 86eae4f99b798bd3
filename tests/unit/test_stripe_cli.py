"""Every ``stripe listen`` command the project prints or documents works with its line of the CLI.

The v2 line's rules are stripe-cli's ``pkg/cmd/listen.go`` on its ``v2`` branch (commit b0fc7fba,
2026-08-21): the flag set, the removed thin-event flags (``checkRemovedFlags``), "must specify
events to forward using --events, --all-snapshot, or --all-thin" and "cannot forward both
snapshot and thin events to the same destination" (``validateForwardingConfig``), and what counts
as a thin type (``splitEventsByType``: ``v1.``/``v2.`` prefixes). The released v1 line's are the
same file at tag ``v1.50.4``: its flag set (no ``--all-snapshot``, ``--all-thin``,
``--events-from``; ``--thin-events`` and ``--forward-thin-to`` for thin events) and ``--events``
defaulting to every snapshot type. A command is the v1 line's when its line says ``CLI v1.x``.
Plus this project's own: snapshot events go to ``/webhook``, thin ones to ``/webhook/thin``.
"""

from __future__ import annotations

import re
import shlex

import pytest

from infra import REPO_ROOT
from infra.local.banner import print_banner
from infra.local.stripe_cli import listen_snapshot, listen_thin, listen_v1

VALUE_FLAGS = {
    "--connect-headers",
    "--events",
    "-e",
    "--events-from",
    "--forward-to",
    "-f",
    "--headers",
    "-H",
    "--forward-connect-to",
    "-c",
    "--format",
}
BOOL_FLAGS = {
    "--all-snapshot",
    "--all-thin",
    "--latest",
    "-l",
    "--live",
    "--use-configured-webhooks",
    "-a",
    "--skip-verify",
    "--print-secret",
    "--skip-update",
    "-s",
}
REMOVED = {"--thin-events", "--forward-thin-to", "--forward-thin-connect-to"}
V1_ONLY = REMOVED
V2_ONLY = {"--all-snapshot", "--all-thin", "--events-from"}
DEPRECATED = {"--print-json", "-j"}
ALIASES = {"-e": "--events", "-f": "--forward-to", "-c": "--forward-connect-to"}


def problems(command: str, line: str = "v2") -> list[str]:
    """What ``line`` of the CLI (or this stack) would refuse in ``command``."""
    words = shlex.split(command)
    assert words[:2] == ["stripe", "listen"], command
    found: list[str] = []
    values: dict[str, str] = {}
    switches: set[str] = set()
    rest = iter(words[2:])
    for word in rest:
        name, _, inline = word.partition("=")
        name = ALIASES.get(name, name)
        if name in (V2_ONLY if line == "v1" else V1_ONLY):
            found.append(f"{name} is not in the {line} line" if line == "v1" else f"{name} was removed")
            if name in VALUE_FLAGS | REMOVED and not inline:
                next(rest, "")
        elif name in DEPRECATED:
            found.append(f"{name} is deprecated (--format json)")
        elif name in VALUE_FLAGS | REMOVED or name in ALIASES.values():
            values[name] = inline or next(rest, "")
        elif name in BOOL_FLAGS:
            switches.add(name)
        else:
            found.append(f"unknown flag {word}")
    return found + (_v1_targets(values) if line == "v1" else _v2_targets(values, switches))


def _v1_targets(values: dict[str, str]) -> list[str]:
    found = []
    snapshot_target, thin_target = values.get("--forward-to"), values.get("--forward-thin-to")
    if snapshot_target and not snapshot_target.rstrip("/").endswith("/webhook"):
        found.append("snapshot events go to /webhook")
    if thin_target and not thin_target.rstrip("/").endswith("/webhook/thin"):
        found.append("thin events go to /webhook/thin")
    if thin_target and not values.get("--thin-events"):
        found.append("--forward-thin-to needs --thin-events")
    return found


def _v2_targets(values: dict[str, str], switches: set[str]) -> list[str]:
    found = []
    events = [event for event in values.get("--events", "").split(",") if event]
    thin = [event for event in events if event.startswith(("v1.", "v2."))] + (
        ["*"] if "--all-thin" in switches else []
    )
    snapshot = [event for event in events if not event.startswith(("v1.", "v2."))] + (
        ["*"] if "--all-snapshot" in switches else []
    )
    target = values.get("--forward-to") or values.get("--forward-connect-to")
    if target:
        if not events and not switches & {"--all-snapshot", "--all-thin"}:
            found.append("forwarding needs --events, --all-snapshot or --all-thin")
        if thin and snapshot:
            found.append("snapshot and thin events cannot go to the same destination")
        if thin and not target.rstrip("/").endswith("/webhook/thin"):
            found.append("thin events go to /webhook/thin")
        if snapshot and not target.rstrip("/").endswith("/webhook"):
            found.append("snapshot events go to /webhook")
    return found


def documented_commands() -> list[tuple[str, str]]:
    """Every ``stripe listen …`` in the README, ``docs/`` and the code, with its line of the CLI."""
    sources = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
    sources += sorted((REPO_ROOT / "infra").rglob("*.py")) + sorted((REPO_ROOT / "functions").rglob("*.py"))
    commands = []
    for path in sources:
        text = path.read_text()
        for match in re.finditer(r"stripe listen(?: +--?[\w-]+(?:[ =](?!-)[^\s`#'\")]+)?)*", text):
            rest_of_line = text[match.end() : text.find("\n", match.end())]
            line = (
                "v1"
                if "v1.x" in rest_of_line or "listen_v1" in text[match.start() - 300 : match.start()]
                else "v2"
            )
            commands.append((_rendered(match.group(0).strip()), line))
    return commands


def _rendered(command: str) -> str:
    """An f-string's command as it prints: the paths and a port filled in."""
    command = re.sub(r"\{[^}]*THIN_WEBHOOK_PATH\}", "/webhook/thin", command)
    command = re.sub(r"\{[^}]*WEBHOOK_PATH\}", "/webhook", command)
    return re.sub(r"\{[^}]*\}", "3000", command)


def test_the_rules_refuse_what_the_current_cli_refuses() -> None:
    assert problems("stripe listen --forward-to localhost:3000/webhook") == [
        "forwarding needs --events, --all-snapshot or --all-thin"
    ]
    assert problems("stripe listen --forward-thin-to localhost:3000/webhook/thin") == [
        "--forward-thin-to was removed"
    ]
    mixed = "stripe listen --events invoice.paid,v1.invoice.paid --forward-to localhost:3000/webhook"
    assert problems(mixed) == [
        "snapshot and thin events cannot go to the same destination",
        "thin events go to /webhook/thin",
    ]
    assert problems("stripe listen --all-snapshot --print-json") == [
        "--print-json is deprecated (--format json)"
    ]
    assert problems("stripe listen") == []


def test_the_banners_commands_are_valid() -> None:
    assert problems(listen_snapshot(3000)) == []
    assert problems(listen_thin(3000)) == []


@pytest.mark.parametrize(("command", "line"), documented_commands())
def test_every_documented_listen_command_works_with_its_line_of_the_cli(command: str, line: str) -> None:
    assert problems(command, line) == [], command


def test_the_v1_line_s_rules_refuse_what_it_lacks() -> None:
    assert problems(listen_v1(3000), "v1") == []
    assert problems(listen_snapshot(3000), "v1") == ["--all-snapshot is not in the v1 line"]
    thin = "stripe listen --thin-events v1.billing.meter.error_report_triggered"
    thin += " --forward-thin-to localhost:3000/webhook/thin"
    assert problems(thin, "v1") == [] and problems(thin) == [
        "--thin-events was removed",
        "--forward-thin-to was removed",
    ]


def test_the_docs_show_both_styles_and_both_lines() -> None:
    commands = documented_commands()
    assert (listen_snapshot(3000), "v2") in commands and (listen_thin(3000), "v2") in commands
    assert (listen_v1(3000), "v1") in commands


def test_with_sam_local_the_banner_names_the_port_sam_local_serves(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from infra.local.options import parse_args
    from infra.local.resources import LocalResources

    args = parse_args(["--aws-only", "--aws-host", "docker", "--port", "3100"])
    resources = LocalResources("table", "arn:aws:sns:us-east-1:000000000000:topic", "http://q", "bucket")
    print_banner(
        args=args,
        endpoint="http://127.0.0.1:5000",
        secret="whsec_test",
        from_env=False,
        resources=resources,
        secret_arn="arn:secret",
        actions=None,
        aws_hosts=["127.0.0.1"],
        inbox_token=None,
    )
    out = capsys.readouterr().out
    assert "http://127.0.0.1:3100/webhook   (served by `sam local start-api`)" in out
    assert listen_snapshot(3100) in out and listen_thin(3100) in out
    assert ":3000" not in out
