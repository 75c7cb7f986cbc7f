@api @guide_temporary_locations
Feature: Temporary resource sharing locations
  Temporary items of borrowed books live in the RS library's borrowing location, and lent
  items move to its lending location (CLSBORR and CLSLEND in WRLC's guide). Each must exist
  in the RS library, belong to its resource sharing fulfillment unit, and have the RS
  circulation desk attached for check in, check out and reshelve.

  Scenario: The borrowing and lending locations exist in each resource sharing library
    When the temporary locations of each resource sharing library are read from Alma
    Then every temporary location exists

  Scenario: The temporary locations belong to the resource sharing fulfillment unit
    When the temporary locations of each resource sharing library are read from Alma
    Then every temporary location is in the profile's fulfillment unit

  Scenario: The resource sharing desk serves the temporary locations
    When the temporary locations of each resource sharing library are read from Alma
    Then every temporary location has the resource sharing desk for check in, check out and reshelve
