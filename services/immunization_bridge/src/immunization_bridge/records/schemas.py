from pydantic import BaseModel


class LineErrorOut(BaseModel):
    line: int
    field: str
    reason: str


class ImportReportOut(BaseModel):
    file_id: int
    filename: str
    encoding: str
    lines: int
    accepted: int
    rejected: int
    unknown_people: int  # kept, flagged: the child's atena event may come later
    errors: list[LineErrorOut]
    already_imported: bool  # the same bytes were imported before: nothing changed
