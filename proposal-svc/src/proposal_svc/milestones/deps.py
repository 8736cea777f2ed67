"""Milestones' request dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.auth import Principal, require_roles

#: The staff roles that publish milestones, the first one the caller holds named as publisher.
PUBLISHER_ROLES = ("department", "mayor_office", "admin")

#: Staff who carry out proposals: departments, the mayor's office, admins.
CurrentMilestoneStaff = Annotated[Principal, Depends(require_roles(*PUBLISHER_ROLES))]
