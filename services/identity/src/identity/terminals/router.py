"""Registered terminals (scope identity:terminal:admin)."""

from identity.deps import TerminalAdmin
from identity.terminals import service
from identity.terminals.schemas import TerminalIn, TerminalOut
from mch_common.routes import ServiceRouter
from mch_common.web import Session

router = ServiceRouter(prefix="/admin/terminals", tags=["terminals"])


@router.post("", status_code=201)
async def register(body: TerminalIn, session: Session, actor: TerminalAdmin) -> TerminalOut:
    terminal = await service.register_terminal(
        session,
        actor=actor,
        terminal_id=body.id,
        name=body.name,
        ward=body.ward,
        location=body.location,
    )
    return TerminalOut.model_validate(terminal)


@router.get("")
async def list_terminals(session: Session, actor: TerminalAdmin) -> list[TerminalOut]:
    return [TerminalOut.model_validate(t) for t in await service.list_terminals(session)]


@router.post("/{terminal_id}/deactivate")
async def deactivate(terminal_id: str, session: Session, actor: TerminalAdmin) -> TerminalOut:
    terminal = await service.deactivate_terminal(session, actor=actor, terminal_id=terminal_id)
    return TerminalOut.model_validate(terminal)
