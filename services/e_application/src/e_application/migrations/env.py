from e_application.applicant import models as applicant_models  # noqa: F401 - registers
from e_application.applications import models as application_models  # noqa: F401 - the
from e_application.notices import models as notice_models  # noqa: F401 - tables on the
from e_application.procedures import models as procedure_models  # noqa: F401 - metadata
from mch_common.db import Base
from mch_common.migrations import run_env

run_env(Base.metadata)
