"""The one binding of every feature file; each scenario runs once per institution."""

import pytest
from pytest_bdd import scenarios

# Asking for the institution makes the harness parametrise every scenario per profile.
pytestmark = pytest.mark.usefixtures("alma_institution")

scenarios(".")
