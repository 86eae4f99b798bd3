"""``make console`` = ``python -m infra.console``: the console for a deployed stack (or the local
stack's AWS side), on loopback; ``python -m infra.console policy``: the IAM policy it needs.

The console sits above ``ops`` (it reads and acts through ``infra.ops``), so it has its own entry
point: ``ops`` imports nothing of it.
"""

from __future__ import annotations

import argparse
import json

from infra.cli import exit_with
from infra.console.launch import DEFAULT_PORT, local_endpoint, serve


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.console",
        description="Serve the console for a deployed stack on 127.0.0.1, reading its resources with"
        " your AWS credentials (region and profile as the AWS CLI resolves them). Read-only unless"
        " --allow-actions. Needs no Stripe key. `policy` prints the IAM policy it needs (docs/console.md).",
    )
    parser.add_argument(
        "command",
        nargs="?",
        choices=["serve", "policy"],
        default="serve",
        help="serve (the default): the console; policy: print the IAM policy it needs, with exact ARNs",
    )
    parser.add_argument(
        "--stack", default=None, help="CloudFormation stack (default: samconfig.toml's dev stack)"
    )
    parser.add_argument("--region", default=None, help="AWS region (default: your AWS configuration)")
    parser.add_argument(
        "--profile", default=None, help="AWS profile (default: AWS_PROFILE or the default one)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"loopback port (default {DEFAULT_PORT}; 0: any free one)",
    )
    parser.add_argument(
        "--local",
        action="store_true",
        help="the running local stack (make run; its AWS side from .local-stack.json). The default"
        " when neither --stack nor --aws-endpoint is given and a local stack runs",
    )
    parser.add_argument(
        "--aws-endpoint",
        metavar="URL",
        help="a local stack's AWS side at this address (e.g. http://127.0.0.1:5000), not a deployed stack",
    )
    parser.add_argument(
        "--allow-actions",
        action="store_true",
        help="offer redrive, resend and settle (each asks first and is recorded with your identity);"
        " with policy: the policy they add",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "policy":
        from infra.console.policy import READ, WRITE, discover, policy
        from infra.ops.deployed import Context, aws_factory, default_stack_name, load_stack

        aws = aws_factory(args.region, profile=args.profile, endpoint=args.aws_endpoint)
        ctx = Context(load_stack(aws("cloudformation"), args.stack or default_stack_name()), aws)
        ctx.say(json.dumps(policy(discover(ctx), WRITE if args.allow_actions else READ), indent=2))
        return 0
    args.aws_endpoint = local_endpoint(args)
    return serve(args)


if __name__ == "__main__":
    exit_with(main)
