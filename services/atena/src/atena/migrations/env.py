from atena.bulk import models as bulk_models  # noqa: F401 - registers the tables
from atena.network import models as network_models  # noqa: F401 - registers the tables
from atena.persons import models  # noqa: F401 - registers the tables on the metadata
from mch_common.db import Base
from mch_common.migrations import run_env

run_env(Base.metadata)
