"""Write signed API Gateway proxy events to ``.sam-events/`` (git-ignored) for ``sam local invoke -e``.

Signatures are only valid for 5 minutes, so regenerate right before invoking:

    python -m infra.local.sam_events                     # every event type a handler handles
    python -m infra.local.sam_events --all               # every event type there is a payload for
    python -m infra.local.sam_events invoice.paid        # just these
    sam local invoke WebhookFunction -e .sam-events/invoice.paid.json

``events/`` holds committed samples of the same shape (their signatures long expired).

The secret is STRIPE_WEBHOOK_SECRET, else the running local stack's (the one
the function reads through env.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from infra import REPO_ROOT
from infra.cli import UsageError, exit_with
from infra.fixtures.delivery import USER_AGENT
from infra.fixtures.payloads import available_events, encode, fresh_event
from infra.fixtures.signing import signature_header
from infra.local.apigw import proxy_event
from infra.local.connect import fill_addresses, secret_and_source

OUT_DIR = REPO_ROOT / ".sam-events"
SAMPLES_DIR = REPO_ROOT / "events"
SAMPLE_TYPES = (
    "payment_intent.succeeded",
    "checkout.session.completed",
    "invoice.paid",
    "customer.subscription.updated",
    "customer.created",
    "charge.dispute.created",
    "payout.paid",
    "product.created",
)


def write_event(event_type: str, secret: str, directory: Path) -> Path:
    event = fresh_event(event_type)
    body = encode(event)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        "Stripe-Signature": signature_header(body, secret),
    }
    # as API Gateway itself delivers it (HTTPS, port 443): sam local invoke serves no port
    request = proxy_event("POST", "/webhook", headers, body, stage="v1", port=443, proto="https")
    path = directory / f"{event_type}.json"
    path.write_text(json.dumps(request, indent=2) + "\n")
    return path


def handled_types(known: list[str]) -> list[str]:
    """Every event type the registry routes, new families included, that has a payload."""
    from stripe_webhook.composition import registry

    return [event_type for event_type in known if registry().resolve(event_type) is not None]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local.sam_events", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "event_types", nargs="*", help="event types to write (default: every type a handler handles)"
    )
    parser.add_argument("--all", action="store_true", help="write every event type there is a payload for")
    parser.add_argument(
        "--out", type=Path, default=OUT_DIR, help="directory (default .sam-events/, git-ignored)"
    )
    parser.add_argument(
        "--aws-endpoint",
        default=None,
        help="local stack, to read its secret (default: the running one)",
    )
    args = parser.parse_args(argv)
    fill_addresses(args)
    known = available_events()
    types = known if args.all else (args.event_types or handled_types(known))
    unknown = [name for name in types if name not in known]
    if unknown:
        raise UsageError(f"no payload for {', '.join(unknown)} (see python -m infra.local.trigger --list)")
    secret, source = secret_and_source(args.aws_endpoint)
    args.out.mkdir(parents=True, exist_ok=True)
    written = [write_event(event_type, secret, args.out) for event_type in types]
    print("\n".join(f"wrote {path}" for path in written))
    print(f"signed with {source} ({secret[:10]}…), valid for 5 minutes.")
    if source == "STRIPE_WEBHOOK_SECRET":
        print("  The function under sam local reads the local stack's secret (env.json): they must match.")
    print(invoke_hint(written[0], args.aws_endpoint))
    return 0


def invoke_hint(event_file: Path, aws_endpoint: str) -> str:
    """The ``sam local invoke`` command for ``event_file``: env.json pointed at the local AWS side's
    port (``sam_local.env_vars_file``), and the host name its container reaches it by."""
    from urllib.parse import urlsplit

    from infra.local.sam_local import ADD_HOST, env_vars_file

    env_file = env_vars_file(urlsplit(aws_endpoint).port or 5000)
    return (
        "Invoke one with Docker, after make build, while make aws runs:\n"
        f"  .venv/bin/sam local invoke WebhookFunction -e {event_file}"
        f" --env-vars {env_file.relative_to(REPO_ROOT)} --add-host {ADD_HOST}"
    )


if __name__ == "__main__":
    exit_with(main)
