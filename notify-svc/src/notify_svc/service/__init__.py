"""notify-svc's use cases, one module per part of a message's life:

- :mod:`.preferences`: what a citizen accepts (channels, opt-out, night-time consent);
- :mod:`.planning`: planning messages for an event's recipients (and the fan-outs whose
  recipients another service knows), the proposals read model;
- :mod:`.delivery`: the state changes of a message (sending, deferred, retry, sent, failed,
  dead, skipped, the SMS/LMS fallback) and the delivery reports that move it;
- :mod:`.reads`: what the API lists, and the operator's requeue of a dead message.

Functions take the caller's session and never commit: the consumer, the dispatcher or the request
owns the transaction (``services.db``). Shared queries are in :mod:`notify_svc.repository`.
"""
