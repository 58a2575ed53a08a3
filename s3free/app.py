"""The ASGI application: `granian --interface asgi s3free.app:app`.

Nothing heavy happens at import: Granian imports this module in each worker process, and
lifespan startup opens that worker's ObjectLayer (LMDB environment, io engine, segment log)
after the fork. Settings come from S3FREE_CONFIG and S3FREE_* variables (s3free.config).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from s3free import config, credentials
from s3free.api import dispatch
from s3free.api.auth import Users

log = logging.getLogger("s3free")


@dataclass
class AppState:
    settings: config.Settings
    users: Users
    layer: object = None
    heal: object = None


def users_for(settings: config.Settings) -> Users:
    """Configured users; the generated root pair from the metadata dir if no root is set."""
    secrets = settings.credentials()
    root = settings.root_user
    if not root:
        found = credentials.load(settings.meta_path())
        if found is not None:
            root = found[0]
            secrets = {found[0]: found[1], **secrets}
    if not root:
        raise RuntimeError("no root credentials: set S3FREE_ROOT_USER and S3FREE_ROOT_PASSWORD "
                           "(or start once with `s3free server` to generate them)")
    return Users(secrets, root)


def _setup_logging(level: str) -> None:
    logger = logging.getLogger("s3free")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level.upper())
    logging.getLogger("s3free.access").setLevel(logging.WARNING if level.lower() != "debug" else logging.INFO)


class S3App:
    """Minimal ASGI callable: lifespan opens/closes the layer; HTTP goes to api.dispatch."""

    def __init__(self) -> None:
        self.state: AppState | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            if self.state is None or self.state.layer is None:
                raise RuntimeError("s3free: lifespan startup has not run (serve with --interface asgi)")
            await dispatch.handle(self.state, scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.state = await startup()
                except Exception as exc:
                    log.error("startup failed: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.state is not None and self.state.heal is not None:
                    await self.state.heal.stop()
                if self.state is not None and self.state.layer is not None:
                    try:
                        await self.state.layer.close()
                    except Exception:
                        log.exception("closing the object layer failed")
                await send({"type": "lifespan.shutdown.complete"})
                return


async def startup() -> AppState:
    from s3free.objects.layer import EngineConfig, ObjectLayer

    settings = config.load()
    _setup_logging(settings.log_level)
    users = users_for(settings)
    layer = ObjectLayer.open(settings.disk_paths(), settings.meta_path(), EngineConfig.from_settings(settings))
    from s3free.heal.service import HealService
    heal = HealService(layer, settings)
    heal.start()
    return AppState(settings, users, layer, heal)


app = S3App()
