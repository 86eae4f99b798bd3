"""The consumer kit: perform a business action exactly once per business fact.

An SQS-triggered function reads the messages the webhook publishes (``functions/contract/``), lets
each registered action decide whether it applies and under which business key, and performs it
once through Powertools' Idempotency (``consumer.py``). The same shape as the webhook: ``app.py``
→ ``composition.Components`` → ``consumer.Consumer``. How to write an action: docs/actions.md.
"""
