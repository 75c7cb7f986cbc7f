@writes @borrowing @behaviour @excluded_group
Feature: Only the user groups the policy allows borrow from partners
  The Borrowing Resource Sharing terms of use, applied through the resource sharing
  fulfillment unit's rules, name the user groups that may ask partners for items. A patron
  of any other group (alumni, say) is refused, and nothing is created.

  # Which code Alma refuses with is not known from any source: the profile names it.
  Scenario: A patron of a user group that may not borrow is refused
    Given a title the institution does not hold
    When the test patron of a user group that may not borrow requests it
    Then Alma refuses it with the error the profile expects for that user group
    And no request was created
