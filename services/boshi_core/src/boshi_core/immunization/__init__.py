"""A child's vaccinations, read from the immunization bridge (予防接種台帳との連携) over REST."""
