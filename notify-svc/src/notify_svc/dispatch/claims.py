"""What the dispatcher holds for a claimed message, and which claimed messages travel together
in one bulk request.

A message goes into a bulk request (:func:`partition`) when its provider has a bulk API
(NHN AlimTalk's ``recipientList``) and nothing suggests it may have left already: it is on its
first attempt, or its earlier attempts were refused before reaching the provider (a 429, the
directory down), and it was not taken over from a worker that died. Every other message goes
alone with its own idempotency key, after the provider is asked whether an earlier attempt got
through (``Providers.finder``): a bulk request's key is not the message's, so only a look-up
can tell.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from notify_svc.directory import Contact
from notify_svc.dispatch.providers import Providers
from notify_svc.models import Notification
from notify_svc.providers.base import Channel, NotifyProvider, OutboundMessage, batch_capacity

#: Error codes of attempts known not to have reached the provider.
NOT_SENT_ERRORS: Final = frozenset({"http_429", "directory_unavailable"})


@dataclass(frozen=True)
class Claim:
    """What a claimed row needs for sending, read while the claim was taken."""

    id: uuid.UUID
    citizen_id: uuid.UUID
    channel: str
    template_code: str
    variables: dict[str, str]
    text: str
    title: str | None
    idempotency_key: str
    attempts: int
    provider: str
    #: May travel in a bulk request (see the module doc).
    batchable: bool = False

    @classmethod
    def of(cls, row: Notification, provider: str, *, taken_over: bool = False) -> Claim:
        """The claim of a row just marked ``sending`` through ``provider`` (``taken_over``: it
        was ``sending`` under a worker whose lease ran out)."""
        return cls(
            id=row.id,
            citizen_id=row.citizen_id,
            channel=row.channel,
            template_code=row.template_code,
            variables={str(k): str(v) for k, v in row.variables.items()},
            text=row.text,
            title=row.title,
            idempotency_key=row.idempotency_key,
            attempts=row.attempts,
            provider=provider,
            batchable=not taken_over and (row.attempts <= 1 or row.error_code in NOT_SENT_ERRORS),
        )

    def outbound(self, phone: str) -> OutboundMessage:
        """The message handed to the provider."""
        alimtalk = self.channel == Channel.ALIMTALK
        return OutboundMessage(
            idempotency_key=self.idempotency_key,
            to=phone,
            channel=Channel(self.channel),
            text=self.text,
            # Our code: the adapters map it to the code registered at Kakao / the provider.
            template_code=self.template_code if alimtalk else None,
            variables=self.variables if alimtalk else {},
            title=self.title,
        )


#: A claimed message and how to reach its citizen.
Ready = tuple[Claim, Contact]


def partition(
    ready: Sequence[Ready], providers: Providers
) -> tuple[list[Ready], list[tuple[NotifyProvider, list[Ready]]]]:
    """The messages to send one by one, and the bulk requests (provider, messages of one
    template, at most the provider's batch size each)."""
    singles: list[Ready] = []
    groups: dict[tuple[str, str, str], list[Ready]] = {}
    for item in ready:
        claim = item[0]
        provider = providers.for_channel(claim.channel)
        if batch_capacity(provider) <= 1 or not claim.batchable:
            singles.append(item)
            continue
        groups.setdefault((provider.name, claim.channel, claim.template_code), []).append(item)
    batches: list[tuple[NotifyProvider, list[Ready]]] = []
    for items in groups.values():
        provider = providers.for_channel(items[0][0].channel)
        size = batch_capacity(provider)
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            if len(chunk) == 1:
                singles.extend(chunk)
            else:
                batches.append((provider, chunk))
    return singles, batches
