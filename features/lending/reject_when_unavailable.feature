@writes @lending @behaviour @guide_rs_library
Feature: A lender rejects a request when nothing is available
  The lender's resource sharing library locates each incoming request in its catalogue and,
  with "Reject Request When No Available Items / No Requestable Items / Only Electronic
  Available" ticked, rejects at once what it cannot supply, so the borrower's request moves
  on to the next partner of the rota instead of waiting for the request to expire.

  Scenario Outline: A request for <title> <ends>
    When the borrowing partner requests <title>
    Then the lending request ends as the profile expects for that title
    And the lending task list shows it with that status

    Examples:
      | title                                                | ends                |
      | a title the lender does not hold                     | is not left waiting |
      | a title whose items are all on loan                  | is rejected         |
      | a title whose only available item is not requestable | is rejected         |
      | a title held only electronically                     | is rejected         |
      | an available, requestable title                      | is accepted         |
