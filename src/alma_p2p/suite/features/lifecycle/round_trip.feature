@writes @borrowing @behaviour @round_trip
Feature: A request travels to another member of the consortium and back
  A consortium goes live on the round trip between its members: the borrower's request must
  arrive at the lender as a lending request, and the lender's answer must come back. An
  accepted request has to reach the lender's pick-from-shelf list at its resource sharing
  library, or nobody fetches the book; a rejected one has to move on to the next partner of
  the borrower's rota, or end as the setting for rejected requests says. Both members' API
  keys are needed: one institution never plays the other. Withdrawing the request at the
  borrower leaves nothing active at either member.

  Scenario: A request the lender can supply reaches the lender's pick-from-shelf list
    Given a title the lending member has on its shelf
    When a test patron requests it from the partners
    Then the lending member receives it as a lending request
    And the lending member's resource sharing library lists it to be picked from the shelf

  Scenario: A request the lender rejects moves on along the borrower's rota
    Given a title whose copies at the lending member are all on loan
    When a test patron requests it from the partners
    Then the lending member receives it as a lending request
    And the lending member rejects it
    And the borrowing request moves on to the next partner of its rota, or ends as set
