@borrowing @behaviour @guide_temp_item_creation_rule @guide_item_policy
Feature: Temporary items of received borrowing requests land in the borrowing location
  When staff receive a borrowed book, Alma creates a temporary item owned by the request's
  resource sharing library, in its borrowing location (CLSBORR in WRLC's guide), with the
  resource sharing item policy, under a bib hidden from discovery. Staff receive one request
  by hand in the sandbox before the run; Alma has no API for receiving.

  Scenario: Each received request's temporary item is where the temporary item rule puts it
    When the temporary items of the received borrowing requests are read from Alma
    Then each temporary item is owned by its request's resource sharing library
    And each temporary item sits in that library's borrowing location
    And each temporary item carries the resource sharing item policy
    And each temporary item's title is suppressed from discovery
