from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from mch_common.inputs import StrictModel


class ChallengeOut(BaseModel):
    challenge_id: UUID
    challenge: str = Field(description="base64 nonce to sign with the user-authentication key")
    expires_at: datetime


class SignInIn(StrictModel):
    challenge_id: UUID
    certificate: str = Field(
        min_length=1, max_length=8000, description="base64 DER user-authentication certificate"
    )
    signature: str = Field(min_length=1, max_length=2000, description="base64 signature")


class SessionOut(BaseModel):
    session_token: str = Field(description="send as the X-Applicant-Session header")
    expires_at: datetime
