"""The ASGI application: `granian --interface asgi s3free.app:app`.

Nothing heavy happens at import: Granian imports this module in each worker process, and
lifespan startup opens that worker's ObjectLayer (LMDB environment, io engine, segment log)
after the fork. Settings come from S3FREE_CONFIG and S3FREE_* variables (s3free.config).
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from s3free import config, credentials
from s3free.obs import logging as obs_logging
from s3free.api import dispatch
from s3free.api.auth import Users

log = logging.getLogger("s3free")


@dataclass
class AppState:
    settings: config.Settings
    users: Users
    layer: object = None
    heal: object = None
    metrics: object = None
    watcher: object = None
    metrics_flush: object = None


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
                for task in (self.state.watcher, self.state.metrics_flush) if self.state is not None else ():
                    if task is not None:
                        task.cancel()
                if self.state is not None and self.state.heal is not None:
                    await self.state.heal.stop()
                if self.state is not None and self.state.layer is not None:
                    try:
                        await self.state.layer.close()
                    except Exception:
                        log.exception("closing the object layer failed")
                if self.state is not None and self.state.metrics is not None:
                    self.state.metrics.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def startup() -> AppState:
    from s3free.objects.layer import EngineConfig, ObjectLayer

    settings = config.load()
    from s3free import native
    native.keep_buffers_mapped()
    problems = config.reload_from_file(settings)     # runtime-safe keys from the file (SIGHUP)
    obs_logging.setup(settings.log_level)
    for problem in problems:
        log.error("config reload: %s; keeping the value in force", problem)
    users = users_for(settings)
    layer = ObjectLayer.open(settings.disk_paths(), settings.meta_path(), EngineConfig.from_settings(settings))
    from s3free.heal.service import HealService
    from s3free.obs import metrics as obs_metrics
    from s3free.obs.events import EventWatcher
    m = obs_metrics.Metrics(obs_metrics.use_dir(settings.meta_path()))
    m.set_worker(settings)
    heal = HealService(layer, settings)
    heal.start()
    loop = asyncio.get_running_loop()
    watcher = loop.create_task(EventWatcher(layer, heal, m).run())
    flush = loop.create_task(m.flush_every())
    log.info("worker ready: log_level=%s scrub_rate_mb=%s heal_rate_mb=%s scrub_interval=%s",
             settings.log_level, settings.scrub_rate_mb, settings.heal_rate_mb, settings.scrub_interval)
    return AppState(settings, users, layer, heal, m, watcher, flush)


app = S3App()
