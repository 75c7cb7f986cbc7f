@manual
Feature: Configuration that Alma's API cannot read
  These items of the P2P guide are not readable through Alma's REST API (no endpoint; see
  alma-api.md §6.7). Each is a checklist line in the readiness report; it becomes
  "attested" when fixtures/institutions/<name>/attestations.yaml records who checked it
  and when. They never pass or fail by themselves.

  @guide_rs_library
  Scenario: The RS library's borrowing, lending and locate settings are as the guide says
    Then a person has checked "rs_library"

  @guide_other_settings
  Scenario: The other resource sharing settings name the RS library and borrowing location
    Then a person has checked "other_settings"

  @guide_workflow_profiles
  Scenario: The workflow profiles have the steps the guide lists
    Then a person has checked "workflow_profiles"

  @guide_temp_item_creation_rule
  Scenario: The temporary item creation rule matches the P2P partners and comes first
    Then a person has checked "temp_item_creation_rule"

  @guide_rota_template
  Scenario: The rota template lists the peer-to-peer partners
    Then a person has checked "rota_template"

  @guide_rota_assignment_rule
  Scenario: The rota assignment rule follows the lending agreement and comes first
    Then a person has checked "rota_assignment_rule"
