"""The actions function's configuration error, as the webhook has its own (``stripe_webhook.errors``).

A message the kit cannot read is a ``messages.PoisonMessage``; an effect that may have happened is
an ``effects.EffectUncertain``; an action that raised fails its message (``consumer.ActionFailed``).
"""

from __future__ import annotations


class ConfigurationError(ValueError):
    """The function's environment is wrong: every message fails (retried) until it is fixed. Like
    the webhook's, it carries a stable ``code`` and a ``message`` that names what to fix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
