"""A CRM update (``customer.upserted``) applied to the thread store: the router applies
each as it comes, and ``state rebuild`` replays them in order, through this one code."""

from __future__ import annotations

from consumers.state.threads import ThreadStore
from router.actions import CustomerUpserted

PROFILE_FIELDS = frozenset({"name", "tier", "language", "attributes"})
"""What a customer's stored profile keeps of an upsert (with its ``id`` as ``crm_id``)."""


def upsert_identities(action: CustomerUpserted) -> list[str]:
    """The identities a CRM upsert links, strongest first, as threading spells them."""
    named = (
        f"email:{action.email}" if action.email else None,
        f"phone:{action.phone}" if action.phone else None,
        f"crm:{action.id}" if action.id else None,
    )
    return [i for i in named if i]


async def upsert_customer(store: ThreadStore, action: CustomerUpserted) -> None:
    """Resolve the upsert's identities to one customer (linking the unknown ones, merging
    the customers they named) and merge its profile fields into that customer's."""
    [customer_id] = await store.resolve_customers([upsert_identities(action)])
    profile = action.model_dump(include=set(PROFILE_FIELDS), exclude_none=True)
    if action.id:
        profile["crm_id"] = action.id
    await store.merge_profile(customer_id, profile)
