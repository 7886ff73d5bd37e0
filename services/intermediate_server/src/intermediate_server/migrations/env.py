from national_hub import models as hub_models  # noqa: F401

from intermediate_server import tenancy  # noqa: F401 - registers the tables on the metadata
from intermediate_server.admin import models as admin_models  # noqa: F401
from intermediate_server.codes import models as codes_models  # noqa: F401
from intermediate_server.exchange import models as exchange_models  # noqa: F401
from intermediate_server.replica import models as replica_models  # noqa: F401
from intermediate_server.suspensions import models as suspension_models  # noqa: F401
from mch_common.db import Base
from mch_common.migrations import run_env

run_env(Base.metadata)
