@writes @borrowing @behaviour @electronic_title
Feature: A title held only electronically is not borrowed from a partner
  Alma blocks a partner request for a title the institution already has services for,
  electronic ones included (401604): librarians meet it when a patron wants the print copy
  of an e-book. Staff may override the block; the suite does so only where the profile
  opts in, and removes the request again.

  Scenario: A title held only electronically cannot be requested from a partner
    Given a title the institution holds only electronically
    When a test patron requests it for their own library
    Then Alma refuses it with error 401604
    And no request was created

  @override_blocks
  Scenario: With the block overridden, a title held only electronically can be requested
    Given a title the institution holds only electronically
    When a test patron requests it for their own library, overriding blocks
    Then Alma creates the request
