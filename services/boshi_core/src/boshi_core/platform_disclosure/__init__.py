"""One disclosure decision, one export of everything the platform holds about the person:
each service's own disclosure endpoint over HTTP with boshi_core's service token (never its
database), and the section "who looked at your data" from every service's access log."""
