"""The consumer kit: perform a business action exactly once per business fact.

A consumer is an SQS-triggered function reading the messages the webhook publishes
(``functions/contract/``). For each message it finds the actions registered for the event's type,
lets each decide whether it applies now and under which business key (a Checkout Session id, an
invoice id), and performs it through Powertools' Idempotency utility, keyed on the action and that
key: a duplicate, a redrive, or a second event type for the same fact finds the action done.
Powertools' ``BatchProcessor`` reports each failed message on its own, so one poison message never
holds back the rest of its batch.

    messages.py     SQS record (raw or SNS envelope) → ``ActionEvent``; schema; large payloads
    actions.py      what an action is (``Action``, ``Run``, ``Wait``) and the registry by type
    consumer.py     the batch: parse, decide, perform once, report
    examples.py     fulfil_order, entitlement, dispute_alert
    adapters.py     DynamoDB, SES and SNS for the example actions
    composition.py  builds all of it from the environment; ``app.py`` is the Lambda entry point

It reads the webhook's table through ``stripe_webhook.queries`` and its payload store through
``stripe_webhook.payloads``: one definition of keys and pointers for both sides.
"""
