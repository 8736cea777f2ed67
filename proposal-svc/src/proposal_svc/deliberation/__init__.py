"""Deliberation: comments on proposals and stance-taking opinions in forums, likes, citizens'
reports and moderation (docs/deliberation.md).

Opinions are comments of another kind, in the same table: a comment belongs to a proposal (and
may answer another comment), an opinion belongs to a forum and carries a stance. Likes, reports,
the text rules, the holds at posting time and the moderators' decisions apply to both.

The modules, from the outside in: ``routes`` and ``routes_moderation`` (HTTP), ``deps`` (who may
call), ``schemas`` and ``schemas_moderation`` (bodies), the use cases ``comments``, ``opinions``,
``reactions`` (likes and reports) and ``moderation``, their queries in ``repository``, the tables
in ``models``, and the rules ``text`` (what a text may contain), ``wordlist`` and ``screening``
(what holds a comment for review), ``settings`` (their configuration).

This package's ``__init__`` imports nothing: ``proposal_svc.config`` imports ``settings`` from
here, and the routes import the config.
"""
