"""The two model versions of the online A/B demo, registered in the real MLflow registry, and the alias moves.

Both train on the simulated population's history (pipelines.population: everyone's ratings but their latest
quarter) through the normal pipeline stages, so the movies each user likes later are unseen by both:
- `strong`: the stack's own training settings (what the retrain DAG would train);
- `weak`: the same model untrained (epochs=0): a random ranking, truly worse for every user by construction.
Each demo run trains its own pair (MLflow runs `demo-online-<dataset>-<tag>-strong|weak`; the same tag reuses
them): an A/B test per run, whose evidence is not mixed with an earlier run's.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.settings import Settings

ROLES = {"strong": {}, "weak": {"epochs": 0}}  # training overrides per role
STAGES = ("validate", "preprocess", "train", "evaluate", "register")  # no promote: the demo sets the aliases


def history_dataset(settings: Settings) -> str:
    """The history's data-set name (`synthetic-*`: pipelines.data reads it in the ml-25m file format)."""
    return f"synthetic-demo-history-{settings.dataset}"


def demo_settings(settings: Settings) -> Settings:
    """The stack's settings with the population's history as the data set (under var/demo-online/data)."""
    return settings.model_copy(update={"data_root": settings.var_dir / "demo-online" / "data",
                                       "dataset": history_dataset(settings)})  # fmt: skip


def write_population_history(settings: Settings):
    """Build the population from the stack's data set and write its history; returns the Population."""
    from pipelines.data import load_movielens
    from pipelines.population import build_population, write_history

    data = load_movielens(settings.data_root, settings.dataset)
    population = build_population(data.ratings)
    cfg = demo_settings(settings)
    write_history(population.history, data.movies, cfg.dataset_dir)
    return population


def train_versions(settings: Settings, tag: str) -> dict[str, str]:
    """{role: registered version} for `strong` and `weak`, trained for this tag (or reused when it has been)."""
    from pipelines import registry
    from pipelines.pipeline import run_stage

    cfg = demo_settings(settings)
    registry.configure(cfg)
    versions = {}
    for role, overrides in ROLES.items():
        run_key = f"demo-online-{settings.dataset}-{tag}-{role}"
        found = registry.find_run_by_key(cfg, run_key)
        version = found and registry.find_version_for_run(cfg, found.info.run_id)
        if version:
            versions[role] = str(version.version)
            continue
        params = {**overrides, "tags": {"demo": "online-ab", "demo.role": role}}
        for stage in STAGES:
            result = run_stage(stage, run_key, params, cfg)
        versions[role] = str(result["version"])
    return versions


@dataclass(frozen=True)
class Aliases:
    champion: str | None
    challenger: str | None


def read_aliases(settings: Settings) -> Aliases:
    from pipelines import registry

    registry.configure(settings)
    champ = registry.get_alias_version(settings, registry.CHAMPION)
    chall = registry.get_alias_version(settings, registry.CHALLENGER)
    return Aliases(champ and str(champ.version), chall and str(chall.version))


def set_aliases(settings: Settings, aliases: Aliases) -> None:
    """Point champion/challenger at these versions (None: remove the alias); the service hot-swaps to them."""
    from pipelines import registry

    registry.configure(settings)
    client = registry.client()
    for alias, version in ((registry.CHAMPION, aliases.champion), (registry.CHALLENGER, aliases.challenger)):
        if version is None:
            if registry.get_alias_version(settings, alias) is not None:
                client.delete_registered_model_alias(settings.model_name, alias)
        else:
            client.set_registered_model_alias(settings.model_name, alias, version)
