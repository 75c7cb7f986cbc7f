@api
Feature: Each patron's resource sharing library
  A patron's borrowing requests are owned and handled by the resource sharing library on the
  patron's record. An institution with several libraries (PALS: St Mary's University, with
  its Winona and Twin Cities libraries) gives each patron the library of their campus; a
  single-library institution leaves the field empty.

  @multi_library @guide_patron_rs_library
  Scenario: Each test patron carries the resource sharing library of their campus
    When the test patrons' records are read from Alma
    Then each test patron's resource sharing library is the one their campus maps to

  @single_library @guide_patron_rs_library
  Scenario: A patron of a single-library institution needs no resource sharing library
    When the test patrons' records are read from Alma
    Then no test patron carries a resource sharing library other than the institution's own

  @guide_rs_library
  Scenario: Every resource sharing library of the profile is flagged as one in Alma
    When the institution's libraries are read from Alma
    Then every resource sharing library of the profile is flagged "Is Resource Sharing Library"
