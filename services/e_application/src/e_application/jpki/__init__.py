"""A simulated JPKI (公的個人認証サービス) and private certificate authority: the outside system
whose certificates applicants sign with. Real X.509 certificates and CRLs from `cryptography`;
only the authority itself is simulated. The service's request path never imports this package:
it verifies through `e_application.signing` against the trusted CAs of its configuration."""
