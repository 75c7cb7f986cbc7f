"""Steps about the item policy of each resource sharing library."""

from __future__ import annotations

from pytest_bdd import then, when

from alma_p2p.alma import AlmaClient
from alma_p2p.guide import BY_ID
from alma_p2p.profile import Profile
from alma_p2p.suite.steps.common import fail_with

ITEM_POLICY = BY_ID["item_policy"]


@when(
    "the item policies of each resource sharing library are read from Alma",
    target_fixture="item_policies",
)
def _(alma: AlmaClient, alma_institution: Profile) -> dict[str, tuple[str, ...]]:
    return {
        lib.code: alma.code_table("ItemPolicy", scope=lib.code).codes()
        for lib in alma_institution.resource_sharing_libraries
    }


@then("the profile's item policy is among them")
def _(
    item_policies: dict[str, tuple[str, ...]],
    alma_institution: Profile,
    alma_evidence: list[str],
) -> None:
    problems = []
    for lib in alma_institution.resource_sharing_libraries:
        codes = item_policies[lib.code]
        alma_evidence.append(f"{lib.code} ItemPolicy={','.join(codes)}")
        if lib.item_policy is None:
            problems.append(f"{lib.code}: the profile names no item_policy to look for")
        elif lib.item_policy not in codes:
            problems.append(
                f"{lib.code} has no item policy {lib.item_policy} (it has: "
                f"{', '.join(codes) or 'none'}): {ITEM_POLICY.fix('missing', library=lib.code)}"
            )
    fail_with(problems, f"{alma_institution.name}: RS item policy missing:")
