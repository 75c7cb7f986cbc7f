@api @staff
Feature: The staff who run resource sharing hold the roles it needs
  Working the resource sharing task lists needs Fulfillment Services Operator (or Manager)
  scoped to the resource sharing library; receiving and shipping at the resource sharing
  desk need Circulation Desk Operator (or Manager) at that desk. A role scoped to another
  library, or inactive, does not count. The check only reads the staff records.

  Scenario: Each resource sharing staff account holds its roles at its library
    When the resource sharing staff accounts are read from Alma
    Then each holds the fulfillment and circulation desk roles of their resource sharing library
