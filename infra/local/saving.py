"""What a ``--persist`` run puts back when it starts and saves when it stops (``persist``), said
in one line each: how much, what was carried over unchanged, and why nothing was saved."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from infra.local import persist

if TYPE_CHECKING:
    from infra.local.inbox import Inbox
    from infra.local.moto_server import LocalAws
    from infra.local.resources import ActionResources, LocalResources


def targets_of(resources: LocalResources, actions: ActionResources | None) -> persist.Targets:
    """The events table, bucket and consumer queue, and the actions' tables and queues if they run."""
    queues: dict[str, str] = {}
    for queue in actions.queues.values() if actions else []:
        for url in (queue.queue_url, queue.dead_letter_url):
            queues[url.rstrip("/").rsplit("/", 1)[-1]] = url
    return persist.Targets(
        table=resources.table_name,
        bucket=resources.bucket,
        queue_url=resources.queue_url,
        tables=(actions.idempotency_table, actions.actions_table) if actions else (),
        queues=queues,
    )


class PersistedRun:
    """One ``--persist`` run: ``restore`` at start, ``save`` at stop."""

    def __init__(
        self,
        aws: LocalAws,
        client: Callable[[str], Any],
        targets: persist.Targets,
        inbox: Inbox | None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.aws, self.client, self.targets, self.inbox, self.say = aws, client, targets, inbox, say
        self.restored = persist.Restored()

    def restore(self) -> None:
        directory = persist.state_dir()
        self.restored = persist.restore(directory, self.client, self.targets, self.inbox, self.say)
        held = _holds(self.restored.carried)
        carried = " (keeping unchanged what this run has no place for)" if held else ""
        count = self.restored.count
        self.say(f"restored {count} saved items, objects, messages, requests ({directory}){carried}")

    def save(self) -> None:
        if self.restored.moved_to is not None:
            kept = self.restored.moved_to.name
            self.say(f"not saving: this run restored only part of {kept}, which is kept as it was")
            return
        try:
            saved = persist.save(
                persist.state_dir(),
                self.client,
                self.targets,
                self.inbox,
                queue_messages=self.aws.queue_messages,
                carried=self.restored.carried,
            )
        except Exception as error:  # the stack is stopping: say it, and keep the old snapshot
            self.say(f"could not save the local state ({error}); the snapshot saved before is kept as it was")
            return
        carried = f", and kept unchanged {saved.carried} this run did not restore" if saved.carried else ""
        count = saved.count
        self.say(f"saved {count} items, objects, messages, requests for the next --persist run{carried}")


def _holds(parts: dict[str, Any]) -> bool:
    return any(value for value in parts.values())
