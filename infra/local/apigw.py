"""Turn an HTTP request into the API Gateway (REST, v1) proxy event the function receives."""

from __future__ import annotations

import base64
import functools
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

Headers = Mapping[str, str] | Sequence[tuple[str, str]]


@functools.cache
def stage_name() -> str:
    """The template's ``StageName`` default: the stage ``sam local start-api`` names (read once:
    parsing the template took 0.35 s, once per request)."""
    from infra.template import load_template

    return str(load_template()["Parameters"]["StageName"]["Default"])


@functools.cache
def binary_media_types() -> frozenset[str]:
    """The webhook API's ``BinaryMediaTypes`` (SAM writes "/" as "~1"): bodies of these types
    reach the function base64-encoded, in SAM and in API Gateway alike."""
    from infra.template import resource_properties

    types = resource_properties("WebhookApi").get("BinaryMediaTypes", [])
    return frozenset(str(kind).replace("~1", "/") for kind in types)


def request_context(method: str, resource: str, stage: str, host: str, source_ip: str) -> dict[str, Any]:
    """The proxy event's ``requestContext``, as ``sam local start-api`` fills it."""
    now = time.time()
    return {
        "accountId": "123456789012",
        "apiId": "1234567890",
        "domainName": host,
        "extendedRequestId": None,
        "httpMethod": method,
        "identity": dict.fromkeys(IDENTITY_FIELDS)
        | {"sourceIp": source_ip, "userAgent": "Custom User Agent String"},
        "path": resource,
        "protocol": "HTTP/1.1",
        "requestId": str(uuid.uuid4()),
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "requestTimeEpoch": int(now * 1000),
        "resourceId": "123456",
        "resourcePath": resource,
        "stage": stage,
    }


def proxy_event(
    method: str,
    path: str,
    headers: Headers,
    body: bytes,
    *,
    resource: str = "/webhook",
    stage: str | None = None,
    source_ip: str = "127.0.0.1",
    port: int = 3000,
    host: str = "localhost",
    proto: str = "http",
) -> dict[str, Any]:
    """The event ``sam local start-api`` builds for this request (``samcli``'s
    ``construct_v1_event``; ``tests/integration/test_sam_local.py`` compares the two): every
    header (a repeated one comma-joined) in ``headers`` and in ``multiValueHeaders``, plus
    ``X-Forwarded-Proto``/``-Port``; the body as text, or base64-encoded when its type is one of
    the API's binary media types. SAM fails on any other body that is not UTF-8; such a body is
    passed base64-encoded here, as API Gateway passes binary content, so the function's handling
    of it can be tried."""
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    single: dict[str, str] = {}
    for name, value in pairs:  # a repeated header is one value, comma-joined, as WSGI gives SAM
        single[name] = f"{single[name]}, {value}" if name in single else value
    single |= {"X-Forwarded-Proto": proto, "X-Forwarded-Port": str(port)}
    multi = {name: [value] for name, value in single.items()}
    mimetype = single.get("Content-Type", single.get("content-type", "")).split(";", 1)[0].strip().lower()
    text: str | None = None
    if mimetype not in binary_media_types() and "*/*" not in binary_media_types():
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    return {
        "body": text if text is not None else base64.b64encode(body).decode("ascii"),
        "headers": single,
        "httpMethod": method,
        "isBase64Encoded": text is None,
        "multiValueHeaders": multi,
        "multiValueQueryStringParameters": None,
        "path": path,
        "pathParameters": None,
        "queryStringParameters": None,
        "requestContext": request_context(method, resource, stage or stage_name(), host, source_ip),
        "resource": resource,
        "stageVariables": None,
    }


IDENTITY_FIELDS = (
    "accountId",
    "apiKey",
    "caller",
    "cognitoAuthenticationProvider",
    "cognitoAuthenticationType",
    "cognitoIdentityPoolId",
    "sourceIp",
    "user",
    "userAgent",
    "userArn",
)
"""``requestContext.identity`` as SAM writes it (all null but the source address and agent)."""
