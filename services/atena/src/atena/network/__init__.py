"""Code management, atena's side (符号取得): every person with a My Number gets their 符号
through the intermediate server, on registration (a job that follows the registrations) and
in batch (the same job over everyone, `python -m atena.cli obtain-network-codes`)."""
