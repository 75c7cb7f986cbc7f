@api @guide_jobs
Feature: The Expired Resource Sharing Requests job
  The job moves requests that a lender has not answered within the partner's expiry days to
  Expired, so the borrower's request moves on to the next lender. WRLC runs it every day at
  02:00. Whether it runs is read from its schedule, its next run and its recent runs.

  Scenario: The job is active and runs every day at the agreed time
    When the "Expired Resource Sharing Requests" job and its recent runs are read from Alma
    Then the "Expired Resource Sharing Requests" job is active
    And it runs every day at the profile's time

  Scenario: The job's recent runs did not fail
    When the "Expired Resource Sharing Requests" job and its recent runs are read from Alma
    Then none of them failed
