"""Deterministic synthetic digests: the demo corpus, unit-test input and the 100× benchmark corpus.

The project ships no copied abstracts, so every title and abstract here is assembled from a vocabulary
and sentence templates written for this module. The output has the exact shape of a real "Daily Papers"
digest (docs/design.md#digest-format): header lines, a year-less date line, then title/abstract pairs,
all separated by blank lines, UTF-8 with LF and sometimes no trailing newline.

Everything is a pure function of ``(days, start, seed, scale, plants)``: ``random.Random`` instances
seeded from ``seed`` drive it, there is no clock, and the only module state is a cache of sentences
rendered per seed, so the same arguments give the same bytes in any order of calls.

Planted phrases (:class:`Plant`) give the trend metrics something known to find: each plant has a daily
document-share curve (a sharp rise in the last week, a fall, a slow rise, a flat baseline, a brand-new
phrase, a burst) and is written into that share of the day's abstracts as a sentence of its own.
"""

from __future__ import annotations

import functools
import math
import random
import re
import string
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

__all__ = [
    "HEADER",
    "Digest",
    "Plant",
    "PlantKind",
    "date_line",
    "default_plants",
    "generate_corpus",
    "iter_corpus",
    "render_digest",
    "write_corpus",
]

#: The four header lines every real digest starts with, in order.
HEADER: tuple[str, ...] = (
    "new",
    "Get trending papers in your email inbox!",
    "Subscribe",
    "byAK and the research community",
)

Paper = tuple[str, str]
PlantKind = Literal["rise", "fall", "slow_rise", "flat", "new", "burst"]

# Not calendar.month_abbr: that follows the process locale, and the bytes must not.
_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_WEEKDAY_MIN, _WEEKDAY_MAX = 5, 50
# Gamma(3.2, 5.0) clipped to 5..50 matches the real weekday counts: median ~15, mean ~16, p95 ~32.
_GAMMA_SHAPE, _GAMMA_SCALE = 3.2, 5.0
_WEEKEND_SHARE = 0.15
_WEEKEND_MIN, _WEEKEND_MAX = 3, 8
_DUPLICATE_RATE = 0.01
_DUPLICATE_LOOKBACK = 5  # a recurring paper comes back from one of the last few digests
_TRUNCATED_RATE = 0.005
_NO_TRAILING_NEWLINE_RATE = 0.6
_MIN_WORDS, _MAX_WORDS = 60, 250
_MIN_SENTENCES, _MAX_SENTENCES = 4, 10
_TITLE_MIN_WORDS, _TITLE_MAX_WORDS, _TITLE_MAX_CHARS = 4, 14, 119


# ----------------------------------------------------------------------------------------------------
# Public data types
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Digest:
    """One day's generated digest: its date, its papers in order, and its rendered text.

    ``text`` is rendered on access rather than stored, so a 100× corpus does not hold every abstract
    twice in memory.
    """

    digest_date: date
    papers: list[Paper]
    trailing_newline: bool = True

    @property
    def file_name(self) -> str:
        """The landing file name, ``YYYY-MM-DD.txt``."""
        return f"{self.digest_date.isoformat()}.txt"

    @property
    def text(self) -> str:
        """The digest in the exact landing format."""
        return render_digest(self.digest_date, self.papers, trailing_newline=self.trailing_newline)


@dataclass(frozen=True)
class Plant:
    """A phrase planted into a known share of each day's abstracts.

    ``kind`` picks the share curve over the ``n_days`` calendar days of the corpus (day index ``i``):

    - ``rise``: ``base`` before the last ``window`` days, ``peak`` within them (a sharp recent rise);
    - ``fall``: ``peak`` before the last ``window`` days, ``base`` within them;
    - ``slow_rise``: linear from ``base`` on the first day to ``peak`` on the last;
    - ``flat``: ``base`` every day;
    - ``new``: absent, then in ``count`` papers a day (times ``scale``) in the last ``window`` days;
    - ``burst``: ``peak`` for ``window`` days from day ``burst_start`` (default: mid-span), else ``base``.
    """

    phrase: str
    kind: PlantKind
    base: float = 0.02
    peak: float = 0.2
    window: int = 7
    count: int = 3
    burst_start: int | None = None

    def share(self, day_index: int, n_days: int) -> float:
        """The share of the day's papers that carry the phrase (``new`` is counted, not shared: 0)."""
        recent = day_index >= n_days - self.window
        if self.kind == "rise":
            return self.peak if recent else self.base
        if self.kind == "fall":
            return self.base if recent else self.peak
        if self.kind == "slow_rise":
            return self.base + (self.peak - self.base) * day_index / max(n_days - 1, 1)
        if self.kind == "flat":
            return self.base
        if self.kind == "new":
            return 0.0
        if self.kind == "burst":
            start = (
                self.burst_start if self.burst_start is not None else max(n_days // 2 - self.window // 2, 0)
            )
            return self.peak if start <= day_index < start + self.window else self.base
        raise ValueError(f"unknown plant kind {self.kind!r} for phrase {self.phrase!r}")

    def papers_on(self, day_index: int, n_days: int, n_papers: int, scale: float, rng: random.Random) -> int:
        """How many of the day's ``n_papers`` carry the phrase (stochastic rounding keeps the mean exact)."""
        if self.kind == "new":
            if day_index < n_days - self.window:
                return 0
            return min(n_papers, max(1, round(self.count * scale)))
        expected = self.share(day_index, n_days) * n_papers
        whole = math.floor(expected)
        return min(n_papers, whole + (rng.random() < expected - whole))


def default_plants() -> list[Plant]:
    """One plant of each kind, with made-up phrases the background vocabulary never produces."""
    return [
        Plant("spectral token routing", "rise", base=0.02, peak=0.22),
        Plant("latent diffusion distillation", "fall", base=0.01, peak=0.12),
        Plant("verifier-guided decoding", "slow_rise", base=0.01, peak=0.15),
        Plant("curriculum data mixing", "flat", base=0.05),
        Plant("holographic state caching", "new", window=3, count=3),
        Plant("elastic expert merging", "burst", base=0.005, peak=0.25, window=10),
    ]


# ----------------------------------------------------------------------------------------------------
# Rendering and writing
# ----------------------------------------------------------------------------------------------------


def date_line(digest_date: date) -> str:
    """The year-less date line of a digest, e.g. ``Mar 12`` (no zero padding, like the real ones)."""
    return f"{_MONTH_ABBR[digest_date.month - 1]} {digest_date.day}"


def render_digest(digest_date: date, papers: Sequence[Paper], *, trailing_newline: bool = True) -> str:
    """Render one digest: header lines, date line, then title and abstract lines, separated by blank lines.

    Titles and abstracts are written verbatim, so tests can pass hostile values (stray spaces, empty
    abstracts) and see exactly those bytes. Without ``trailing_newline`` the text ends right after the
    last line, as every real digest does.
    """
    lines = [*HEADER, date_line(digest_date)]
    for title, abstract in papers:
        lines.append(title)
        lines.append(abstract)
    text = "\n\n".join(lines)
    return text + "\n" if trailing_newline else text


def write_corpus(digests: Iterable[Digest], out_dir: str | Path) -> list[Path]:
    """Write each digest to ``out_dir/YYYY-MM-DD.txt`` (UTF-8, LF) and return the paths in order.

    Existing files of the same name are overwritten, so writing the same corpus twice is idempotent.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for digest in digests:
        path = out / digest.file_name
        path.write_bytes(digest.text.encode("utf-8"))
        paths.append(path)
    return paths


# ----------------------------------------------------------------------------------------------------
# Corpus
# ----------------------------------------------------------------------------------------------------


def generate_corpus(
    days: int,
    *,
    start: date = date(2025, 1, 6),
    seed: int = 0,
    scale: float = 1.0,
    plants: list[Plant] | None = None,
) -> list[Digest]:
    """Generate the digests of ``days`` calendar days from ``start`` (days without papers have none).

    Weekdays get 5-50 papers (mean ~16), about 15% of weekend days a small digest of 3-8; ``scale``
    multiplies both (``scale=100`` goes past 50 a day on purpose). ``plants=None`` uses
    :func:`default_plants`; pass ``[]`` for a corpus without planted phrases.
    """
    return list(iter_corpus(days, start=start, seed=seed, scale=scale, plants=plants))


def iter_corpus(
    days: int,
    *,
    start: date = date(2025, 1, 6),
    seed: int = 0,
    scale: float = 1.0,
    plants: list[Plant] | None = None,
) -> Iterator[Digest]:
    """:func:`generate_corpus` one digest at a time, so a large corpus can be written without holding it."""
    if days < 0:
        raise ValueError(f"days must be >= 0, got {days}")
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    plants = default_plants() if plants is None else plants
    rng = random.Random(seed)
    writer = _Writer(rng, _pools(seed))
    recent: deque[list[Paper]] = deque(maxlen=_DUPLICATE_LOOKBACK)
    recurred: set[str] = set()  # a paper recurs at most once, like the real ones

    for day_index in range(days):
        day = start + timedelta(days=day_index)
        n = _paper_count(rng, day, scale)
        if n == 0:
            continue
        n_dup = sum(rng.random() < _DUPLICATE_RATE for _ in range(n)) if recent else 0
        dups = _pick_duplicates(rng, recent, recurred, n_dup)
        fresh_n = n - len(dups)
        planted: list[list[str]] = [[] for _ in range(fresh_n)]
        for plant in plants:
            k = plant.papers_on(day_index, days, fresh_n, scale, rng)
            for idx in rng.sample(range(fresh_n), k):
                planted[idx].append(plant.phrase)
        papers = [writer.paper(phrases) for phrases in planted]
        for paper in dups:
            papers.insert(rng.randrange(len(papers) + 1), paper)
        recent.append(papers)
        yield Digest(day, papers, trailing_newline=rng.random() >= _NO_TRAILING_NEWLINE_RATE)


def _paper_count(rng: random.Random, day: date, scale: float) -> int:
    if day.weekday() < 5:
        base = min(max(round(rng.gammavariate(_GAMMA_SHAPE, _GAMMA_SCALE)), _WEEKDAY_MIN), _WEEKDAY_MAX)
        return max(1, round(base * scale))
    if rng.random() < _WEEKEND_SHARE:
        return max(1, round(rng.randint(_WEEKEND_MIN, _WEEKEND_MAX) * scale))
    return 0


def _pick_duplicates(
    rng: random.Random, recent: deque[list[Paper]], recurred: set[str], n_dup: int
) -> list[Paper]:
    picked: list[Paper] = []
    for _ in range(n_dup):
        for _attempt in range(5):
            paper = rng.choice(rng.choice(recent))
            if paper[0] not in recurred:
                recurred.add(paper[0])
                picked.append(paper)
                break
    return picked


# ----------------------------------------------------------------------------------------------------
# Vocabulary: written for this module, not taken from any digest. Words that make up the planted
# phrases (spectral, distillation, verifier-guided, curriculum, holographic, elastic) are kept out.
# ----------------------------------------------------------------------------------------------------


def _split(items: str) -> tuple[str, ...]:
    """Comma-separated vocabulary (entries may wrap across lines) as a tuple."""
    return tuple(" ".join(item.split()) for item in items.split(",") if item.strip())


_ADJ = _split(
    """
    efficient, scalable, robust, adaptive, sparse, hierarchical, multimodal, lightweight, unified,
    contrastive, self-supervised, zero-shot, few-shot, compositional, causal, probabilistic, modular,
    interpretable, differentiable, recurrent, autoregressive, generative, multilingual, long-context,
    memory-efficient, parameter-efficient, instruction-tuned, open-vocabulary, cross-lingual, on-device,
    federated, temporal, geometric, equivariant, data-efficient, training-free, uncertainty-aware,
    structured, continual, progressive, bidirectional, streaming, asynchronous, grounded, controllable,
    faithful, calibrated, dense, quantized, low-rank, token-level, object-centric
    """
)
_NOUN = _split(
    """
    transformer, encoder, decoder, attention mechanism, representation, embedding space, benchmark,
    policy, reward model, agent, retriever, tokenizer, adapter, mixture of experts, vision-language
    model, language model, planner, memory module, value function, world model, scene graph, point
    cloud, video model, speech model, optimizer, state space model, graph network, diffusion model, flow
    model, critic, search procedure, prompting strategy, training objective, data pipeline, evaluation
    suite, feature pyramid, codebook, latent space, preference model, reasoning chain
    """
)
_NOUN_PL = {"mixture of experts": "mixtures of experts"}
_TASK = _split(
    """
    text-to-image generation, visual question answering, code generation, mathematical reasoning, long
    video understanding, speech recognition, 3D scene reconstruction, robotic manipulation,
    retrieval-augmented generation, machine translation, document parsing, molecule design, protein
    structure prediction, time series forecasting, autonomous driving, image editing, human motion
    synthesis, tabular prediction, theorem proving, web navigation, tool use, multi-turn dialogue, image
    segmentation, novel view synthesis, audio generation, object detection, depth estimation, text
    summarization, question answering, instruction following, chart understanding, embodied navigation,
    music generation, weather forecasting, medical image analysis, open-domain retrieval, program repair
    """
)
_TECHNIQUE = _split(
    """
    reinforcement learning, contrastive pretraining, knowledge transfer, low-rank adaptation,
    chain-of-thought prompting, preference optimization, masked modeling, test-time scaling, synthetic
    data generation, self-play, beam search, token pruning, speculative decoding, quantization-aware
    training, mixture-of-experts routing, flow matching, score matching, in-context learning, model
    merging, active learning, data augmentation, reward modeling, iterative refinement, self-correction,
    multi-task training, gradient checkpointing, sparse attention, linear attention, rejection sampling,
    hard negative mining, cross-attention fusion, position interpolation, weight sharing, neural
    architecture search
    """
)
_FIELD = _split(
    """
    natural language processing, computer vision, robotics, speech processing, generative modeling,
    multimodal learning, reinforcement learning, information retrieval, scientific machine learning,
    embodied AI, graph learning, 3D vision, video generation
    """
)
_PROBLEM = _split(
    """
    distribution shift, hallucination, catastrophic forgetting, reward hacking, error accumulation,
    quadratic memory cost, slow inference, poor calibration, limited context length, noisy supervision,
    mode collapse, exposure bias, spurious correlations, sample inefficiency, weak compositional
    generalization, annotation cost, long-tail categories
    """
)
_CONDITION = _split(
    """
    inputs are long, labels are scarce, the test distribution differs from training, compute budgets are
    tight, tasks require multi-step reasoning, the environment is partially observed, data comes from
    many domains, latency matters, supervision is only available at the end
    """
)
_METRIC = _split(
    """
    accuracy, F1 score, success rate, win rate, exact match, BLEU, FID, PSNR, mIoU, pass@1, recall@10,
    throughput, top-1 accuracy, average reward, mean average precision
    """
)
_DATASET_PREFIX = _split("Open, Multi, Long, Deep, Vision, Code, Math, Scene, Web, Chart, Robo")
_DATASET_SUFFIX = _split("Bench, QA, Eval, Set, Arena, Suite, -1K, -Hard, World, Reason")
_VERB = _split(
    """
    improves, stabilizes, accelerates, simplifies, regularizes, compresses, aligns, decomposes,
    generalizes, unifies, strengthens, refines
    """
)
_ADVERB = _split("consistently, substantially, markedly, reliably, smoothly, predictably")
_FRAMEWORK = _split("framework, method, model, approach, architecture, pipeline, recipe, system")
_ARTIFACT = _split(
    """
    our code, the dataset, model weights, the benchmark, training logs, an evaluation toolkit
    """
)
_SYL_A = _split(
    """
    Ka, Lu, Zen, Vo, Mi, Ra, Tor, Quil, Nex, Sy, Or, Bri, Fen, Del, Ix, Mo, Pra, Tu, Vel, Xa, Gal, Hel,
    Jun, Kor, Lyr, Nym, Pel, Sol, Tal, Ul, Wex
    """
)
_SYL_B = _split("ra, on, ix, ta, lo, mir, vex, da, no, sk, rin, dal, ven, tho, ka, ly")
_SUFFIX = (
    "",
    "",
    "",
    *_split("LM, -VL, Net, Former, Bench, Gen, Agent, -3D, Flow, Coder, Mind, -Zero, X, GPT, Diff"),
)
_EPONYM = _split(
    """
    Möbius, Fréchet, Lévy, Gödel, Poincaré, Hölder, Erdős-Rényi, Schrödinger, Weierstraß, Łojasiewicz,
    Núñez, Çelik
    """
)
_COMPLEXITY = ("$O(n)$", "$O(n \\log n)$", "$O(\\sqrt{n})$", "$O(1)$", "$O(nk)$")
_COST = _split("linear in sequence length, close to that of the base model, within a single GPU, modest")
_SMALL_WORDS = frozenset(
    {"a", "an", "the", "of", "for", "with", "via", "in", "on", "and", "to", "from", "by", "at"}
)

_OPENERS = (
    "{Task} has become a central problem in {field}, yet existing {noun_pl} remain limited by {problem}.",
    "Recent advances in {field} have produced increasingly capable {noun_pl}, but {problem} still hinders their use in practice.",
    "{Noun_pl} often struggle with {problem} when {condition}, which limits their value for {task}.",
    "Despite rapid progress, {adj} {noun_pl} for {task} remain difficult to train and expensive to deploy.",
    "A growing body of work applies {technique} to {task}, but little is known about how it behaves when {condition}.",
    "Building {adj} {noun_pl} that handle {task} reliably is an open challenge, especially when {condition}.",
    "Large {noun_pl} have shown strong results on {task}, although they suffer from {problem} and {problem2}.",
)
_PROPOSALS = (
    "In this paper, we introduce {Name}, a {adj} {framework} that {verb} {task} through {technique}.",
    "We propose {Name}, which combines {technique} with {technique2} to reduce {problem} in {adj} {noun_pl}.",
    "To address this, we present {Name}, a {adj} {framework} for {task} that requires no additional labels.",
    "We introduce {Name}, a {adj} {noun} trained with {technique} on a large mixture of synthetic and real data.",
    "This work presents {Name}, a simple {framework} that {verb} {adj} {noun_pl} by casting {task} as {technique}.",
)
_DETAILS = (
    "Specifically, we design a {adj} {noun} that {verb} the {noun2} at every step of {technique}, so that errors made early do not propagate to later stages.",
    "Unlike prior work, our {framework} does not rely on {technique} and therefore avoids {problem}.",
    "The key insight is that {noun_pl} can be trained with {technique} without sacrificing {metric} on {task}.",
    "Our {framework} first builds a {adj} {noun} and then applies {technique} to refine its predictions.",
    "We further introduce a {adj} {noun2} that {verb} training while keeping the overall cost {cost}.",
    "To make this practical, we pair {technique} with a {adj} {noun} that adapts to each input and can be trained end to end on a single node.",
    "We analyze the resulting {noun} theoretically and show that it {verb} learning under mild assumptions.",
    "A lightweight {noun2} decides when to invoke {technique}, so easy inputs are handled at low cost.",
    "We also construct {Dataset}, a {adj} benchmark with {count} examples covering {task} and {task2}.",
    "Training proceeds in two stages, with {technique} on broad web-scale data followed by {technique2} on a smaller curated set for {task}.",
)
_RESULTS = (
    "Experiments on {small} benchmarks spanning {task} and {task2} show that {Name} improves {metric} by {pct} over strong baselines.",
    "On {Dataset}, our model reaches a {metric} of {score} while using {factor} fewer parameters than prior work.",
    "Extensive evaluations across {task} and {task2} demonstrate consistent gains, with {pct} lower latency.",
    "{Name} outperforms larger {noun_pl} on {Dataset} and matches them on {Dataset2} at a fraction of the cost.",
    "Ablation studies confirm that each component contributes to the final performance, and that the gains grow {adverb} with model size and training compute.",
    "Compared with {technique}, our approach is {factor} faster at inference and {adverb} more stable during training.",
    "Human evaluators prefer outputs from {Name} in {percent} of pairwise comparisons against the strongest baseline.",
    "We observe that {metric} on {task} improves {adverb} as the amount of training data increases.",
)
_CLOSINGS = (
    "Code and models are available at {url}.",
    "We release {artifact} at {url} to support future research on {task}.",
    "These results suggest that {technique} is a promising direction for {adj} {task}.",
    "We hope {Name} serves as a strong baseline for future work on {task}.",
    "Our findings highlight the importance of {technique} for building {adj} {noun_pl}.",
    "Project page: {page}.",
)
_PLANT_SENTENCES = (
    "We study {phrase} for {task} and show that it {verb} {adj} {noun_pl}.",
    "Our approach builds on {phrase}, which lets the {noun} adapt to each input at little extra cost.",
    "A central ingredient is {phrase}, applied at every layer of the {noun}.",
    "We find that {phrase} {verb} {task} when {condition}.",
    "Compared with standard {technique}, {phrase} reduces {problem} on {task}.",
    "In particular, {phrase} is combined with {technique} to handle {task}.",
)
# Three real titles in four carry a "Name: ..." colon. Each shape has over a million fillings, so
# even the 100x corpus (~800k papers) rarely draws the same title twice.
_NAMED_TITLES = (
    "{Name}: {Adj} {Noun} for {Task}",
    "{Name}: {Technique} for {Adj} {Task}",
    "{Name}: Towards {Adj} {Task} with {Technique}",
    "{Name}: Scaling {Adj} {Noun_pl} to {Task}",
    "{Name}: Benchmarking {Adj} {Noun_pl} on {Task}",
    "{Name}: {Adj} {Task} via {Technique}",
    "{Name}: Learning {Adj} {Noun_pl} with {Technique}",
    "{Name}: When {Technique} Meets {Task}",
)
_NAMED_TITLE_RATE = 0.7
_PLAIN_TITLES = (
    "{Adj} {Noun_pl} via {Technique} for {Task}",
    "Towards {Adj} {Task} with {Adj2} {Technique}",
    "Rethinking {Technique} in {Adj} {Noun_pl} for {Task}",
    "{Adj} {Technique} Improves {Task} under {Problem}",
    "On the Limits of {Technique} in {Adj} {Noun_pl} for {Task}",
    "Learning {Adj} {Noun_pl} from {Technique} for {Task}",
    "When Does {Technique} Help {Adj} {Noun_pl} in {Task}?",
    "{Technique} Meets {Technique2}: {Adj} {Task} at Scale",
    "{Adj} and {Adj2} {Task} with {Noun_pl}",
)
# Non-ASCII letters show up in about 1% of real papers; this title shape carries most of ours.
_EPONYM_TITLE = "{Eponym} {Noun_pl} for {Adj} {Task}"
_EPONYM_TITLE_RATE = 0.012


def _plural(noun: str) -> str:
    if noun in _NOUN_PL:
        return _NOUN_PL[noun]
    return noun[:-1] + "ies" if noun.endswith("y") and noun[-2] not in "aeiou" else noun + "s"


def _title_case(text: str) -> str:
    """Capitalise every word and hyphen part except short function words inside the title."""
    out = []
    first = True
    for word in text.split(" "):
        if first or word.lower() not in _SMALL_WORDS:
            word = "-".join(p[:1].upper() + p[1:] for p in word.split("-"))
        out.append(word)
        first = word.endswith(":")
    return " ".join(out)


_AN = re.compile(r"\b([Aa]) (?=[aeioAEIO]|[uU](?!ni|se)|\$O|F1\b)")
_TITLE_KEY = re.compile(r"[\W_]+")
# Placeholders for the method name and its URL slug inside pooled sentences and compiled titles.
_NAME, _SLUG = "\x01", "\x02"
_POOL_SIZES = {"opener": 400, "proposal": 400, "detail": 1600, "result": 800, "closing": 300}
_PLANT_POOL = 40


def _an(text: str) -> str:
    return _AN.sub(r"\1n ", text)


Sentence = tuple[str, int]  # text with placeholders, word count


class _Pools:
    """Sentences rendered once per seed; an abstract is an ordered pick of them plus its own name.

    Rendering every abstract slot by slot costs ~40 RNG draws per paper; picking whole sentences costs
    ~8, which is what makes the 100× corpus (~800k papers) take seconds rather than minutes.
    """

    def __init__(self, seed: int) -> None:
        # Variant v of template t sits at index t + v * len(templates), so an abstract can take
        # distinct templates by index arithmetic alone.
        self.seed = seed
        self.rng = random.Random(f"digestflow.generate.pools:{seed}")
        self.opener = self._render(_OPENERS, _POOL_SIZES["opener"])
        self.proposal = self._render(_PROPOSALS, _POOL_SIZES["proposal"])
        self.detail = self._render(_DETAILS, _POOL_SIZES["detail"])
        self.result = self._render(_RESULTS, _POOL_SIZES["result"])
        self.closing = self._render(_CLOSINGS, _POOL_SIZES["closing"])
        self._planted: dict[str, tuple[Sentence, ...]] = {}

    def planted(self, phrase: str) -> tuple[Sentence, ...]:
        """Sentences that carry ``phrase``, rendered on first use (phrases are few)."""
        if phrase not in self._planted:
            # Own RNG per phrase: the sentences must not depend on which phrases were asked for first.
            rng = random.Random(f"digestflow.generate.plant:{self.seed}:{phrase}")
            self._planted[phrase] = self._render(_PLANT_SENTENCES, _PLANT_POOL, phrase=phrase, rng=rng)
        return self._planted[phrase]

    def _render(
        self, templates: Sequence[str], n: int, phrase: str = "", rng: random.Random | None = None
    ) -> tuple[Sentence, ...]:
        slots = _Slots(rng or self.rng, phrase)
        out = []
        for i in range(n):
            text = _an(templates[i % len(templates)].format_map(slots))
            out.append((text, len(text.split())))
        return tuple(out)


@functools.lru_cache(maxsize=4)
def _pools(seed: int) -> _Pools:
    return _Pools(seed)


class _Slots(dict):
    """A ``format_map`` mapping that draws a fresh vocabulary item for each placeholder."""

    def __init__(self, rng: random.Random, phrase: str = "") -> None:
        super().__init__()
        self.rng = rng
        self.phrase = phrase

    def __missing__(self, key: str) -> str:
        r = self.rng
        base = key.rstrip("0123456789")
        value = _draw(r, base.lower(), self.phrase)
        return value[:1].upper() + value[1:] if base[:1].isupper() else value


def _draw(r: random.Random, slot: str, phrase: str = "") -> str:
    if slot in _VOCAB:
        return r.choice(_VOCAB[slot])
    if slot == "name":
        return _NAME
    if slot == "phrase":
        return phrase
    if slot == "noun_pl":
        return _plural(r.choice(_NOUN))
    if slot == "dataset":
        return r.choice(_DATASET_PREFIX) + r.choice(_DATASET_SUFFIX)
    if slot == "count":
        return f"{r.randint(1, 99) * 1000:,}"
    # Raw LaTeX (``\\%``, ``$\\times$``, ``$O(n)$``) is in ~6% of real papers, so it is rare here too.
    if slot == "cost":
        return f"at {r.choice(_COMPLEXITY)}" if r.random() < 0.2 else r.choice(_COST)
    if slot == "pct":
        value = f"{r.uniform(1, 40):.1f}"
        return f"{value}\\%" if r.random() < 0.03 else f"{value}%"
    if slot == "percent":
        return f"{r.randint(55, 85)}%"
    if slot == "score":
        return f"{r.uniform(20, 95):.1f}"
    if slot == "factor":
        value, roll = f"{r.uniform(1.5, 12):.1f}", r.random()
        return f"${value}\\times$" if roll < 0.03 else f"{value}times" if roll < 0.05 else f"{value}x"
    if slot == "url":
        return f"https://github.com/{_handle(r)}/{_SLUG}"
    if slot == "page":
        return f"https://{_handle(r)}.github.io/{_SLUG}"
    raise KeyError(slot)


def _handle(r: random.Random) -> str:
    return (r.choice(_SYL_A) + r.choice(_SYL_B) + "-" + r.choice(_HANDLE_SUFFIX)).lower()


_HANDLE_SUFFIX = _split("lab, ai, group, research, nlp, cv")
_VOCAB: dict[str, tuple[str, ...]] = {
    "adj": _ADJ,
    "noun": _NOUN,
    "task": _TASK,
    "technique": _TECHNIQUE,
    "field": _FIELD,
    "problem": _PROBLEM,
    "condition": _CONDITION,
    "metric": _METRIC,
    "verb": _VERB,
    "adverb": _ADVERB,
    "framework": _FRAMEWORK,
    "artifact": _ARTIFACT,
    "complexity": _COMPLEXITY,
    "eponym": _EPONYM,
    "small": ("three", "four", "five", "six", "seven", "eight", "nine", "twelve"),
}
# Title slots, already in title case so a title is one join of pre-cased parts.
_TITLE_VOCAB: dict[str, tuple[str, ...]] = {
    "adj": tuple(_title_case(w) for w in _ADJ),
    "noun_pl": tuple(_title_case(_plural(w)) for w in _NOUN),
    "noun": tuple(_title_case(w) for w in _NOUN),
    "task": tuple(_title_case(w) for w in _TASK),
    "technique": tuple(_title_case(w) for w in _TECHNIQUE),
    "problem": tuple(_title_case(w) for w in _PROBLEM),
    "eponym": _EPONYM,
}
TitlePart = str | tuple[str, ...]


def _compile_title(template: str) -> tuple[TitlePart, ...]:
    parts: list[TitlePart] = []
    for literal, slot, _spec, _conv in string.Formatter().parse(template):
        if literal:
            parts.append(literal)
        if slot is not None:
            name = slot.rstrip("0123456789").lower()
            parts.append(_NAME if name == "name" else _TITLE_VOCAB[name])
    return tuple(parts)


_COMPILED_NAMED = tuple(_compile_title(t.removeprefix("{Name}")) for t in _NAMED_TITLES)
_COMPILED_PLAIN = tuple(_compile_title(t) for t in _PLAIN_TITLES)
_COMPILED_EPONYM_TITLE = _compile_title(_EPONYM_TITLE)
_TITLE_COMPLEXITY = tuple(f" in {c} Time" for c in _COMPLEXITY)


@dataclass
class _Writer:
    """Draws titles and abstracts; keeps titles unique the way the parser compares them (stricter)."""

    rng: random.Random
    pools: _Pools
    seen_titles: set[str] = field(default_factory=set)

    def paper(self, phrases: Sequence[str] = ()) -> Paper:
        title, name = self._title()
        return title, self._abstract(name, phrases)

    def _name(self) -> str:
        rand = self.rng.random
        if rand() < 0.15:
            letters = _ACRONYM_LETTERS
            return "".join([letters[int(rand() * len(letters))] for _ in range(3 + int(rand() * 3))])
        name = _SYL_A[int(rand() * len(_SYL_A))] + _SYL_B[int(rand() * len(_SYL_B))]
        if rand() < 0.3:
            name += _SYL_B[int(rand() * len(_SYL_B))]
        return name + _SUFFIX[int(rand() * len(_SUFFIX))]

    def _title(self) -> tuple[str, str]:
        """A title unseen in this corpus, and the method name it (and its abstract) uses."""
        rand = self.rng.random
        seen = self.seen_titles
        while True:
            name = self._name()
            roll = rand()
            if roll < _EPONYM_TITLE_RATE:
                parts, prefix = _COMPILED_EPONYM_TITLE, ""
            elif roll < _NAMED_TITLE_RATE:
                parts, prefix = _COMPILED_NAMED[int(rand() * len(_COMPILED_NAMED))], name
            else:
                parts, prefix = _COMPILED_PLAIN[int(rand() * len(_COMPILED_PLAIN))], ""
            text = prefix + "".join([p if p.__class__ is str else p[int(rand() * len(p))] for p in parts])
            if rand() < 0.02 and not text.endswith("?"):
                text += _TITLE_COMPLEXITY[int(rand() * len(_TITLE_COMPLEXITY))]
            if (
                len(text) > _TITLE_MAX_CHARS
                or not _TITLE_MIN_WORDS <= text.count(" ") + 1 <= _TITLE_MAX_WORDS
            ):
                continue
            # Titles the parser would call the same paper differ at most in spaces, hyphens, colons and
            # question marks here, so dropping those gives a key at least as strict as its paper_id.
            key = text.casefold().replace(" ", "").replace("-", "").replace(":", "").replace("?", "")
            if key not in seen:
                seen.add(key)
                return text, name

    def _abstract(self, name: str, phrases: Sequence[str]) -> str:
        rand = self.rng.random
        pools = self.pools
        opener, proposal, detail, result, closing = (
            pools.opener,
            pools.proposal,
            pools.detail,
            pools.result,
            pools.closing,
        )
        planted = []
        for phrase in phrases:
            pool = pools.planted(phrase)
            planted.append(pool[int(rand() * len(pool))])
        target = 7 + int(rand() * 4)  # 7-10 sentences before fitting to the word bounds
        sentences = [opener[int(rand() * len(opener))], proposal[int(rand() * len(proposal))]]
        sentences += _distinct(detail, len(_DETAILS), max(target - len(planted) - 4, 0), rand)
        sentences += _distinct(result, len(_RESULTS), 1 + (rand() < 0.5), rand)
        if rand() < 0.55:
            sentences.append(closing[int(rand() * len(closing))])
        for i, sentence in enumerate(planted):
            sentences.insert(min(1 + i + int(rand() * 3), len(sentences)), sentence)
        words = 0
        for _, n in sentences:
            words += n
        # Fit to 4-10 sentences and 60-250 words; the first two and planted sentences always stay.
        while len(sentences) > _MAX_SENTENCES or (words > _MAX_WORDS and len(sentences) > _MIN_SENTENCES):
            drop = next((i for i in range(len(sentences) - 1, 1, -1) if sentences[i] not in planted), None)
            if drop is None:
                break
            words -= sentences.pop(drop)[1]
        while (words < _MIN_WORDS or len(sentences) < _MIN_SENTENCES) and len(sentences) < _MAX_SENTENCES:
            extra = detail[int(rand() * len(detail))]
            sentences.insert(len(sentences) - 1, extra)
            words += extra[1]
        abstract = " ".join([text for text, _ in sentences]).replace(_NAME, name)
        if _SLUG in abstract:
            abstract = abstract.replace(_SLUG, name.lower())
        if rand() < _TRUNCATED_RATE and words > _MIN_WORDS + 5:
            cut = _MIN_WORDS + int(rand() * (words - _MIN_WORDS - 3))
            abstract = " ".join(abstract.split(" ")[:cut]).rstrip(".,;:") + " ..."
        return abstract


_COPRIME_STEPS: dict[int, tuple[int, ...]] = {}


def _distinct(
    pool: tuple[Sentence, ...], n_templates: int, k: int, rand: Callable[[], float]
) -> list[Sentence]:
    """``k`` sentences of ``k`` different templates: a random start and a step coprime to their number."""
    steps = _COPRIME_STEPS.get(n_templates)
    if steps is None:
        steps = _COPRIME_STEPS[n_templates] = tuple(
            s for s in range(1, n_templates) if math.gcd(s, n_templates) == 1
        )
    start, step = int(rand() * n_templates), steps[int(rand() * len(steps))]
    variants = len(pool) // n_templates
    return [pool[(start + j * step) % n_templates + n_templates * int(rand() * variants)] for j in range(k)]


_ACRONYM_LETTERS = "BCDFGHKLMNPRSTVXZ"
