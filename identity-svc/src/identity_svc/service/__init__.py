"""identity-svc's use cases, one module per sub-domain: ``verification`` (real-name verification
and sign-in), ``sessions`` (access and refresh tokens, signing-key rotation), ``citizens``
(citizens, staff roles, suspensions), ``contacts`` (the sealed mobile numbers notify-svc reads).

Each takes the session and, when it needs more, the context
(:class:`~identity_svc.bootstrap.IdentityContext`). They never commit: the request, CLI or worker boundary that called them owns the transaction
(``services.db``), so a state change and its outbox rows land together or not at all.
"""
