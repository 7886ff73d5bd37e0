from immunization_bridge.children import models as children_models  # noqa: F401 - registers
from immunization_bridge.records import models as records_models  # noqa: F401 - the tables
from immunization_bridge.register_files import models as files_models  # noqa: F401 - (all)
from immunization_bridge.schedule import models as schedule_models  # noqa: F401 - on the
from immunization_bridge.status import models as status_models  # noqa: F401 - metadata
from mch_common.db import Base
from mch_common.migrations import run_env

run_env(Base.metadata)
