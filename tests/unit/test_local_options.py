"""The local stack's command line: a second stack needs only its webhook port."""

from __future__ import annotations

from infra.local.options import parse_args, ports_beside


def test_a_second_stack_needs_only_its_webhook_port() -> None:
    args = parse_args(["--port", "3100"])

    assert (args.port, args.aws_port, args.stripe_port) == ports_beside(3100) == (3100, 5100, 12211)
    assert parse_args([]).aws_port == 5000 and parse_args([]).stripe_port == 12111
    assert parse_args(["--port", "3100", "--aws-port", "5999"]).aws_port == 5999  # an explicit one wins
    assert parse_args(["--port", "61000"]).stripe_port == 12111  # no neighbour past 65535
