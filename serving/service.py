"""The BentoML 1.4 service: `bentoml serve serving.service:MovieRecommender` (127.0.0.1:3000 by default).

Thin on purpose: `__init__` builds a ServingRuntime (champion from the MLflow registry, Kafka producer,
recent-clicks follower, hot-swap watcher) and hands it to the mounted FastAPI app (serving/api.py), which
owns the routes that need path parameters and exact status codes. `POST /recommend` is the BentoML-native
form of the recommendations endpoint. BentoML itself serves /healthz, /livez, /readyz, /metrics, /docs.json.
"""

from __future__ import annotations

import logging

import bentoml
from starlette.exceptions import HTTPException

from pipelines.events import MAX_ID
from pipelines.settings import get_settings
from serving.api import RequestGuard
from serving.api import app as http_app
from serving.recommend import NoChampion, UnknownGenres, recommend
from serving.runtime import ServingRuntime
from serving.schemas import MAX_K, RecommendationsOut

log = logging.getLogger("serving")
_settings = get_settings()


@bentoml.service(
    name="movierec",
    workers=_settings.serving_workers,
    http={"host": _settings.serving_host, "port": _settings.serving_port},
    traffic={"timeout": 30},
)
@bentoml.asgi_app(http_app, path="/")
class MovieRecommender:
    """Movie recommendations from the MLflow champion, click events to Kafka, hot-swap on promotion."""

    def __init__(self) -> None:
        self.runtime = ServingRuntime.start(get_settings())
        http_app.state.runtime = self.runtime
        champ = self.runtime.holder.current
        log.info(
            "serving ready: champion %s",
            "none yet" if champ is None else f"{champ.model_name} v{champ.version}",
        )

    def __is_ready__(self) -> bool:
        """BentoML's /readyz: 503 with the reasons while no champion is loaded or the broker is unreachable."""
        ready, reasons = self.runtime.readiness()
        if not ready:
            raise HTTPException(503, "not ready: " + "; ".join(reasons))
        return True

    @bentoml.api(route="/recommend")
    def recommend(
        self,
        user_id: int | None = None,
        k: int = 10,
        genres: list[str] | None = None,
    ) -> RecommendationsOut:
        """POST form of GET /recommendations/{user_id}: `{"user_id": 1, "k": 10}`; user_id null = anonymous."""
        if user_id is not None and not 1 <= user_id <= MAX_ID:
            raise bentoml.exceptions.InvalidArgument(f"user_id must be between 1 and {MAX_ID} (or null)")
        if not 1 <= k <= MAX_K:
            raise bentoml.exceptions.InvalidArgument(f"k must be between 1 and {MAX_K}")
        if genres is not None and len(genres) > 20:
            raise bentoml.exceptions.InvalidArgument("at most 20 genres")
        recent = self.runtime.recent.movies(user_id) if user_id is not None else frozenset()
        try:
            return recommend(self.runtime.holder.current, user_id, k, recent=recent, genres=genres)
        except NoChampion as exc:
            raise bentoml.exceptions.ServiceUnavailable(str(exc)) from None
        except UnknownGenres as exc:
            raise bentoml.exceptions.InvalidArgument(str(exc)) from None

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self.runtime.stop()


MovieRecommender.add_asgi_middleware(RequestGuard)
