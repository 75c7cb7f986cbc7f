@analytics
Feature: Policies and rules read through Alma Analytics
  Alma's REST configuration API cannot read fulfillment policies, terms of use or fulfillment
  unit rules; the "Configurations (Limited)" subject area of Alma Analytics can (whether it
  includes the resource sharing terms of use is UNVERIFIED). When the profile names a saved
  report for an item, the report must hold the rows the profile expects; otherwise the item
  is a checklist line for a person, like the other manual items.

  @guide_fulfillment_policies
  Scenario: The fulfillment policies agreed with the partners exist
    When the Analytics report for "fulfillment_policies" is read
    Then it holds every row the profile expects

  @guide_terms_of_use
  Scenario: The Loan, Borrowing and Lending resource sharing terms of use exist
    When the Analytics report for "terms_of_use" is read
    Then it holds every row the profile expects

  @guide_fulfillment_unit_rules
  Scenario: The fulfillment unit rules apply the resource sharing terms of use first
    When the Analytics report for "fulfillment_unit_rules" is read
    Then it holds every row the profile expects
