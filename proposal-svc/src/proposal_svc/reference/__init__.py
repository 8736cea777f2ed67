"""Reference data a front end builds its forms and filters from: the proposal categories with
their Korean and English labels, Seoul's 25 districts (자치구) with their official codes, and the
configured agreement tiers (docs/proposals.md "Reference data").

``data`` holds the fixed tables (and the district lookup the proposal schema validates with),
``routes`` and ``schemas`` the HTTP surface. This ``__init__`` imports nothing.
"""
