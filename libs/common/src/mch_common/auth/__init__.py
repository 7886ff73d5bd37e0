"""JWT verification against identity's JWKS, scope/tenant/ward dependencies, service tokens."""
