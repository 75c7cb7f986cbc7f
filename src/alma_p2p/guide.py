"""The configuration items of WRLC's P2P guide, plus the PALS patron rule, in guide order.

Each scenario names the items it proves with a tag ``@guide_<id>``; the readiness report
gives one row per item. ``menu`` is where in Alma the item is set (from the guide);
``manual`` is what a person checks where Alma's API cannot read it (alma-api.md §6.7).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GuideItem:
    id: str
    title: str
    menu: str
    manual: str = ""


GUIDE: tuple[GuideItem, ...] = (
    GuideItem(
        "patron_rs_library",
        "Patron's resource sharing library (PALS)",
        "User record > Resource Sharing Library (bulk: Update/Notify Users job)",
    ),
    GuideItem(
        "rs_library",
        "Resource Sharing Library",
        "Configuration > (RS library) > Fulfillment > Library Management > Library Details",
        "Resource Sharing Information: Symbol is your OCLC symbol. Borrowing Information: "
        "Cancel Request on Locate Failure and Automatically Activate Locate Profile ticked, "
        "Default Pickup Location set. Lending Information: Automatically Locate Resource, "
        "Ignore Electronic Resources and Automatic Creation ticked. Locate By Fields: Title, "
        "Author, ISBN/ISSN, System Control Number, LCCN (010)",
    ),
    GuideItem(
        "temporary_locations",
        "Temporary Resource Sharing Locations",
        "Configuration > (RS library) > Fulfillment > Locations > Physical Locations",
    ),
    GuideItem(
        "jobs",
        "Resource Sharing Jobs",
        "Configuration > Fulfillment > General > Fulfillment Jobs Configuration",
    ),
    GuideItem(
        "other_settings",
        "Other Resource Sharing Settings",
        "Configuration > Fulfillment > General > Other Settings",
        "The other settings hold the code of your RS library and of your temporary "
        "borrowing location, as the guide's table lists them",
    ),
    GuideItem(
        "workflow_profiles",
        "Workflow Profiles",
        "Configuration > Fulfillment > Resource Sharing > Workflow Profiles",
        "Borrowing profile steps: Automatic renew, Cancelled By Patron, Cancelled by partner, "
        "Cancelled by staff, Conditional, Lender check in, Manual renew, Reject, Renew "
        "requested, Request accepted, Will supply. Lending profile steps: Borrower recall, "
        "Cancel reply, Conditional, Lender check in, Patron renewal, Staff renewal",
    ),
    GuideItem(
        "partners",
        "Resource Sharing Partners",
        "Fulfillment > Resource Sharing > Partners",
    ),
    GuideItem(
        "item_policy",
        "Item Policy",
        "Configuration > (RS library) > Fulfillment > Physical Fulfillment > Item Policy",
    ),
    GuideItem(
        "temp_item_creation_rule",
        "Temporary Item Creation Rule",
        "Configuration > (RS library) > Fulfillment > Library Management > Temporary Item "
        "Creation Rules",
        "The rule's input is Resource Sharing Partner InList your P2P partners, and it is at "
        "the top of the list",
    ),
    GuideItem(
        "fulfillment_policies",
        "Fulfillment Policies",
        "Configuration > Fulfillment > Physical Fulfillment > Advanced Policy Configuration",
        "The policies agreed with your lending partners exist (loan period, renewals)",
    ),
    GuideItem(
        "terms_of_use",
        "Loan, Borrowing RS and Lending RS Terms of Use",
        "Configuration > Fulfillment > Physical Fulfillment > Terms of Use and Policies",
        "A Loan TOU, a Lending Resource Sharing TOU and a Borrowing Resource Sharing TOU use "
        "the agreed policies",
    ),
    GuideItem(
        "fulfillment_unit_rules",
        "Fulfillment Unit Rules",
        "Configuration > (RS library) > Fulfillment > Physical Fulfillment > Fulfillment Units",
        "The RS fulfillment unit has Loan, Lending Resource Sharing and Borrowing Resource "
        "Sharing rules (the last with the user groups allowed to borrow), each above any other "
        "rule that could match",
    ),
    GuideItem(
        "rota_template",
        "Rota Template",
        "Fulfillment > Resource Sharing > Rota Templates",
        "The template lists your peer-to-peer partners",
    ),
    GuideItem(
        "rota_assignment_rule",
        "Rota Assignment Rule",
        "Configuration > Fulfillment > Resource Sharing > Rota Assignment Rules",
        "The rule follows your lending agreement and is at the top of the list",
    ),
    GuideItem(
        "sending_rule",
        "Sending Borrowing Request Rule",
        "Configuration > Fulfillment > Resource Sharing > Sending Borrowing Request Rules",
    ),
)

BY_ID = {item.id: item for item in GUIDE}
TAG_PREFIX = "guide_"
