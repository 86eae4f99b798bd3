"""The local stack and the developer tools that talk to it.

python -m infra.local               the stack: moto as AWS, the function behind an HTTP front
python -m infra.local.trigger       send realistic, signed events
python -m infra.local.inspector     look at the event log, records and the consumer queue
python -m infra.local.sam_events    signed API Gateway events for ``sam local invoke``
"""
