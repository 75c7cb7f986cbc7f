@api @guide_partners
Feature: Peer-to-peer partners
  Each P2P partner is copied from the Community tab, set to the agreed workflow profiles
  and expiry time, and must be active for borrowing and lending.

  Scenario: Each partner is active for borrowing and lending
    When the institution's partners are read from Alma
    Then every partner of the profile exists, is active and supports borrowing and lending

  @guide_workflow_profiles
  Scenario: Each partner uses the agreed workflow profiles and expiry time
    When the institution's partners are read from Alma
    Then every partner uses the profile's borrowing and lending workflow profiles
    And every partner's requests expire after the profile's number of days
