"""The shapes of the benchmark's results: `Results` (results.json) and `FineTuneResults` (its
`fine_tune` part, and finetune.json of `python -m bench.finetune`).

The parts that measure build them, `bench.report` and `bench.bars` render and judge them;
each key is a JSON key, so `json.dumps` writes them as they are and a committed file read
back (`read_results`, `read_fine_tune`) renders again. Keys an older committed file lacks
are optional (`total=False` parts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, NotRequired, TypedDict, cast

from bench.snips.results import EntitiesResults

Variant = Literal["fp32", "int8"]
VARIANTS: tuple[Variant, ...] = ("fp32", "int8")


# Speed: one load phase, the paired 1-client phases, the server runs, the in-process model.


class Percentiles(TypedDict):
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float


class ClientRun(Percentiles):
    """Calls of one phase, whatever the client."""

    clients: int
    requests: int
    throughput_rps: float


class _LoadPhase(ClientRun):
    seconds: float
    errors: dict[str, int]  # failed calls by status code name


class LoadPhase(_LoadPhase, total=False):
    """One phase of `bench.loadgen`."""

    latencies_ms: list[float]  # every call's, with --raw


class _PairedRun(ClientRun):
    rounds: int


class PairedRun(_PairedRun, total=False):
    """One path's calls over the alternating rounds."""

    torch_threads: int  # the article path's


class _Paired(TypedDict):
    article_inprocess: PairedRun
    model_inprocess: PairedRun
    python_client: PairedRun
    python_round_trip: PairedRun


class Paired(_Paired, total=False):
    """The 1-client phases measured in alternating rounds; Node.js's only with node."""

    node_client: PairedRun
    node_round_trip: PairedRun
    node_client_skipped: str  # why the Node.js client did not run


class HttpRun(Percentiles):
    clients: int
    requests: int
    errors: int  # answers other than 200


class _ServerRun(TypedDict):
    args: list[str]
    start_to_serving_s: float
    rss_mb_idle: float
    rss_mb_after_load: float
    single_client: ClientRun
    concurrent: dict[str, LoadPhase]  # by client count


class ServerRun(_ServerRun, total=False):
    """One server process under load."""

    http_single_client: HttpRun  # with --http-port


class Batch1(Percentiles):
    throughput_tps: float


class Batch32(TypedDict):
    throughput_tps: float
    row_mode: str


class _OnnxBaseline(TypedDict):
    variant: str
    threads: int
    batch1: Batch1
    batch32: Batch32  # the faster row mode


class OnnxBaseline(_OnnxBaseline, total=False):
    batch32_modes: dict[str, float]  # texts/s by row mode


class SpeedTexts(TypedDict):
    count: int
    words_min: int
    words_median: float
    words_max: int


class RepeatedRun(TypedDict):
    single_client: LoadPhase
    clients_32: LoadPhase
    lookups: dict[str, float]  # the answer cache's "hit" and "miss" counts


class Repeated(TypedDict):
    zipf_s: float
    draws: int
    distinct_texts: int
    cache_on: RepeatedRun
    cache_off: RepeatedRun


class _SpeedResults(TypedDict):
    model: str
    served_variant: str
    texts: SpeedTexts
    onnx_inprocess: dict[str, OnnxBaseline]  # by variant
    server: ServerRun
    paired: Paired
    article_inprocess: PairedRun
    server_no_batching: ServerRun


class SpeedResults(_SpeedResults, total=False):
    server_with_http: ServerRun
    repeated: Repeated


# Accuracy: CLINC150 and BANKING77 through the product's path, small bots.


class ClosedSetScores(TypedDict):
    accuracy: float
    macro_f1: float


class OosScoresJson(TypedDict):
    inscope_accuracy: float
    oos_recall: float
    oos_precision: float
    oos_f1: float


class ThresholdsJson(TypedDict):
    confidence: float
    margin: float
    rule: str
    familiarity: float | None


class ProductThresholds(TypedDict):
    confidence: float
    margin: float
    familiarity: float | None
    test: OosScoresJson


class OosEvaluation(TypedDict):
    threshold: float
    threshold_rule: str
    val: OosScoresJson
    test: OosScoresJson
    auroc: float
    product_thresholds: ProductThresholds


class ClincSetting(TypedDict):
    test_inscope: ClosedSetScores
    oos: OosEvaluation


ClincSettingName = Literal["without_oos_train", "with_oos_train"]
CLINC_SETTINGS: tuple[ClincSettingName, ...] = ("without_oos_train", "with_oos_train")


class ClincResults(TypedDict):
    without_oos_train: ClincSetting
    with_oos_train: ClincSetting


class BankingResults(TypedDict):
    test: ClosedSetScores


class ProductDefault(TypedDict):
    top1_inscope: float
    test: OosScoresJson
    thresholds: ThresholdsJson


class _VariantAccuracy(TypedDict):
    clinc: ClincResults
    banking: BankingResults
    embed_seconds: dict[str, float]  # by text set


class VariantAccuracy(_VariantAccuracy, total=False):
    clinc_product_default: ProductDefault


class TrainingTime(TypedDict):
    examples: float
    cold_seconds: float
    cold_embed_seconds: float
    warm_seconds: float
    warm_embed_seconds: float


class ExportTimes(TypedDict):
    export_seconds: float
    train_seconds: float


class BotScores(TypedDict):
    argmax_accuracy: float
    inscope_accuracy: float
    oos_recall: float
    withheld_recall: float
    auroc_familiarity: float
    auroc_softmax: float


class SmallBot(BotScores):
    domain: str
    size: int
    seed: int


class _SmallBots(TypedDict):
    bots: list[SmallBot]
    by_size: dict[str, BotScores]  # means by examples per intent
    mean: BotScores


class SmallBots(_SmallBots, total=False):
    by_domain: dict[str, BotScores]  # means by CLINC150 domain (results before it: absent)


class _AccuracyResults(TypedDict):
    training_time: TrainingTime
    exports: dict[str, ExportTimes]  # by model
    fp32: VariantAccuracy
    int8: VariantAccuracy


class AccuracyResults(_AccuracyResults, total=False):
    small_bots: SmallBots


def variant_of(accuracy: AccuracyResults, variant: str) -> VariantAccuracy:
    """The scores of one encoder variant, named by a string (e.g. `default_variant`)."""
    return accuracy["fp32"] if variant == "fp32" else accuracy["int8"]


# Depth: the --encoder-layers dial.


class DepthAccuracy(TypedDict):
    clinc_inscope: ClosedSetScores
    banking: ClosedSetScores
    encoder_file: str
    encoder_mb: float
    train_seconds: dict[str, float]  # by model


class DepthRow(DepthAccuracy):
    batch1: Percentiles
    batch32_tps: float


class DepthResults(TypedDict):
    encoder_layers: int
    variant: str
    threads: int
    texts: int
    rounds: int
    depths: dict[str, DepthRow]  # by layer count


# Fine-tuning: frozen against --fine-tune.


class FineTuningRecord(TypedDict):
    """A model card's `fine_tuning` record (`FineTuning.to_json`)."""

    recipe: str
    mode: str
    kept: str
    compared_on: str
    compared_examples: int
    frozen_accuracy: float
    tuned_accuracy: float
    base_weights_sha256: str
    runs: int
    epochs: int
    steps: int
    stopped_early: bool
    minutes: float
    frozen_entity_f1: NotRequired[float | None]  # these four: absent in older results
    tuned_entity_f1: NotRequired[float | None]
    entity_spans: NotRequired[int]
    entity_head: NotRequired[str]


class _FineTuneRow(TypedDict):
    dataset: str
    shots: int  # 0: every example
    seed: int
    examples: int
    frozen_test: float
    tuned_test: float
    auto_keeps: str
    product_test: float
    comparison: FineTuningRecord
    frozen_train_minutes: float
    tuned_train_minutes: float
    tuned_export_minutes: float


class FineTuneRow(_FineTuneRow, total=False):
    oos: OosEvaluation  # CLINC150 full data


class ServedBot(TypedDict):
    intents: int
    shots: int
    examples: int
    train_minutes: float
    export_minutes: float
    to_first_answer_minutes: float
    served_test_accuracy: float
    test_texts: int
    fine_tuning: FineTuningRecord


class FineTuneResults(TypedDict):
    variant: str
    rows: list[FineTuneRow]
    served_bot: ServedBot | None
    anchors: dict[str, list[str | float]]  # "dataset:shots" -> [who, test accuracy %]
    bars: dict[str, float]  # "dataset:shots" -> the bar, test accuracy %


# Many bots on one server (bench/farm/).


class ManyBotsRow(TypedDict):
    bots: int
    disk_bytes: int  # their export folder on disk, the shared encoder store included
    rss_mb: float | None  # after SERVING and one call per bot; None: not served
    start_s: float | None  # process start to SERVING
    skipped: str  # why it was not served ("" when it was)


class ManyBotsLoad(TypedDict):
    bots: int  # the spread phase's calls go to these bots in turn
    clients: int
    one_bot_rps: float
    spread_rps: float
    errors: int  # failed calls of both phases


class ManyBotsResults(TypedDict):
    generated: int  # bots trained and exported
    intents: int  # per bot
    examples: int  # per intent
    generate_seconds: float  # all of them: training and export
    train_seconds_mean: float
    traced_export_seconds: float | None  # the first bot's, traced and quantized (as before)
    reused_export_seconds: float  # median of the exports that reused the stored encoder
    self_contained_version_bytes: int  # one version folder holding its own encoders
    shared_version_bytes: float  # mean version folder with the encoder in the store
    store_bytes: int
    rows: list[ManyBotsRow]
    load: ManyBotsLoad | None


# The whole run.


class Machine(TypedDict):
    cpu_model: str
    cores: int | None
    usable_cores: int | None
    python: str
    platform: str
    date: str


class BarJson(TypedDict):
    key: str
    what: str
    bar: str
    measured: str
    passed: bool | None
    anchor: str


class _Results(TypedDict):
    command: str
    small: bool
    machine: Machine
    datasets: dict[str, dict[str, int]]  # split sizes by dataset
    accuracy: AccuracyResults | None  # None: not run
    speed: SpeedResults | None
    depth: DepthResults | None


class Results(_Results, total=False):
    fine_tune: FineTuneResults | None
    many_bots: ManyBotsResults | None
    entities: EntitiesResults | None
    default_variant: str  # the encoder variant the CLINC export serves
    seconds: float
    bars: list[BarJson]  # added when written


def read_results(path: Path) -> Results:
    """A results.json as written by `bench.report.write_results`."""
    return cast(Results, json.loads(path.read_text(encoding="utf-8")))


def read_fine_tune(path: Path) -> FineTuneResults:
    """A finetune.json as written by `python -m bench.finetune`."""
    return cast(FineTuneResults, json.loads(path.read_text(encoding="utf-8")))
