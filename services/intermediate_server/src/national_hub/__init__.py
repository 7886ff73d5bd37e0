"""The simulated national network (情報提供ネットワークシステム): it issues 符号 per person and
institution, keeps the permission list (照会許可照合リスト), issues permits (情報提供許可証) and
routes inquiries, translating the requester's 符号 into the provider's.

It is apart from the municipal gateway (intermediate_server): its own package, its own
PostgreSQL schema `hub`, its own signing key and secrets. The gateway reaches it only through
`national_hub.hub.NationalHub` and verifies its permits with `national_hub.permits`."""
