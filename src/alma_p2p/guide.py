"""The configuration items of WRLC's P2P guide, plus the PALS patron rule, in guide order.

Each scenario names the items it proves with a tag ``@guide_<id>``; the readiness report
gives one row per item. ``menu`` is where in Alma the item is set (from the guide);
``manual`` is what a person checks where Alma's API cannot read it (alma-api.md §6.7);
``fixes`` are the paths a failed check names for one problem of the item, by problem,
with ``{placeholders}`` that :meth:`GuideItem.fix` fills.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GuideItem:
    id: str
    title: str
    menu: str
    manual: str = ""
    fixes: Mapping[str, str] = field(default_factory=dict, compare=False)

    def fix(self, problem: str, **values: str) -> str:
        """Where in Alma ``problem`` of this item is fixed, its placeholders filled."""
        return self.fixes[problem].format(**values)


GUIDE: tuple[GuideItem, ...] = (
    GuideItem(
        "patron_rs_library",
        "Patron's resource sharing library (PALS)",
        "User record > Resource Sharing Library (bulk: Update/Notify Users job)",
        fixes={
            # The field named in the PALS article; the bulk route is the job PALS runs for
            # multi-library institutions (alma-rs-workflow.md §4).
            "patron": "fix it in Alma on the patron record (Resource Sharing Library field, "
            "User Management > Manage Users > Edit user > General Information), or in bulk "
            "with the job that assigns RS libraries (Admin > Run a Job > Update/Notify Users "
            "on a set)",
        },
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
        fixes={
            # Steps 1-2 of the guide's "Resource Sharing Library".
            "flag": "Configuration > (select the library in 'Configuring') > Fulfillment > "
            "Library Management > Library Details > Resource Sharing Information > tick "
            "'Is Resource Sharing Library'",
            # Step 4: the Lending Information flags that reject what cannot be supplied.
            "lending_flag": "Configuration > (select {library}) > Fulfillment > Library "
            "Management > Library Details > Lending Information > tick '{flag}'",
            "default_location": "Configuration > Fulfillment > Library Management > Library "
            "Details > Borrowing Information > Default Location",
            "owner": "check the patron's Resource Sharing Library field and, for requests "
            "from Primo, the RS library's borrowing setup (Configuration > Fulfillment > "
            "Library Management > Library Details > Borrowing Information)",
            "lending_requests": "Fulfillment > Resource Sharing > Lending Requests",
        },
    ),
    GuideItem(
        "temporary_locations",
        "Temporary Resource Sharing Locations",
        "Configuration > (RS library) > Fulfillment > Locations > Physical Locations",
        fixes={
            "location": "Configuration > (select {library}) > Fulfillment > Locations > "
            "Physical Locations",
            # UNVERIFIED(location.circ_desk_fields): the text says so to the reader.
            "desk": "Configuration > (select {library}) > Fulfillment > Locations > Physical "
            "Locations > {location} > Physical Location Circulation Desk List > Attach "
            "Existing Circulation Desk {desk} with Check In, Check Out and Reshelve (field "
            "names read from Alma are UNVERIFIED)",
        },
    ),
    GuideItem(
        "jobs",
        "Resource Sharing Jobs",
        "Configuration > Fulfillment > General > Fulfillment Jobs Configuration",
        fixes={
            "failed_run": "Admin > Monitor Jobs > History",
            "scheduled": "Admin > Monitor Jobs > Scheduled tab (the job's Schedule and whether "
            "it is Active)",
        },
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
        fixes={
            "partner": "Fulfillment > Resource Sharing > Partners > (partner) > Edit",
            "missing": "Fulfillment > Resource Sharing > Partners > Community",
        },
    ),
    GuideItem(
        "item_policy",
        "Item Policy",
        "Configuration > (RS library) > Fulfillment > Physical Fulfillment > Item Policy",
        fixes={
            "missing": "Configuration > (select {library}) > Fulfillment > Physical "
            "Fulfillment > Item Policy > Add Row",
        },
    ),
    GuideItem(
        "temp_item_creation_rule",
        "Temporary Item Creation Rule",
        "Configuration > (RS library) > Fulfillment > Library Management > Temporary Item "
        "Creation Rules",
        "The rule's input is Resource Sharing Partner InList your P2P partners, and it is at "
        "the top of the list",
        fixes={
            "temporary_item": "check the temporary item creation rule of the RS library "
            "(Configuration > (the RS library) > Fulfillment > Library Management > Temporary "
            "Item Creation Rules: input 'Resource Sharing Partner' InList your P2P partners, at "
            "the top of the list) and the RS library's borrowing Default Location",
        },
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
        fixes={
            "sending": "check the Rota Template (Fulfillment > Resource Sharing > Rota "
            "Templates), the Rota Assignment Rules and the Sending Borrowing Request Rules "
            "(Configuration > Fulfillment > Resource Sharing)",
        },
    ),
)

BY_ID = {item.id: item for item in GUIDE}
TAG_PREFIX = "guide_"
