"""Who may take part: eligibility rules as configuration, checked against the access token.

The city decides who may vote, propose and comment -- a minimum age, whether foreign nationals
take part, whether only residents, workers and students of the city do -- and writes it in one
JSON document every service reads from ``PLATFORM_ELIGIBILITY`` (docs/identity.md)::

    {"min_age": 14, "foreigners_allowed": true, "residency_required": false,
     "actions": {"propose": {"min_age": 18}}}

The top-level rules hold for every action; ``actions`` overrides some of them for one action
(``vote``: agreements and forum ballots; ``propose``; ``comment``). Unset, nobody is refused.

The check reads only the token's claims (``age``, ``foreigner``, ``residency``, which
identity-svc computes when it issues the token): no database and no call to identity-svc, so it
costs nothing on the voting hot path. A rule whose claim the token does not carry refuses (the
claim is unknown, so the rule cannot be shown to hold). A refusal is a 403 problem whose type
names the rule: ``ineligible-age``, ``ineligible-foreigner``, ``ineligible-residency``.

Services put :func:`require_eligible` on the routes where citizens act; staff routes do not
carry it (a committee member deciding on a proposal is not "taking part").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from services.auth import Principal, current_principal
from services.problems import ProblemError

Action = Literal["vote", "propose", "comment"]
ACTIONS: tuple[Action, ...] = ("vote", "propose", "comment")


class EligibilityRules(BaseModel):
    """The rules one action is held to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Youngest age, in whole years, that may take part (``None``: no minimum).
    min_age: int | None = Field(default=None, ge=0, le=150)
    #: Whether citizens verified as foreign nationals take part.
    foreigners_allowed: bool = True
    #: Whether only residents, workers and students of the city take part (needs a provider
    #: that vouches for it; a citizen no provider vouched for is refused).
    residency_required: bool = False


class RuleOverrides(BaseModel):
    """Rules of one action that differ from the platform's (unset: as the platform's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_age: int | None = Field(default=None, ge=0, le=150)
    foreigners_allowed: bool | None = None
    residency_required: bool | None = None


class EligibilityPolicy(EligibilityRules):
    """The platform's rules and, per action, what differs from them."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "min_age": 14,
                    "foreigners_allowed": True,
                    "residency_required": False,
                    "actions": {"propose": {"min_age": 18}},
                }
            ]
        },
    )

    actions: dict[Action, RuleOverrides] = Field(default_factory=dict)

    def rules(self, action: Action) -> EligibilityRules:
        """The rules ``action`` is held to."""
        base = EligibilityRules(
            min_age=self.min_age,
            foreigners_allowed=self.foreigners_allowed,
            residency_required=self.residency_required,
        )
        overrides = self.actions.get(action)
        if overrides is None:
            return base
        return base.model_copy(update=overrides.model_dump(exclude_none=True))


class EligibilitySettings(BaseModel):
    """Settings mixin of a service whose citizens' actions are held to the platform's rules:
    ``class VoteSettings(ServiceSettings, EligibilitySettings)``. The rules are read from
    ``PLATFORM_ELIGIBILITY`` (one variable for every service, whatever its prefix) or given as
    ``eligibility=`` in code."""

    model_config = ConfigDict(populate_by_name=True)

    eligibility: EligibilityPolicy = Field(
        default_factory=EligibilityPolicy, validation_alias="PLATFORM_ELIGIBILITY"
    )


def _refuse(slug: str, title: str, detail: str, action: Action, **extra: Any) -> ProblemError:
    return ProblemError(403, slug, title, detail, action=action, **extra)


def check(principal: Principal, action: Action, policy: EligibilityPolicy) -> None:
    """Refuse ``principal`` taking ``action`` under ``policy``: 403 ``ineligible-age``,
    ``ineligible-foreigner`` or ``ineligible-residency`` (the first rule that does not hold)."""
    rules = policy.rules(action)
    if rules.min_age is not None and (principal.age is None or principal.age < rules.min_age):
        detail = (
            f"taking part ({action}) needs an age of at least {rules.min_age}"
            if principal.age is not None
            else "the access token carries no verified age: refresh it, or verify again"
        )
        raise _refuse(
            "ineligible-age", "Below the minimum age", detail, action, min_age=rules.min_age
        )
    if not rules.foreigners_allowed and principal.foreigner is not False:
        detail = (
            f"taking part ({action}) is open to Korean nationals only"
            if principal.foreigner
            else "the access token carries no verified nationality: refresh it, or verify again"
        )
        raise _refuse("ineligible-foreigner", "Open to Korean nationals only", detail, action)
    if rules.residency_required and principal.residency is None:
        raise _refuse(
            "ineligible-residency",
            "Open to residents, workers and students of the city",
            f"taking part ({action}) needs a verified residence, workplace or school in the city",
            action,
        )


def policy_of(app: FastAPI) -> EligibilityPolicy:
    """The policy of the app's service: ``app.state.ctx.settings.eligibility`` (the settings
    derive from :class:`EligibilitySettings`)."""
    settings = app.state.ctx.settings
    if not isinstance(settings, EligibilitySettings):
        raise TypeError(f"{type(settings).__name__} does not derive from EligibilitySettings")
    return settings.eligibility


PrincipalDependency = Callable[..., Awaitable[Principal]]


def require_eligible(
    action: Action, caller: PrincipalDependency = current_principal
) -> PrincipalDependency:
    """A route dependency: the caller (as ``caller`` gives them, e.g.
    ``require_roles("citizen")``) if the platform's rules let them take ``action``, 403 otherwise.
    Reads the token's claims only."""

    # A default, not an Annotated[...] annotation: annotations are strings here (PEP 563) and
    # FastAPI could not resolve ``caller``, a closure variable, from one.
    async def dependency(request: Request, principal: Principal = Depends(caller)) -> Principal:
        check(principal, action, policy_of(request.app))
        return principal

    return dependency
