"""The dispatcher (``notify-svc send``): takes due messages from the notification log and hands
them to the providers, exactly once per (event, recipient, channel).

One round:

1. **Fan-out.** Recipient jobs (a forum's participants, a role's staff) are expanded one page at
   a time; each page's rows and the job's cursor commit together.
2. **Claim.** Due rows (``pending``/``deferred`` whose time has come, and ``sending`` rows whose
   lease ran out because their worker died) are locked with ``FOR UPDATE SKIP LOCKED``, so that
   several dispatchers never take the same row. Opted-out citizens and channels they no longer
   accept are skipped; outside urgent messages, quiet hours (21:00 to 08:00 KST) defer the row to
   08:00 unless the citizen consented. The rest become ``sending`` with ``attempts + 1`` and a
   lease, and that **commits before any provider is called**.
3. **Send.** The phone number is fetched from identity-svc (memory only), the provider's token
   bucket is waited for, and the message goes out with its idempotency key.
4. **Record.** The result is written only if the row is still ours (same status and attempt):
   accepted → ``sent``; retryable (429, 5xx, timeouts) → ``pending`` again after exponential
   backoff with jitter, at least the provider's Retry-After, or ``dead`` after the last
   attempt; refused → ``failed``. A failed or dead AlimTalk queues its SMS/LMS fallback once.

A worker killed between 3 and 4 leaves the row ``sending``; after the lease another round sends
it again with the **same idempotency key**, which the provider answers "already accepted"
(NHN keeps keys for 10 minutes: the lease must stay well below that), and the row ends ``sent``
with the provider holding one message.

5. **Confirm.** ``sent`` rows whose confirmation is due are polled at their provider; webhooks
   usually get there first.

Modules: :mod:`.policy` (the numbers and the rule for each claimed row), :mod:`.providers`
(which provider sends each channel), :mod:`.dispatcher` (the rounds; it owns their
transactions), :mod:`.worker` (the ``notify-svc send`` process built from the context).
"""
