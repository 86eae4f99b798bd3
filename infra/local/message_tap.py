"""What a queue of the inbox's own receives from the topic, by event id: the message a consumer
queue got, read without taking anything from the user's queue."""

from __future__ import annotations

import threading
import time
from typing import Any

from infra.local.inbox import DEFAULT_SIZE, POLL_SECONDS


class MessageTap:
    """The messages a queue of the inbox's own receives from the topic, by event id (the last
    ``size``): what a consumer queue got, read without taking anything from the user's queue."""

    def __init__(self, sqs: Any, queue_url: str, size: int = DEFAULT_SIZE) -> None:
        self._sqs, self._queue_url, self._size = sqs, queue_url, size
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self) -> MessageTap:
        threading.Thread(target=self._run, name="inbox-message-tap", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def get(self, event_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._messages.get(event_id, []))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                received = self.poll()
            except Exception:  # the stack is stopping, or moto hiccuped: try again
                received = 0
            if not received:
                self._stop.wait(POLL_SECONDS)

    def poll(self) -> int:
        received = self._sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        for message in received:
            attributes = {
                name: value.get("StringValue") for name, value in message.get("MessageAttributes", {}).items()
            }
            with self._lock:
                self._messages.setdefault(str(attributes.get("event_id")), []).append(
                    {"attributes": attributes, "body": message["Body"], "received_at": time.time()}
                )
                while len(self._messages) > self._size:
                    self._messages.pop(next(iter(self._messages)))
            self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(received)
