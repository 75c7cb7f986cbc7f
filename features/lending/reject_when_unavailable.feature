@writes @lending @behaviour @guide_rs_library
Feature: A lender rejects a request when nothing is available
  The lender's resource sharing library locates each incoming request in its catalogue and,
  with "Reject Request When No Available Items / No Requestable Items / Only Electronic
  Available" ticked, rejects at once what it cannot supply, so the borrower's request moves
  on to the next partner of the rota instead of waiting for the request to expire.

  Scenario: A request for a title the lender does not hold is not left waiting
    When the borrowing partner requests a title the lender does not hold
    Then the lending request ends as the profile expects for a title it does not hold
    And the lending task list shows it with that status

  Scenario: A request for a title whose items are all on loan is rejected
    When the borrowing partner requests a title whose items are all on loan
    Then the lending request ends as the profile expects for a title all on loan
    And the lending task list shows it with that status

  Scenario: A request for a title whose only available item is not requestable is rejected
    When the borrowing partner requests a title whose available item is not requestable
    Then the lending request ends as the profile expects for a title not requestable
    And the lending task list shows it with that status

  Scenario: A request for a title held only electronically is rejected
    When the borrowing partner requests a title held only electronically
    Then the lending request ends as the profile expects for a title held only electronically
    And the lending task list shows it with that status

  Scenario: A request for an available, requestable title is accepted
    When the borrowing partner requests a title with an available, requestable item
    Then the lending request ends as the profile expects for an available title
    And the lending task list shows it with that status
