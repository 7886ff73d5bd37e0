from boshi_core.models import Base
from mch_common.migrations import run_env

run_env(Base.metadata)
