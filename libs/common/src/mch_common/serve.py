"""Start a service as deployed: `python -m mch_common.serve --factory <svc>.main:create_app
[uvicorn's options]`.

uvicorn's own command line, with `mch_common.logs.uvicorn_log_config(<svc>)` as its log
configuration unless `--log-config` names another: uvicorn's lines (startup, its error and
access loggers) are JSON lines through the My Number guard from the first one on, like the
service's.
"""

from typing import Any

import click
from uvicorn.main import main as uvicorn_cli

from mch_common.logs import uvicorn_log_config


def _run(**params: Any) -> None:
    if params["log_config"] is None:
        service = str(params["app"]).split(".", 1)[0]  # "atena.main:create_app" -> "atena"
        params["log_config"] = uvicorn_log_config(service)
    if uvicorn_cli.callback is None:  # pragma: no cover - uvicorn's command always has one
        raise RuntimeError("uvicorn's command line has no callback")
    uvicorn_cli.callback(**params)


command = click.Command(
    "mch-serve",
    params=uvicorn_cli.params,
    callback=_run,
    context_settings=uvicorn_cli.context_settings,
    help=__doc__,
)

if __name__ == "__main__":
    command()
