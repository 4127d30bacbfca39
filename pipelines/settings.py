"""The one settings object every process reads (env vars prefixed MOVIEREC_, local defaults).

Only pydantic + pydantic-settings are imported here so that the Airflow and Flink envs
can read the same settings without the ML stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The offline MovieLens copy beside a checkout (this project's machines); users without it set MOVIEREC_DATA_ROOT.
OFFLINE_DATA_ROOT = PROJECT_ROOT.parent / "shared" / "data" / "movielens"

ModelType = Literal["neumf", "gmf", "mlp", "mf", "content_mf"]
SplitProtocol = Literal["temporal", "full_ranking", "leave_one_out"]
Loss = Literal["bce", "softmax", "bpr"]

# Telemetry opt-outs and a quiet TensorFlow for every process of the project (set by the CLI, tests, Airflow tasks).
QUIET_ENV: dict[str, str] = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "BENTOML_DO_NOT_TRACK": "true",
    "DO_NOT_TRACK": "true",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


def quiet_environment() -> None:
    """Apply QUIET_ENV to this process (and so to its children), keeping values the user set."""
    import os

    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


# The training knobs, declared once: the CLI options, the DAG's Params and the parameters logged to MLflow
# are all derived from this list (and the fields' types, defaults and descriptions below).
TRAINING_FIELDS: tuple[str, ...] = (
    "dataset",
    "max_ratings",
    "model_type",
    "loss",
    "split_protocol",
    "epochs",
    "batch_size",
    "embedding_dim",
    "mlp_layers",
    "learning_rate",
    "l2",
    "num_negatives",
    "ranking_l2",
    "users_per_batch",
    "softmax_sample_above_items",
    "softmax_negatives",
    "sampled_users_per_batch",
    "neumf_pretrain",
    "content_id_dropout",
    "eval_every",
    "num_eval_negatives",
    "top_k",
    "seed",
    "holdout_ratio",
    "eval_max_users",
)


# Fold-in settings chosen on validation users per data set (benchmarks/foldin.py, recorded in
# benchmarks/results/foldin.json): a data set listed here gets its own unless MOVIEREC_FOLDIN_* set them; any other
# data set gets the field defaults, which are ml-latest-small's. One config does not fit both: ml-latest-small's
# falls below popularity on ml-100k's chronological reveal, ml-100k's gains little on ml-latest-small.
FOLDIN_PRESETS: dict[str, dict[str, float | str]] = {
    "ml-100k": {"foldin_scale": 1.0, "foldin_ridge_lambda": 1.0, "foldin_unobserved_weight": 0.01,
                "foldin_shrinkage": 1.0, "foldin_combine": "offset", "foldin_known_scale": 3.0},
}  # fmt: skip


class Settings(BaseSettings):
    """Configuration shared by pipelines, DAGs, the Flink job, the service and the scripts."""

    model_config = SettingsConfigDict(env_prefix="MOVIEREC_", env_file=".env", extra="ignore")

    # --- where things live -------------------------------------------------------------
    var_dir: Path = Field(
        PROJECT_ROOT / "var", description="Runtime folder (git-ignored): stores, logs, pids"
    )
    data_root: Path | None = Field(None, description="Folder holding ml-latest-small/, ml-100k/, ml-1m/")
    dataset: str = Field("ml-latest-small", description="MovieLens dataset to train on")
    venvs_dir: Path = Field(PROJECT_ROOT / ".venvs", description="Where the ml/airflow/flink envs live")

    # --- MLflow ------------------------------------------------------------------------
    mlflow_tracking_uri: str | None = Field(None, description="Default: sqlite file under var/mlflow")
    mlflow_artifact_root: Path | None = Field(None, description="Default: var/mlflow/artifacts")
    mlflow_experiment: str = "movielens-recommender"
    model_name: str = "movielens-recommender"
    promotion_metric: str = "ndcg_at_10"
    promotion_margin: float = Field(0.0, description="Challenger must beat champion by more than this")
    guardrail_min_coverage_ratio: float | None = Field(
        0.5,
        ge=0,
        description="Refuse a challenger whose catalog coverage is below this share of the champion's",
    )
    guardrail_max_popularity_ratio: float | None = Field(
        None,
        gt=0,
        description="Refuse a challenger whose popularity bias exceeds this multiple of the champion's",
    )
    mlflow_port: int = Field(5000, description="Port of the local MLflow server started by `make up`")

    # --- training ----------------------------------------------------------------------
    # defaults: dot-product MF trained with a full-catalog softmax (benchmarks/RESULTS.md: beats NeuMF + bce on full
    # ranking on ml-100k and ml-latest-small); the NCF setup was model_type=neumf, loss=bce, epochs=10,
    # embedding_dim=32, learning_rate=0.001
    model_type: ModelType = Field(
        "mf", description="mf (dot product), gmf, mlp, neumf, or content_mf (mf + genre/year/user features)"
    )
    content_id_dropout: float = Field(
        0.3, ge=0, lt=1, description="content_mf: share of training pairs whose item ID part is dropped"
    )
    neumf_pretrain: bool = Field(False, description="Pre-train NeuMF from GMF and MLP (He et al. 2017)")
    split_protocol: SplitProtocol = Field(
        "temporal",
        description="Held-out split the gate scores on: temporal (each user's latest interactions, whole catalog "
        "ranked), full_ranking (random per-user holdout) or leave_one_out (NCF paper, sampled negatives)",
    )
    holdout_ratio: float = Field(
        0.75, gt=0, lt=1, description="Share of each user's interactions kept for training"
    )
    curve_eval_users: int | None = Field(
        2_000,
        ge=100,
        description="Users sampled for the per-epoch training curve (the gate uses eval_max_users)",
    )
    eval_max_users: int | None = Field(
        20_000,
        ge=100,
        description="Rank a seeded sample of at most this many test users (CI logged); None: all",
    )
    epochs: int = Field(15, ge=0, description="Training epochs")
    batch_size: int = Field(1024, description="Rows per step (loss bce/bpr)")
    embedding_dim: int = Field(64, description="Embedding size (GMF/MF part)")
    mlp_layers: tuple[int, ...] = Field((64, 32, 16), description="MLP tower widths, e.g. 64,32,16")
    learning_rate: float = Field(0.01, description="Adam learning rate")
    l2: float = Field(1e-6, description="L2 on whole embedding tables (loss bce)")
    num_negatives: int = Field(4, description="Sampled negatives per positive (loss bce/bpr)")
    loss: Loss = Field(
        "softmax",
        description="bce: pointwise, num_negatives sampled per positive; "
        "softmax: over the whole catalog, per user; bpr: pairwise, num_negatives sampled per positive",
    )
    ranking_l2: float = Field(
        0.1,
        ge=0,
        description="loss softmax/bpr: L2 on the embedding rows each step looks up "
        "(mean squared row norm; `l2` is bce's whole-table penalty)",
    )
    users_per_batch: int = Field(64, ge=1, description="loss=softmax: users per gradient step (x every item)")
    # --- training at scale (issue 13 part 3: the ml-25m-sized run) -------------------------------------
    softmax_sample_above_items: int | None = Field(
        20_000,
        ge=1,
        description="loss=softmax, model mf: above this many items, estimate the softmax normaliser from shared "
        "sampled negatives (log-Q corrected) instead of scoring the whole catalog; None: always exact",
    )
    softmax_negatives: int = Field(
        2048, ge=1, description="Sampled softmax: negatives shared by a step's users"
    )
    # chosen on the validation split of the 1M synthetic set, with the default learning rate (benchmarks/sampled_softmax.py)
    sampled_users_per_batch: int = Field(256, ge=1, description="Sampled softmax: users per gradient step")
    eval_every: int = Field(
        1, ge=1, description="Evaluate on the held-out split every N epochs (and the last)"
    )
    num_eval_negatives: int = Field(
        99,
        description="Sampled negatives per held-out item (leave_one_out, and the extra sampled figure of the other protocols)",
    )
    top_k: int = Field(10, description="Cut-off of the ranking metrics")
    seed: int = Field(42, description="Seed of splits, sampling and initialisation")
    max_ratings: int | None = Field(None, description="Use only the first N ratings (by time): quick runs")

    # --- Kafka / streaming -------------------------------------------------------------
    kafka_bootstrap: str = "127.0.0.1:9092"
    clicks_topic: str = "movie-clicks"
    dlq_topic: str = "movie-clicks-dlq"
    clicks_partitions: int = 3
    feedback_dir: Path | None = Field(None, description="Landed feedback files; default var/feedback")
    feedback_postgres_url: str | None = Field(
        None, description="e.g. postgresql://postgres@127.0.0.1:5432/test"
    )
    flink_checkpoint_interval_s: int = 10
    flink_jvm_heap: str = "768m"
    max_future_skew_s: int = 300
    feedback_postgres_table: str = Field("click_feedback", description="Upsert target (PRIMARY KEY event_id)")
    flink_consumer_group: str = Field("movierec-feedback-landing", description="Offsets committed by the job")
    flink_parallelism: int = 2
    flink_dedup_ttl_s: int = Field(86400, description="How long the job remembers an event_id")
    flink_restart_attempts: int = 3

    # --- online evaluation (impressions -> attributed clicks -> CTR per model version; trending) -----------------
    impressions_topic: str = Field(
        "movie-impressions", description="What the service showed (one per response)"
    )
    impressions_partitions: int = 3
    trending_topic: str = Field(
        "movie-trending", description="Per-movie click/like counts of the sliding window"
    )
    online_metrics_dir: Path | None = Field(
        None, description="Landed online metrics; default var/online-metrics"
    )
    online_window_s: int = Field(60, ge=1, description="Tumbling event-time window of the online metrics")
    attribution_window_s: int = Field(
        1800, ge=1, description="A click without request_id is attributed to the user's impression of that movie "
        "at most this long before it"
    )  # fmt: skip
    online_allowed_lateness_s: int = Field(
        30, ge=0, description="Watermark delay: later events are counted as late"
    )
    trending_window_s: int = Field(3600, ge=1, description="Sliding window of the trending counts")
    trending_slide_s: int = Field(60, ge=1, description="Slide of the trending window")
    flink_online_parallelism: int = Field(
        1, ge=1, description="Parallelism of the online job (not flink_parallelism): at 1 its windows leave out "
        "only what it dead-letters as late; above 1 they can drop events silently after idle periods (issue 14)"
    )  # fmt: skip
    flink_online_consumer_group: str = Field(
        "movierec-online", description="Offsets of the online-metrics job"
    )
    watermark_tick_s: float = Field(
        1.0, ge=0, description="The online job writes a watermark tick into every partition of its topics this "
        "often (pipelines.watermark_ticks): no partition idles, so no event is dropped silently; 0: off"
    )  # fmt: skip
    flink_online_jvm_heap: str = Field(
        "1536m", description="Heap of the online job's mini-cluster: with the hashmap backend its keyed state, one "
        "row per shown (user, movie) within attribution_window_s, lives there (docs/streaming.md, State)"
    )  # fmt: skip
    online_postgres_table: str = Field(
        "online_metrics", description="Upsert target of the online window rows (with feedback_postgres_url)"
    )
    online_state_backend: Literal["hashmap", "rocksdb"] = Field(
        "hashmap",
        description="Keyed state of the online job (rocksdb: larger than the heap, several times slower)",
    )
    ab_challenger_fraction: float = Field(
        0.1, ge=0, le=1, description="Share of users (stable hash of the user id) served by the `challenger` alias; "
        "off while there is no distinct challenger"
    )  # fmt: skip
    impression_buffer_max: int = Field(
        10_000, ge=1, description="Impressions queued for the broker; beyond: dropped, counted"
    )
    trending_weight: float = Field(
        0.5,
        ge=0,
        description="Cold start: the hottest movie gains this share of the top score (serving/trending.py)",
    )
    promotion_policy: Literal["offline", "online"] = Field(
        "offline",
        description="offline: the exact-metric gate; online: challenger CTR beats champion CTR (A/B)",
    )
    online_min_impressions: int = Field(500, ge=1, description="online policy: impressions needed per arm")
    online_significance: float = Field(
        0.05, gt=0, lt=1, description="online policy: two-proportion z-test level"
    )
    online_min_lift: float = Field(
        0.0, ge=0, description="online policy: required CTR lift (challenger - champion)"
    )

    # --- serving -----------------------------------------------------------------------
    serving_host: str = "127.0.0.1"
    serving_port: int = 3000
    model_poll_interval_s: float = 30.0
    click_ack_timeout_s: float = 5.0
    cold_start_min_count: int = 10
    foldin_method: Literal["ridge", "mean", "softmax"] = Field(
        "ridge",
        description="How fresh clicks become a user vector without a retrain; the foldin_* defaults were chosen "
        "on validation users of ml-latest-small by benchmarks/foldin.py (FOLDIN_PRESETS: other data sets)",
    )
    foldin_scale: float = Field(10.0, gt=0, description="How far fresh clicks move the folded vector")
    foldin_ridge_lambda: float = Field(10.0, gt=0, description="Ridge regularisation of the fold-in solve")
    foldin_unobserved_weight: float = Field(
        0.1, ge=0, description="Weight of the not-clicked catalog in the solve"
    )
    foldin_shrinkage: float = Field(
        0.0,
        ge=0,
        description="Pseudo-clicks c of the popularity prior: a new user's clicks weigh n / (n + c)",
    )
    foldin_combine: Literal["shrink", "offset"] = Field(
        "shrink",
        description="A new user's vector: 'offset' = popularity vector + the clicks' solve; 'shrink' = a mix",
    )
    foldin_popular_quantile: float = Field(
        0.0, ge=0, description="Clicks within this top share of the popularity ranking count less (0: off)"
    )
    foldin_known_scale: float = Field(
        30.0, ge=0, description="A known user: trained vector + this times the fresh clicks' solve"
    )
    foldin_max_clicks: int = Field(
        50, ge=1, description="Most recent fresh clicks folded per request (cost cap)"
    )
    impressions_enabled: bool = Field(
        True, description="Publish one impression per recommendation (off: no online A/B evaluation)"
    )
    serving_workers: int = Field(
        1, description="BentoML worker processes (each is a replica with its own state)"
    )
    recent_clicks_window_s: float = Field(86_400.0, description="Clicks younger than this are excluded")
    recent_clicks_max_users: int = Field(100_000, description="Bound of the in-memory recent-clicks state")
    recent_clicks_per_user: int = Field(500, description="Most recent clicks kept per user")
    click_batch_max: int = Field(500, description="Most events accepted by POST /clicks")
    admin_token: SecretStr | None = Field(
        None, description="When set, POST /catalog/movies needs `Authorization: Bearer <token>`"
    )
    new_movies_window_days: float = Field(
        7.0, gt=0, description="Movies added within this many days are 'new this week' on the page"
    )

    # --- Airflow -----------------------------------------------------------------------
    airflow_port: int = 8080
    retrain_schedule: str | None = "@daily"
    feedback_watch_schedule: str | None = Field("*/15 * * * *", description="How often to count new feedback")
    retrain_min_new_feedback: int = Field(1000, description="New feedback events that trigger a retrain run")
    task_retries: int = Field(
        2, ge=0, description="Airflow retries of a failed task (bad data is never retried)"
    )
    task_retry_delay_s: float = Field(60.0, gt=0, description="Seconds between Airflow task retries")

    # --- cluster profile (infra/cluster: `make up PROFILE=cluster`); ports apart from the embedded defaults ---
    flink_rest_port: int = Field(8081, description="cluster profile: Flink JobManager REST/UI port")
    flink_rpc_port: int = Field(6123, description="cluster profile: Flink JobManager RPC port")
    flink_taskmanagers: int = Field(2, ge=1, description="cluster profile: TaskManager processes")
    flink_taskmanager_slots: int = Field(
        2, ge=1, description="cluster profile: slots per TaskManager (one survivor can run the whole job)"
    )
    flink_taskmanager_memory: str = Field("1280m", description="cluster profile: TaskManager process size")
    cluster_port_offset: int = Field(
        10000,
        description="cluster profile: broker, MLflow, Airflow and serving listen on the embedded ports + this",
    )
    s3_port: int = Field(
        19000, description="cluster profile: S3 emulator (moto) for the broker and MLflow artifacts"
    )
    postgres_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/postgres",
        description="cluster profile: PostgreSQL server (an admin login) holding the mlflow and feedback databases",
    )
    cluster_database_prefix: str = Field(
        "movierec",
        pattern=r"^[a-z][a-z0-9_]{0,40}$",
        description="cluster profile: its PostgreSQL databases are <prefix>_mlflow, _feedback and _airflow",
    )
    serving_replicas: int = Field(
        2, ge=1, description="cluster profile: BentoML replicas on consecutive ports"
    )
    cluster_airflow_parallelism: int = Field(
        4, ge=2, description="cluster profile: task processes the LocalExecutor (PostgreSQL DB) runs at once"
    )

    @model_validator(mode="after")
    def _fill_derived_defaults(self) -> Settings:
        self.var_dir = self.var_dir.resolve()
        if self.data_root is None:
            self.data_root = self.var_dir / "data"
        if self.mlflow_artifact_root is None:
            self.mlflow_artifact_root = self.var_dir / "mlflow" / "artifacts"
        if self.mlflow_tracking_uri is None:
            self.mlflow_tracking_uri = f"sqlite:///{self.var_dir / 'mlflow' / 'mlflow.db'}"
        if self.feedback_dir is None:
            self.feedback_dir = self.var_dir / "feedback"
        if self.online_metrics_dir is None:
            self.online_metrics_dir = self.var_dir / "online-metrics"
        for name, value in FOLDIN_PRESETS.get(self.dataset, {}).items():
            if name not in self.model_fields_set:  # an explicit value (argument or MOVIEREC_*) wins
                setattr(self, name, value)
        return self

    # --- derived paths -----------------------------------------------------------------
    @property
    def dataset_dir(self) -> Path:
        return self.data_root / self.dataset

    @property
    def runs_dir(self) -> Path:
        """Per-run working folders (one per pipeline/DAG run id)."""
        return self.var_dir / "runs"

    @property
    def state_dir(self) -> Path:
        """Small durable state: feedback watermarks and the like."""
        return self.var_dir / "state"

    @property
    def catalog_additions_file(self) -> Path:
        """Movies added after training (POST /catalog/movies, or appended by hand); retrains merge them in."""
        return self.var_dir / "catalog" / "added_movies.jsonl"

    @property
    def logs_dir(self) -> Path:
        return self.var_dir / "logs"

    @property
    def pids_dir(self) -> Path:
        return self.var_dir / "pids"

    @property
    def flink_checkpoint_dir(self) -> Path:
        return self.var_dir / "flink" / "checkpoints"

    @property
    def airflow_home(self) -> Path:
        return self.var_dir / "airflow"

    def venv_python(self, env: Literal["ml", "airflow", "flink"]) -> Path:
        return self.venvs_dir / env / "bin" / "python"


@dataclass(frozen=True)
class TrainingField:
    """One training knob as the CLI, the DAG form and MLflow see it (derived from the Settings field)."""

    name: str
    kind: type  # int, float, str, bool or tuple (comma-separated ints on a command line)
    default: Any
    description: str
    choices: tuple[str, ...] = ()
    optional: bool = False


def _field_kind(annotation: Any) -> tuple[type, tuple[str, ...], bool]:
    args = [a for a in get_args(annotation) if a is not type(None)]
    optional = len(args) < len(get_args(annotation))
    if optional and len(args) == 1:
        annotation = args[0]
    if get_origin(annotation) is Literal:
        return str, tuple(str(a) for a in get_args(annotation)), optional
    if get_origin(annotation) is tuple:
        return tuple, (), optional
    return annotation, (), optional


def training_fields() -> list[TrainingField]:
    """TRAINING_FIELDS with their types, choices, defaults and descriptions, read from the Settings model."""
    out = []
    for name in TRAINING_FIELDS:
        info = Settings.model_fields[name]
        kind, choices, optional = _field_kind(info.annotation)
        out.append(
            TrainingField(
                name, kind, info.default, info.description or name.replace("_", " "), choices, optional
            )
        )
    return out


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings (read once from the environment)."""
    return Settings()
