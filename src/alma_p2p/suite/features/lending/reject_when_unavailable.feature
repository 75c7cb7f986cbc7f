@writes @lending @behaviour @guide_rs_library
Feature: A lender rejects a request when nothing is available
  The lender's resource sharing library locates each incoming request in its catalogue and,
  with "Reject Request When No Available Items / No Requestable Items / Only Electronic
  Available" ticked, rejects at once what it cannot supply, so the borrower's request moves
  on to the next partner of the rota instead of waiting for the request to expire. Each
  example proves one flag; the available title is the control: it must be located and
  accepted, which a lender without automatic locate would not do.

  Scenario Outline: A request for <title> <ends>
    When the borrowing partner requests <title>
    Then the lending request ends as "<flag>" requires
    And the lending task list shows it with that status

    Examples:
      | title                                                | ends                | flag                                          |
      | a title the lender does not hold                     | is not left waiting | Automatically Locate Resource                 |
      | a title whose items are all on loan                  | is rejected         | Reject Request When No Available Items        |
      | a title whose only available item is not requestable | is rejected         | Reject Request When No Requestable Items      |
      | a title held only electronically                     | is rejected         | Reject Request When Only Electronic Available |
      | an available, requestable title                      | is accepted         | Automatically Locate Resource                 |
