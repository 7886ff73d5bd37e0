"""NATS users per service, with subject permissions, from one description of who emits and who
consumes what.

A service may publish only its own events (`<stream>.>`), the dead-letter subjects of its own
consumers, acknowledgements of what it consumes and the JetStream API calls for its own stream
and its consumers; it may subscribe only to its own inbox (`_INBOX_<user>.>`, so no service reads
another's replies, which carry the events it fetched). It may create and change its own stream
and the shared dead-letter stream, never create or delete another's: a consumer of a stream
that does not exist yet waits for its owner to start. Every service reads identity's
revocations, so that stream is consumed by all.

The service list comes from the caller (deploy/nats/services.json); `python -m
mch_common.nats_access services.json` prints the `authorization` block for it.
"""

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mch_common.audit_anchor import ANCHOR_STREAM
from mch_common.auth.revocation import IDENTITY_STREAM_SERVICE
from mch_common.events.bus import DEAD_LETTER, EventNaming, inbox_prefix

JS_API = "$JS.API"


@dataclass(frozen=True)
class Consumes:
    """A durable consumer `durable` of the stream of `stream` (a stream service name)."""

    stream: str
    durable: str


@dataclass(frozen=True)
class ServiceAccess:
    """A service's NATS user: `user` (the service name), the stream it emits on, what it reads."""

    user: str
    stream: str
    consumes: tuple[Consumes, ...] = ()


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def permissions(service: ServiceAccess, naming: EventNaming = EventNaming()) -> Permissions:
    """What `service`'s user may publish and subscribe to (`naming`: a test namespace)."""
    own = naming.stream(service.stream)
    # Every service reads identity's revocations; a dict keeps the order without duplicates.
    read = dict.fromkeys([IDENTITY_STREAM_SERVICE, *(c.stream for c in service.consumes)])
    publish = [
        naming.subject(f"{service.stream}.>"),
        *(f"{JS_API}.STREAM.{action}.{own}" for action in ("INFO", "CREATE", "UPDATE")),
    ]
    if service.consumes:
        dead_letter = naming.stream(DEAD_LETTER)
        publish += [naming.dead_letter_subject(c.durable) for c in service.consumes]
        publish += [f"{JS_API}.STREAM.{a}.{dead_letter}" for a in ("INFO", "CREATE", "UPDATE")]
    # Its audit chain's anchors (mch_common.audit_anchor): its own subject on the shared stream;
    # the latest anchor is read back by stream message get.
    anchors = naming.stream(ANCHOR_STREAM)
    publish += [
        naming.subject(f"audit.anchor.{service.user}"),
        *(f"{JS_API}.STREAM.{action}.{anchors}" for action in ("INFO", "CREATE", "MSG.GET")),
    ]
    for stream_service in read:
        stream = naming.stream(stream_service)
        if stream != own:
            publish.append(f"{JS_API}.STREAM.INFO.{stream}")
        publish += [
            f"{JS_API}.CONSUMER.CREATE.{stream}",
            f"{JS_API}.CONSUMER.CREATE.{stream}.>",
            f"{JS_API}.CONSUMER.DURABLE.CREATE.{stream}.>",
            f"{JS_API}.CONSUMER.INFO.{stream}.>",
            f"{JS_API}.CONSUMER.DELETE.{stream}.>",
            f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.>",
            f"$JS.ACK.{stream}.>",
            f"$JS.FC.{stream}.>",
        ]
    return Permissions(publish=tuple(publish), subscribe=(f"{inbox_prefix(service.user)}.>",))


@dataclass(frozen=True)
class Credentials:
    """How a user's password appears in the configuration: a literal, or `$VAR` (an
    environment variable of the NATS server, so deploy/ keeps no secret in the file)."""

    user: str
    password: str
    from_environment: bool = False

    def login(self) -> str:
        password = f"${self.password}" if self.from_environment else json.dumps(self.password)
        return f"user: {json.dumps(self.user)}, password: {password}"


def authorization_block(
    services: Sequence[ServiceAccess],
    credentials: dict[str, Credentials],
    *,
    admin: Credentials | None = None,
    naming: EventNaming = EventNaming(),
) -> str:
    """The `authorization { users = [...] }` block of nats-server's configuration. `admin`
    (optional) may do everything: for operators and the dev stack's housekeeping."""
    lines = ["authorization {", "  users = ["]
    if admin is not None:
        lines.append(f"    {{{admin.login()}}}")
    for service in services:
        allowed = permissions(service, naming)
        login = credentials[service.user]
        lines += [
            f"    {{{login.login()},",
            "     permissions: {",
            *_allow("publish", allowed.publish),
            *_allow("subscribe", allowed.subscribe),
            "     }}",
        ]
    lines += ["  ]", "}", ""]
    return "\n".join(lines)


def _allow(direction: str, subjects: Sequence[str]) -> list[str]:
    return [
        f"       {direction}: {{allow: [",
        *(f"         {json.dumps(subject)}" for subject in subjects),
        "       ]}",
    ]


def load_services(path: Path) -> list[ServiceAccess]:
    """`{"<service>": {"stream": "<stream>", "consumes": [{"stream": ..., "durable": ...}]}}`."""
    raw: dict[str, dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))
    services = []
    for user, spec in raw.items():
        consumes = spec.get("consumes", [])
        if not isinstance(consumes, list):
            raise ValueError(f"{path}: {user}.consumes must be a list")
        services.append(
            ServiceAccess(
                user=user,
                stream=str(spec["stream"]),
                consumes=tuple(Consumes(str(c["stream"]), str(c["durable"])) for c in consumes),
            )
        )
    return services


def password_variable(user: str) -> str:
    """The NATS server's environment variable holding `user`'s password in deploy/."""
    return f"NATS_{user.upper()}_PASSWORD"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Print nats-server's authorization block; passwords are read from the "
        "server's environment (NATS_<USER>_PASSWORD)."
    )
    parser.add_argument("services", type=Path, help="services.json")
    args = parser.parse_args(argv)
    services = load_services(args.services)
    credentials = {
        s.user: Credentials(s.user, password_variable(s.user), from_environment=True)
        for s in services
    }
    admin = Credentials("admin", password_variable("admin"), from_environment=True)
    header = f"# Generated by `python -m mch_common.nats_access {args.services}`; do not edit.\n"
    sys.stdout.write(header + authorization_block(services, credentials, admin=admin))
    return 0


if __name__ == "__main__":
    sys.exit(main())
