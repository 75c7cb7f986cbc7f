@writes @borrowing @behaviour
Feature: A patron's request goes to the correct library
  A borrowing request is owned by one resource sharing library, and staff of that library
  handle it. Alma takes the owner from the patron's record; a request for a library the
  patron does not belong to, from a patron with no library at a multi-library institution,
  for a title the institution holds, or that repeats an open request, is refused and
  nothing is created.

  # A request that is created at all proves the RS library's default borrowing location
  # (Alma refuses with 402039 without it). Alma accepts a library as the request's owner
  # only if the patron's record has it (401608 otherwise); the pickup is at another campus,
  # so ownership by the patron's library is not mistaken for ownership by the pickup's (at
  # the owner where calibration showed Alma refuses that; where it showed Alma owns a request
  # by its pickup library, ownership by the patron cannot be shown: cannot tell).
  @multi_library @guide_rs_library
  Scenario: A request from a patron of each campus is owned by that campus's library
    Given a title the institution does not hold
    When each test patron requests it for their own library, to be picked up at another
    Then each request is owned by the resource sharing library of the patron's campus

  # A title a partner holds: a request for a title nobody holds proves nothing about sending.
  @behaviour @guide_rota_template @guide_rota_assignment_rule @guide_sending_rule
  Scenario: A new request is sent on its own to a partner of the peer-to-peer rota
    Given a title a partner of the rota holds
    When a test patron requests it for their own library
    Then the request is sent on its own to one of the profile's partners

  @multi_library
  Scenario: A request for another campus's library is refused
    Given a title the institution does not hold
    When a test patron requests it for another campus's library
    Then Alma refuses it with error 401608
    And no request was created

  @multi_library
  Scenario: A patron without a resource sharing library is refused at a multi-library institution
    Given a title the institution does not hold
    When the patron without a resource sharing library requests it
    Then Alma refuses it with the error the profile expects for a patron without a library
    And no request was created

  Scenario: A title the institution holds cannot be requested from a partner
    Given a title the institution holds
    When a test patron requests it for their own library
    Then Alma refuses it with error 401604
    And no request was created

  Scenario: A patron cannot place the same request twice
    Given a title the institution does not hold
    When a test patron requests it twice
    Then Alma refuses the second request with error 402362

  @single_library @guide_rs_library
  Scenario: A request at a single-library institution is owned by its one library
    Given a title the institution does not hold
    When each test patron requests it without choosing a library
    Then each request is owned by the institution's resource sharing library
