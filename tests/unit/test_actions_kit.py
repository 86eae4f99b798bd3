"""The consumer kit's pure parts: reading a message, the contract, the registry, the settings."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

import contract
from infra.fixtures.payloads import encode, fresh_event
from infra.template import action_instances, action_module, module_properties
from stripe_actions.actions import (
    ActionRegistry,
    AnyAction,
    Run,
    Wait,
    reads_records,
    register_action,
)
from stripe_actions.composition import Components, registered
from stripe_actions.errors import ConfigurationError
from stripe_actions.examples import Entitlement
from stripe_actions.messages import ActionEvent, PoisonMessage, parse_record
from stripe_actions.settings import load_settings
from stripe_webhook.adapters.publisher import message_attributes, message_body
from stripe_webhook.core.events import parse_event
from stripe_webhook.ports import PayloadLocation
from tests.modules import conditions_of, resolve

EVENT = fresh_event("invoice.paid")
BODY = encode(EVENT)


def published(event: dict[str, Any], payload: PayloadLocation | None = None) -> tuple[str, dict[str, str]]:
    """Body and attributes exactly as the webhook's publisher builds them."""
    parsed = parse_event(encode(event))
    attributes = message_attributes(parsed)
    body = message_body(parsed, attributes, payload)
    return body, {name: value["StringValue"] for name, value in attributes.items()}


def raw_record(body: str, attributes: dict[str, str], receive_count: int = 1) -> dict[str, Any]:
    """An SQS event record of a raw-delivery subscription, as Lambda's event source sends it."""
    return {
        "messageId": "9f1c2d3e-0000-4000-8000-000000000001",
        "body": body,
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
        "messageAttributes": {
            name: {"stringValue": value, "stringListValues": [], "binaryListValues": [], "dataType": "String"}
            for name, value in attributes.items()
        },
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:stripe-actions-fulfil_order",
    }


def envelope_record(body: str, attributes: dict[str, str]) -> dict[str, Any]:
    """The same message through a subscription without raw delivery: SNS's JSON notification."""
    notification = {
        "Type": "Notification",
        "MessageId": "b1c2",
        "TopicArn": "arn:aws:sns:us-east-1:123456789012:stripe-webhooks-events",
        "Message": body,
        "Timestamp": "2026-11-28T10:00:00.000Z",
        "MessageAttributes": {name: {"Type": "String", "Value": value} for name, value in attributes.items()},
    }
    return raw_record(json.dumps(notification), {})


@pytest.mark.parametrize("shape", [raw_record, envelope_record])
def test_a_message_reads_the_same_whether_sns_delivered_it_raw_or_in_its_envelope(shape: Any) -> None:
    body, attributes = published(EVENT)

    event = parse_record(shape(body, attributes))

    assert event.id == EVENT["id"] and event.type == "invoice.paid"
    assert event.object_id == EVENT["data"]["object"]["id"]
    assert event.attributes["event_type"] == "invoice.paid" and not event.livemode and not event.redriven


def test_the_current_record_is_read_only_when_asked_and_once() -> None:
    body, attributes = published(EVENT)
    asked: list[str] = []

    def read_record(object_id: str) -> dict[str, Any] | None:
        asked.append(object_id)
        return {"object_id": object_id, "status": "paid"}

    event = parse_record(raw_record(body, attributes), read_record=read_record)
    assert asked == []
    assert event.record() == {"object_id": event.object_id, "status": "paid"}
    assert event.record() is event.record()
    assert asked == [event.object_id]


@pytest.mark.parametrize(
    ("body", "attributes", "reason"),
    [
        ("not json", None, "not JSON"),
        (None, {"schema_version": "1"}, "not a v2 message"),
        (None, {"event_id": "evt_other"}, "differs from the message attributes"),
        (None, {"event_type": "invoice.voided"}, "differs from the message attributes"),
        ('{"id": "evt_1", "type": "invoice.paid"}', None, "not a v2 message"),
        (
            '["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": "b", "s3Key": "../x"}]',
            None,
            "not a v2 message",
        ),
    ],
)
def test_a_message_no_retry_can_fix_is_poison(
    body: str | None, attributes: dict[str, str] | None, reason: str
) -> None:
    good_body, good_attributes = published(EVENT)
    record = raw_record(body if body is not None else good_body, {**good_attributes, **(attributes or {})})

    with pytest.raises(PoisonMessage, match=reason):
        parse_record(record)


def test_a_message_without_its_attributes_is_poison() -> None:
    body, _ = published(EVENT)

    with pytest.raises(PoisonMessage, match="must contain"):
        parse_record(raw_record(body, {}))


def test_a_pointer_is_replaced_by_the_stored_event_whose_size_must_match() -> None:
    location = PayloadLocation("stripe-webhooks-payloads", f"events/{EVENT['id']}.json", len(BODY))
    parsed = parse_event(BODY)
    attributes = message_attributes(parsed)
    attributes["ExtendedPayloadSize"] = {"DataType": "Number", "StringValue": str(len(BODY))}
    pointer = json.dumps(
        [
            "software.amazon.payloadoffloading.PayloadS3Pointer",
            {"s3BucketName": location.bucket, "s3Key": location.key},
        ]
    )
    flat = {name: value["StringValue"] for name, value in attributes.items()}
    reads: list[tuple[str, str]] = []

    def read_payload(bucket: str, key: str) -> bytes:
        reads.append((bucket, key))
        return BODY

    event = parse_record(raw_record(pointer, flat), read_payload=read_payload)

    assert reads == [(location.bucket, location.key)]
    assert event.event == EVENT and "ExtendedPayloadSize" not in event.attributes
    with pytest.raises(PoisonMessage, match="the message says"):
        parse_record(raw_record(pointer, {**flat, "ExtendedPayloadSize": "12"}), read_payload=read_payload)
    with pytest.raises(PoisonMessage, match="no S3 reader"):
        parse_record(raw_record(pointer, flat))
    with pytest.raises(PoisonMessage, match="not JSON"):
        parse_record(
            raw_record(pointer, {**flat, "ExtendedPayloadSize": "3"}), read_payload=lambda b, k: b"{{{"
        )


CONTRACT_CASES = [
    *(
        {
            "attributes": {
                "schema_version": "2",
                "event_type": "a",
                "event_id": "evt_1",
                "object_type": "x",
                "livemode": "false",
                "possible_duplicate": flag,
            },
            "body": {"id": "evt_1", "type": "a", "data": {"object": {}}},
        }
        for flag in ("true", "yes")
    ),
    *(
        {
            "attributes": {
                "schema_version": "2",
                "event_type": "invoice.paid",
                "event_id": "evt_1",
                "object_type": "invoice",
                "livemode": "false",
                "payload_style": style,
            },
            "body": {
                "id": "evt_1",
                "object": "event",
                "type": "invoice.paid",
                "data": {"object": {"id": "in_1", "object": "invoice"}},
                "thin_notification": {"id": "evt_test_1", "object": "v2.core.event"},
            },
        }
        for style in ("thin", "snapshot")
    ),
    {
        "attributes": {
            "schema_version": "2",
            "event_type": "a",
            "event_id": "evt_1",
            "object_type": "x",
            "livemode": "false",
        },
        "body": {"id": "evt_1", "type": "a", "data": {"object": {}}},
    },
    {
        "attributes": {
            "schema_version": "2",
            "event_type": "a",
            "event_id": "evt_1",
            "object_type": "x",
            "livemode": "maybe",
        },
        "body": {"id": "evt_1", "type": "a", "data": {"object": {}}},
    },
    {
        "attributes": {
            "schema_version": "2",
            "event_type": "a",
            "event_id": "evt_1",
            "object_type": "x",
            "livemode": "true",
            "ExtendedPayloadSize": "10",
        },
        "body": [
            "software.amazon.payloadoffloading.PayloadS3Pointer",
            {"s3BucketName": "bkt", "s3Key": "events/evt_1.json"},
        ],
    },
    {
        "attributes": {
            "schema_version": "2",
            "event_type": "a",
            "event_id": "evt_1",
            "object_type": "x",
            "livemode": "true",
        },
        "body": [
            "software.amazon.payloadoffloading.PayloadS3Pointer",
            {"s3BucketName": "bkt", "s3Key": "events/evt_1.json"},
            "extra",
        ],
    },
    {
        "attributes": {
            "schema_version": "2",
            "event_type": "a",
            "event_id": "evt_1",
            "object_type": "x",
            "livemode": "true",
        },
        "body": ["another.Pointer", {"s3BucketName": "bkt", "s3Key": "events/evt_1.json"}],
    },
    {
        "attributes": {
            "schema_version": "2",
            "event_type": "a",
            "event_id": "evt_1",
            "object_type": "x",
            "livemode": "true",
            "surprise": "x",
        },
        "body": {"id": "evt_1", "type": "a", "data": {"object": {}}},
    },
    {
        "attributes": {
            "schema_version": "2",
            "event_type": "a",
            "event_id": "evt_1",
            "object_type": "x",
            "livemode": "true",
        },
        "body": {"id": "evt_1", "type": "a", "data": {}},
    },
    {
        "attributes": {
            "schema_version": "2",
            "event_type": "a",
            "event_id": "evt_1",
            "object_type": "x",
            "livemode": "true",
            "redrive": "true",
        },
        "body": {"id": "evt_1", "type": "a", "data": {"object": {}}},
    },
]


@pytest.mark.parametrize("message", CONTRACT_CASES)
def test_the_compiled_contract_agrees_with_the_reference_2020_12_validator(message: dict[str, Any]) -> None:
    reference = jsonschema.Draft202012Validator(json.loads(contract.SCHEMA_PATH.read_text()))
    try:
        contract.validate(message)
        ours = True
    except contract.ContractViolation:
        ours = False

    assert ours == reference.is_valid(message)


class RecordingPorts:
    """``Ports`` whose every port is a stand-in, recording what each action asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def actions_table(self) -> Any:
        self.asked.add("keys")
        return object()

    def mailer(self) -> Any:
        self.asked.add("email")
        return object()

    def alert_topic(self) -> Any:
        self.asked.add("alerts")
        return object()

    def effects(self) -> Any:
        return object()  # every action's own, always granted


def built(name: str) -> tuple[AnyAction, set[str]]:
    """The registered action ``name``, built, and what it needs: the ports it asked for, and
    ``records`` when its class reads them."""
    ports = RecordingPorts()
    action = registered()[name](ports)
    return action, ports.asked | ({"records"} if reads_records(registered()[name]) else set())


def test_each_action_queue_is_filtered_to_exactly_its_action_types() -> None:
    """An action registered without a template instance would never run, and an instance without a
    registered action fails at its first message: the two lists are one."""
    instances = action_instances().values()
    assert sorted(instance.name for instance in instances) == sorted(registered())
    assert module_properties("Queue")["Parameters"]["FilterPolicy"] == {
        "Fn::Sub": '{"event_type": ${EventTypes}}'
    }
    assert module_properties("Subscription", "queue")["FilterPolicy"] == {"Ref": "FilterPolicy"}
    for instance in instances:
        action, _ = built(instance.name)
        expected = [{"prefix": t[:-1]} if t.endswith(".*") else t for t in action.types]
        assert instance.filter_policy == {"event_type": expected}, instance.logical_id


def test_each_instance_grants_exactly_what_its_action_asks_for() -> None:
    """The class states its needs once, by asking its ``Ports``; the template's ``Uses`` grants
    them: a need not granted would fail in AWS, a grant not needed is more than the action may do."""
    for instance in action_instances().values():
        _, needs = built(instance.name)
        assert needs == set(instance.uses), instance.logical_id


def test_the_registry_finds_every_action_of_a_type_by_exact_type_or_family() -> None:
    registry = ActionRegistry([built(name)[0] for name in registered()])

    assert [action.name for action in registry.for_type("invoice.paid")] == ["fulfil_order"]
    assert [action.name for action in registry.for_type("customer.subscription.paused")] == ["entitlement"]
    assert registry.for_type("customer.subscriptionless") == []
    assert registry.for_type("charge.dispute.closed") == []
    with pytest.raises(ValueError, match="unique"):
        ActionRegistry([built("entitlement")[0], built("entitlement")[0]])


def test_two_action_classes_with_one_name_are_refused_at_import() -> None:
    with pytest.raises(ValueError, match="two actions are named 'entitlement'"):

        @register_action
        class Impostor:
            name = "entitlement"
            types = ("customer.created",)

            def perform(self, event: ActionEvent, key: str) -> str:
                return "never"

    assert registered()["entitlement"] is Entitlement


@pytest.mark.parametrize("methods", [(), ("perform", "write")], ids=["neither", "both"])
def test_an_action_performs_or_writes_one_of_the_two(methods: tuple[str, ...]) -> None:
    """The kit runs ``perform`` under Powertools' idempotency, or makes ``write`` with its note: an
    action must say which."""
    body: dict[str, Any] = {"name": "either", "types": ("customer.created",)}
    body.update({method: lambda self, event, key: "" for method in methods})
    with pytest.raises(TypeError, match=r"perform .* or write"):
        register_action(type("Either", (), body))
    assert "either" not in registered()


def event_with_record(event: dict[str, Any], record: dict[str, Any] | None) -> ActionEvent:
    return ActionEvent(event, {"event_id": event["id"]}, "m-1", read_record=lambda object_id: record)


def test_fulfil_order_runs_only_for_paid_orders_and_keys_on_the_order() -> None:
    action, _ = built("fulfil_order")
    session = fresh_event("checkout.session.completed")
    session_id = session["data"]["object"]["id"]
    invoice = fresh_event("invoice.paid")

    assert action.decide(event_with_record(session, {"mode": "payment", "may_fulfil": True})) == Run(
        session_id
    )
    assert action.decide(
        event_with_record(session, {"mode": "payment", "may_fulfil": False, "fulfilment_status": "expired"})
    ) == Wait("fulfilment_status expired")
    assert action.decide(event_with_record(session, {"mode": "subscription", "may_fulfil": True})) == Wait(
        "a subscription is fulfilled from its paid invoices"
    )
    assert action.decide(event_with_record(invoice, {"status": "paid"})) == Run(
        invoice["data"]["object"]["id"]
    )
    assert action.decide(event_with_record(invoice, {"status": "void"})) == Wait("invoice status void")


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({}, "ACTIONS must name"),
        ({"ACTIONS": "fulfil_order"}, "IDEMPOTENCY_TABLE"),
        (
            {
                "ACTIONS": "dispute_alert",
                "IDEMPOTENCY_TABLE": "t",
                "ALERT_TOPIC_ARN": "a",
                "ACTIONS_REMEMBER_DAYS": "0",
            },
            "whole number",
        ),
    ],
)
def test_a_wrong_environment_is_named(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        load_settings(env)


def test_an_action_no_class_registers_is_named_with_the_ones_there_are() -> None:
    settings = load_settings({"ACTIONS": "entitlement,refund_everyone", "IDEMPOTENCY_TABLE": "t"})

    with pytest.raises(ConfigurationError, match=r"refund_everyone, which no registered action is"):
        Components(settings).actions()


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"ACTIONS": "fulfil_order"}, "TABLE_NAME must be set for fulfil_order"),
        ({"ACTIONS": "fulfil_order", "TABLE_NAME": "e"}, "ACTIONS_TABLE must be set for fulfil_order"),
        ({"ACTIONS": "dispute_alert"}, "ALERT_TOPIC_ARN must be set for dispute_alert"),
    ],
)
def test_a_setting_an_action_needs_is_named_when_its_function_starts(
    env: dict[str, str], problem: str
) -> None:
    settings = load_settings({"IDEMPOTENCY_TABLE": "t", **env})

    with pytest.raises(ConfigurationError, match=problem):
        Components(settings, dynamodb=object(), sns=object()).actions()


def test_the_template_environment_builds_each_action() -> None:
    """The module's environment, as each instance's parameters resolve it, builds that action."""
    module = action_module()
    variables = module_properties("Function")["Environment"]["Variables"]
    for instance in action_instances().values():
        decided = conditions_of(module, instance.parameters)
        resolved = resolve(variables, {**instance.parameters, "Kit": "kit"}, decided)
        env = {key: value if isinstance(value, str) else "from-template" for key, value in resolved.items()}
        env["ACTIONS_REMEMBER_DAYS"] = "90"

        components = Components(load_settings(env), dynamodb=object(), ses=object(), sns=object())
        assert [action.name for action in components.actions()] == [instance.name]


def test_a_logged_outcome_names_the_action_and_key_but_not_what_it_did() -> None:
    import io
    import logging

    from stripe_actions.observability import logger, report_outcome
    from stripe_actions.outcomes import ActionOutcome

    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        report_outcome(
            ActionOutcome(
                "fulfil_order", "cs_test_1", "done", "email to jenny.rosen@example.com", "evt_1", "x"
            )
        )
        report_outcome(
            ActionOutcome("fulfil_order", "in_1", "failed", "MessageRejected", "evt_2", "invoice.paid")
        )
    finally:
        handler.setStream(previous)

    done, failed = (json.loads(line) for line in buffer.getvalue().splitlines())
    assert done["business_key"] == "cs_test_1" and done["outcome"] == "done" and done["event_id"] == "evt_1"
    assert "jenny.rosen" not in json.dumps(done)
    assert failed["reason"] == "MessageRejected" and failed["level"] == "ERROR"


def test_a_poison_outcome_is_logged_and_counted(capsys: pytest.CaptureFixture[str]) -> None:
    from stripe_actions.observability import report_outcome
    from stripe_actions.outcomes import ActionOutcome

    report_outcome(ActionOutcome("", "m-1", "poison", "the body nests deeper than the parser reads"))

    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (metric,) = [line for line in printed if "_aws" in line]
    assert metric["PoisonMessages"] == [1.0] or metric["PoisonMessages"] == 1.0


def carrying(record: object) -> ActionEvent:
    body, attributes = published(EVENT)
    text = record if isinstance(record, str) else json.dumps(record)
    return parse_record(raw_record(body, {**attributes, contract.RECORD: text}))


OWN = {
    "pk": f"OBJECT#{EVENT['data']['object']['id']}",
    "sk": "STATE",
    "status": "paid",
    "last_event_id": EVENT["id"],
    "last_event_watermark": 17_000_000_000,
    "updated_at": 1_700_000_000,
}


def test_the_record_a_message_carries_is_given_to_the_kit_not_to_actions() -> None:
    event = carrying(OWN)
    assert (event.carried, event.carried_problem) == (OWN, None)
    assert contract.RECORD not in event.attributes


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ("{not json", "not JSON"),
        ([OWN], "not an object's record"),
        ({**OWN, "pk": "OBJECT#in_other"}, "not this event's object's"),
        ({**OWN, "last_event_id": "evt_other"}, "not this event's object's"),
        (
            {key: value for key, value in OWN.items() if key != "updated_at"},
            "lacks what tells its write apart",
        ),
    ],
)
def test_a_record_that_is_not_this_events_write_is_left_out_and_named(record: object, why: str) -> None:
    event = carrying(record)
    assert event.carried is None
    assert event.carried_problem is not None and why in event.carried_problem
