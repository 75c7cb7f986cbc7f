@api @guide_item_policy
Feature: The resource sharing item policy
  Temporary items of borrowed books get the RS item policy, defined at the RS library
  level; the temporary item creation rule applies it (the temporary-items scenario shows
  it applied).

  Scenario: The item policy exists in each resource sharing library
    When the item policies of each resource sharing library are read from Alma
    Then the profile's item policy is among them
