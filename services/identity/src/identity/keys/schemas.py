from pydantic import BaseModel


class RotationOut(BaseModel):
    kid: str
    published_kids: list[str]
