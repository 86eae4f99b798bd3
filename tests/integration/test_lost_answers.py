"""Answers that never arrive and invocations that run out of time (issue 11, cases 4 and 5).

Modelled behaviour:
- botocore's standard retry mode re-sends a request after ``ReadTimeoutError`` (its transient
  errors include every ``HTTPClientError``), although the service may already have applied it.
  ``Fault(lose_answer=True)`` lets moto apply the request, then raises that error.
- DynamoDB: ``TransactWriteItems`` carries a ``ClientRequestToken`` that botocore fills in once
  per call, so AWS answers a re-sent transaction as a success; moto does not, and a re-sent
  conditional write fails its condition instead. Either way the store must recognise its own
  write (``ReturnValuesOnConditionCheckFailure=ALL_OLD`` shows our claim token or message id).
- SNS ``Publish`` is not idempotent on a standard topic; a FIFO topic deduplicates on
  ``MessageDeduplicationId`` for 5 minutes (SNS Developer Guide, "Message deduplication for FIFO
  topics"; moto applies the window in the subscribed FIFO queue, which is what consumers see).
- Lambda stops an invocation at its timeout; ``context.get_remaining_time_in_millis()`` says how
  much is left (``LambdaContext(timeout_seconds=…)`` here).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from contract import aws as aws_clients
from infra.fixtures.payloads import encode, fresh_event
from stripe_webhook import composition
from stripe_webhook.adapters import lease
from stripe_webhook.core.events import parse_event
from tests.faults import Fault, FaultInjector
from tests.integration.conftest import Aws
from tests.support import deliver, drain


@pytest.fixture
def faults() -> FaultInjector:
    injector = FaultInjector()
    injector.install(aws_clients.session())
    return injector


def event_ids(aws: Aws) -> list[str]:
    return [message.attributes["event_id"] for message in drain(aws.sqs, aws.queue_url)]


def status_of(aws: Aws, event_id: str) -> Any:
    logged = aws.queries.get_event(event_id)
    return None if logged is None else logged["status"]


# Case 5: SNS accepted the message, its answer was lost


def test_a_lost_publish_answer_on_a_standard_topic_is_not_re_sent_within_the_call(
    aws: Aws, secret: str, faults: FaultInjector
) -> None:
    faults.fail("sns.Publish", Fault(lose_answer=True, times=1))
    event = fresh_event("invoice.paid")

    failed = deliver(event, secret)

    # One copy reached the consumer; the function did not send a second and says it is unsure
    assert failed.status == 503 and failed.body["error"] == "publish_uncertain"
    assert faults.attempts["sns.Publish"] == 1
    assert event_ids(aws) == [event["id"]]
    # Stripe's retry finishes the event: the one extra copy the contract allows, same event_id
    retried = deliver(event, secret, timestamp=int(time.time()) + 1)
    assert retried.status == 200 and retried.body["status"] == "processed"
    assert event_ids(aws) == [event["id"]]
    assert status_of(aws, event["id"]) == "PUBLISHED"
    assert deliver(event, secret).body["status"] == "duplicate"


def test_a_lost_publish_answer_on_a_fifo_topic_is_re_sent_and_deduplicated(
    fifo_aws: Aws, secret: str, faults: FaultInjector
) -> None:
    faults.fail("sns.Publish", Fault(lose_answer=True, times=2))
    event = fresh_event("invoice.paid")

    response = deliver(event, secret)

    assert response.status == 200 and response.body["status"] == "processed"
    assert faults.attempts["sns.Publish"] == 3  # two answers lost, three sends, one message
    messages = drain(fifo_aws.sqs, fifo_aws.queue_url)
    assert [message.attributes["event_id"] for message in messages] == [event["id"]]
    assert status_of(fifo_aws, event["id"]) == "PUBLISHED"


def published_attributes() -> list[dict[str, str]]:
    """The attributes of every ``Publish`` the function sends from now on (as sent, before SNS)."""
    sent: list[dict[str, str]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append({name: value["StringValue"] for name, value in params["MessageAttributes"].items()})

    aws_clients.session().get_component("event_emitter").register("provide-client-params.sns.Publish", record)
    return sent


def a_while_passes(aws: Aws, event_id: str, seconds: int) -> None:
    """The clock moves on by ``seconds`` for the stored event (Stripe's next retry comes later)."""
    aws.dynamodb.update_item(
        TableName=aws.table,
        Key={"pk": {"S": f"EVENT#{event_id}"}, "sk": {"S": "EVENT"}},
        UpdateExpression="SET publish_uncertain_at = publish_uncertain_at - :by",
        ExpressionAttributeValues={":by": {"N": str(seconds)}},
    )


def test_the_retry_after_a_lost_publish_answer_on_a_standard_topic_says_it_may_be_a_second_copy(
    aws: Aws, secret: str, faults: FaultInjector
) -> None:
    sent = published_attributes()
    faults.fail("sns.Publish", Fault(lose_answer=True, times=1))
    event = fresh_event("invoice.paid")

    assert deliver(event, secret).body["error"] == "publish_uncertain"
    logged = aws.queries.get_event(event["id"])
    assert logged is not None and isinstance(logged["publish_uncertain_at"], int)
    retried = deliver(event, secret, timestamp=int(time.time()) + 1)

    assert retried.status == 200 and retried.body["status"] == "processed"
    copies = drain(aws.sqs, aws.queue_url)
    assert [message.attributes.get("possible_duplicate") for message in copies] == [None, "true"]
    assert [attributes.get("possible_duplicate") for attributes in sent] == [None, "true"]


@pytest.mark.parametrize(
    ("later", "flagged"),
    [(60, False), (10 * 60, True), (6 * 3600, True)],
    ids=["1 minute later", "10 minutes later", "6 hours later"],
)
def test_a_fifo_topic_deduplicates_a_retry_only_inside_its_window_and_flags_one_past_it(
    fifo_aws: Aws, secret: str, faults: FaultInjector, later: int, flagged: bool
) -> None:
    sent = published_attributes()
    faults.fail("sns.Publish", Fault(lose_answer=True, times=3))  # every attempt of the call
    event = fresh_event("invoice.paid")

    first = deliver(event, secret)
    assert first.status == 503 and first.body["error"] == "publish_uncertain"
    a_while_passes(fifo_aws, event["id"], later)
    retried = deliver(event, secret, timestamp=int(time.time()) + 1)

    assert retried.status == 200 and retried.body["status"] == "processed"
    assert [attributes.get("possible_duplicate") for attributes in sent] == [None] * 3 + [
        "true" if flagged else None
    ]
    assert status_of(fifo_aws, event["id"]) == "PUBLISHED"


def test_a_takeover_of_a_holder_that_died_after_publishing_flags_its_publish(aws: Aws, secret: str) -> None:
    """Case 3 of the guarantees: the sandbox crashed between publish and mark. The lease runs
    out; the next delivery cannot know whether the message went out, so it says so."""
    sent = published_attributes()
    event = fresh_event("invoice.paid")
    assert deliver(event, secret).status == 200
    aws.dynamodb.update_item(  # as the crashed holder left it: published, never marked
        TableName=aws.table,
        Key={"pk": {"S": f"EVENT#{event['id']}"}, "sk": {"S": "EVENT"}},
        UpdateExpression="SET #s = :in_progress, lease_token = :t, lease_expires_at = :gone",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":in_progress": {"S": "IN_PROGRESS"},
            ":t": {"S": "dead"},
            ":gone": {"N": "1"},
        },
    )

    retried = deliver(event, secret, timestamp=int(time.time()) + 1)

    assert retried.status == 200 and retried.body["status"] == "processed"
    assert [attributes.get("possible_duplicate") for attributes in sent] == [None, "true"]


def test_a_fifo_topic_groups_by_object_and_deduplicates_a_redelivery_by_event_id(
    fifo_aws: Aws, secret: str
) -> None:
    paid, succeeded = fresh_event("invoice.paid"), fresh_event("invoice.payment_succeeded")
    assert deliver(paid, secret).status == 200
    assert deliver(succeeded, secret).status == 200
    # An operator redrives the first event by hand within 5 minutes: SNS FIFO drops the copy
    composition.components().publisher.publish(parse_event(encode(paid)))

    received = fifo_aws.sqs.receive_message(
        QueueUrl=fifo_aws.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
    )["Messages"]
    assert [message["Attributes"]["MessageDeduplicationId"] for message in received] == [
        paid["id"],
        succeeded["id"],
    ]
    assert {message["Attributes"]["MessageGroupId"] for message in received} == {paid["data"]["object"]["id"]}


def test_an_unreachable_sns_is_re_sent_because_nothing_was_sent(
    aws: Aws, secret: str, faults: FaultInjector
) -> None:
    from botocore.exceptions import EndpointConnectionError

    faults.fail(
        "sns.Publish", Fault(raise_=lambda: EndpointConnectionError(endpoint_url="https://sns"), times=2)
    )
    event = fresh_event("invoice.paid")

    assert deliver(event, secret).status == 200
    assert faults.attempts["sns.Publish"] == 3
    assert event_ids(aws) == [event["id"]]


# DynamoDB applied the request, its answer was lost, botocore sent it again


@pytest.mark.parametrize(
    ("event_type", "operation"),
    [("invoice.paid", "dynamodb.TransactWriteItems"), ("ping", "dynamodb.PutItem")],
    ids=["claim-with-records", "claim-without-records"],
)
def test_a_claim_whose_answer_was_lost_is_recognised_as_ours(
    aws: Aws, secret: str, faults: FaultInjector, event_type: str, operation: str
) -> None:
    faults.fail(operation, Fault(lose_answer=True, times=1))
    event = (
        fresh_event(event_type) if event_type != "ping" else {**fresh_event("invoice.paid"), "type": "ping"}
    )

    response = deliver(event, secret)

    # Not 409 "in progress" against our own claim: published now, once
    assert response.status == 200 and response.body["status"] == "processed"
    assert faults.attempts[operation] == 2
    assert event_ids(aws) == [event["id"]]
    assert status_of(aws, event["id"]) == "PUBLISHED"


def test_a_mark_whose_answer_was_lost_is_recognised_as_done(
    aws: Aws, secret: str, faults: FaultInjector, function_logs: Any
) -> None:
    faults.fail("dynamodb.UpdateItem", Fault(lose_answer=True, times=1))
    event = fresh_event("invoice.paid")

    response = deliver(event, secret)

    assert response.status == 200 and response.body["status"] == "processed"
    assert faults.attempts["dynamodb.UpdateItem"] == 2
    assert status_of(aws, event["id"]) == "PUBLISHED"
    assert "not marked published" not in function_logs.getvalue()


def test_a_takeover_whose_answer_was_lost_still_takes_over(
    aws: Aws, secret: str, faults: FaultInjector
) -> None:
    # Given a delivery whose publish failed (claim released), then a retry whose takeover's answer is lost
    faults.fail("sns.Publish", Fault("KMSDisabled", 400, times=1))
    event = fresh_event("invoice.paid")
    assert deliver(event, secret).status == 503
    faults.fail("dynamodb.UpdateItem", Fault(lose_answer=True, times=1))

    retried = deliver(event, secret, timestamp=int(time.time()) + 1)

    assert retried.status == 200 and retried.body["status"] == "processed"
    assert event_ids(aws) == [event["id"]]
    assert status_of(aws, event["id"]) == "PUBLISHED"


# The mark fails for the rest of the invocation: answered 200, counted, never silent


def test_a_mark_failing_until_the_deadline_is_answered_200_and_counted(
    aws: Aws,
    secret: str,
    faults: FaultInjector,
    monkeypatch: pytest.MonkeyPatch,
    function_logs: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(lease, "MARK_ROUNDS", 1)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    event = fresh_event("invoice.paid")
    faults.fail("dynamodb.UpdateItem", Fault("InternalServerError", 500))

    response = deliver(event, secret)

    # Stripe must not retry (that would publish again), so 200; the mark was re-sent once more
    assert response.status == 200 and response.body["status"] == "processed"
    assert faults.attempts["dynamodb.UpdateItem"] == 2 * 3  # two calls of botocore's 3 attempts
    assert event_ids(aws) == [event["id"]]
    assert status_of(aws, event["id"]) == "IN_PROGRESS"
    assert "not marked published" in function_logs.getvalue()
    assert '"PublishedNotMarked":[1.0]' in capfd.readouterr().out


# Case 4: too little of the invocation is left to publish and mark


def test_an_invocation_with_too_little_time_left_claims_nothing(
    aws: Aws, secret: str, faults: FaultInjector
) -> None:
    event = fresh_event("invoice.paid")

    response = deliver(event, secret, timeout_seconds=10)  # a publish and a mark may need 22 s

    assert response.status == 503 and response.body["error"] == "deadline_near"
    assert faults.attempts["dynamodb.TransactWriteItems"] == 0
    assert aws.queries.get_event(event["id"]) is None


def test_a_claim_that_used_up_the_invocation_is_released_and_the_retry_publishes_once(
    aws: Aws, secret: str, faults: FaultInjector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 1.5 s invocation (scaled down from 28 s) whose claim takes 0.7 s leaves less than the 1 s budget
    monkeypatch.setattr("stripe_webhook.core.budget.PUBLISH_BUDGET_SECONDS", 1.0)
    composition.components.cache_clear()  # the pipeline is built anew, on the same (faulty) session

    faults.fail("dynamodb.TransactWriteItems", Fault(delay_seconds=0.7, times=1))
    event = fresh_event("invoice.paid")

    response = deliver(event, secret, timeout_seconds=1.5)

    assert response.status == 503 and response.body["error"] == "deadline_near"
    assert faults.attempts["sns.Publish"] == 0
    assert status_of(aws, event["id"]) == "IN_PROGRESS"  # released: the lease ends now
    retried = deliver(event, secret, timestamp=int(time.time()) + 1)
    assert retried.status == 200 and retried.body["status"] == "processed"
    assert event_ids(aws) == [event["id"]]
