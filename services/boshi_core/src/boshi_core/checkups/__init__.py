"""Infant checkups (乳幼児健康診査): programmes as data, monthly target and non-attendee
extraction, results and detailed-examination vouchers."""
