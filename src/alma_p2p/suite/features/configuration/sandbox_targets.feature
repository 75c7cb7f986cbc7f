@api
Feature: A refreshed sandbox sends requests only to sandboxes
  A premium sandbox is a copy of production, partner records included: after a refresh its
  partners may still send requests to the partners' production servers, where a test
  request would reach real staff. Ex Libris' post-refresh procedure points every partner's
  server at the partner's sandbox, keeping its symbol. The suite writes nothing to an
  institution whose partners send anywhere else.

  Scenario: Every partner sends its requests to a sandbox the profile allows
    When the institution's partners are read from Alma
    Then every partner's server is among the profile's allowed targets
