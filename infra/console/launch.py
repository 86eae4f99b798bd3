"""Start the console: find the stack, check who is asking, serve on loopback until Ctrl-C.

python -m infra.console --stack stripe-webhooks-prod [--profile P] [--region R] [--port 8050]
python -m infra.console --local          # the running local stack (the default when one runs)
python -m infra.console --aws-endpoint http://127.0.0.1:5000     # a local stack's AWS side
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from infra.cli import Problem
from infra.console.actions import ConsoleActions, caller_identity
from infra.console.deployment import Deployment, discover, discover_local
from infra.console.event_log import WORKERS
from infra.console.reads import ConsoleReads
from infra.console.routes import App
from infra.console.server import ConsoleServer
from infra.ops.deployed import (
    Context,
    aws_factory,
    default_stack_name,
    load_stack,
    local_resources,
    running_local_endpoint,
)

if TYPE_CHECKING:
    from infra.local.inbox_api import InboxApi
    from infra.local.page_http import Respond

DEFAULT_PORT = 8050
LOCAL_CALLER = "you, on the local stack"


def local_endpoint(args: argparse.Namespace) -> str | None:
    """The AWS endpoint to read: ``--aws-endpoint``; the running local stack's with ``--local``, or
    when nothing names a stack and one runs; None for a deployed stack (``--stack`` or samconfig's)."""
    from infra.local.state import read_state

    if args.aws_endpoint:
        return str(args.aws_endpoint)
    if args.stack and args.local:
        raise Problem("--local and --stack name two stacks: choose one")
    if args.stack:
        return None
    if args.local:
        return running_local_endpoint()[0]
    state = read_state("--stack NAME")
    return state.aws_endpoint if state is not None else None


def build(
    args: argparse.Namespace,
    aws: Callable[[str], Any],
    out: TextIO = sys.stdout,
    changes: Callable[[str], Any] | None = None,
) -> App:
    """The console's app for ``args`` (stack, endpoint, actions): it reads with ``aws``'s clients
    and changes with ``changes``' (one attempt each; ``aws``'s when not given)."""
    from botocore.exceptions import ClientError

    try:
        if args.aws_endpoint:
            ctx = Context(local_resources(), aws, out=out)
            deployment: Deployment = discover_local(ctx)
        else:
            ctx = Context(load_stack(aws("cloudformation"), args.stack or default_stack_name()), aws, out=out)
            deployment = discover(ctx)
        caller = caller_identity(aws("sts"))
    except ClientError as error:
        detail = error.response.get("Error", {})
        if args.aws_endpoint:
            raise Problem(not_aws(args.aws_endpoint, error)) from None
        raise Problem(
            f"AWS refused: {detail.get('Code')}: {detail.get('Message')} (docs/console.md#permissions)"
        ) from None
    # anything else from botocore (no credentials, no region, no answer): infra.cli says it in a line
    reads = ConsoleReads(ctx, deployment)
    acting = Context(ctx.stack, changes or aws, out=out)
    return App(reads, ConsoleActions(acting, deployment, caller), args.allow_actions)


def local_console(endpoint: str, requests: InboxApi, webhook_url: str) -> Respond:
    """The console in its local mode, for ``make run`` to serve beside the webhook: the local
    stack's AWS side read and changed as ``make console --local`` does (actions allowed, each
    confirmed), plus the requests the webhook answered (``requests``)."""
    aws = aws_factory(None, endpoint=endpoint, pool=WORKERS)
    ctx = Context(local_resources(webhook_url), aws)
    deployment = discover_local(ctx)
    acting = Context(ctx.stack, aws_factory(None, endpoint=endpoint, one_attempt=True))
    actions = ConsoleActions(acting, deployment, LOCAL_CALLER)
    return App(ConsoleReads(ctx, deployment), actions, allow_actions=True, local=requests).respond


def not_aws(endpoint: str, error: Any) -> str:
    """What to say when ``endpoint`` answered like no AWS endpoint (the webhook's port, another
    program): where the running local stack's AWS side is, if one runs."""
    from infra.local.state import read_state

    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
    said = f"{endpoint} is not a local stack's AWS side (it answered HTTP {status} to an AWS call)"
    try:
        state = read_state()
    except Problem:
        state = None
    if state is not None and state.aws_endpoint != endpoint:
        return f"{said}; the running local stack's is {state.aws_endpoint}: run it with --local"
    return f"{said}; start the local stack with make run, then run the console with --local"


def serve(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    account = {"profile": args.profile, "endpoint": args.aws_endpoint}
    aws = aws_factory(args.region, **account, pool=WORKERS)
    changes = aws_factory(args.region, **account, one_attempt=True)  # SQS's sends too: never twice
    app = build(args, aws, out, changes)
    try:
        server = ConsoleServer(("127.0.0.1", args.port), app)
    except OSError as error:
        raise Problem(f"cannot listen on 127.0.0.1:{args.port} ({error.strerror}): pass --port") from None
    where = "the local stack's AWS side" if app.reads.ctx.stack.local else f"stack {app.reads.ctx.stack.name}"
    mode = (
        "actions allowed (each asks first)" if args.allow_actions else "read-only (--allow-actions to change)"
    )
    print(f"console for {where} as {app.actions.caller}: {mode}", file=out, flush=True)
    print(
        f"  http://127.0.0.1:{server.server_address[1]}/   (loopback only; Ctrl-C stops it)",
        file=out,
        flush=True,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("console stopped", file=out)
    finally:
        server.server_close()
    return 0
