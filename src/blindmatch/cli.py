"""The ``blindmatch`` command line: thin; it parses arguments and calls the packages.

Exit codes: 0 success (for ``scan``: nothing matched), 1 matches found (``scan``/``match``), 2 errors.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="blindmatch: hashing, lists, matching.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys for the HTTP service.")
lists_app = typer.Typer(no_args_is_help=True, help="Hash lists: create, import, export, list, remove.")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks (each measures its comparator in the same run).")
app.add_typer(keys_app, name="keys")
app.add_typer(lists_app, name="lists")
privacy_app = typer.Typer(no_args_is_help=True, help="Private matching: build, verify and inspect blinded tables.")
app.add_typer(bench_app, name="bench")
app.add_typer(privacy_app, name="privacy")
chat_app = typer.Typer(no_args_is_help=True, help="The E2EE reference messenger client (one device per --state).")
app.add_typer(chat_app, name="chat")
eval_app = typer.Typer(no_args_is_help=True, help="Evaluation reports (JSON + self-contained HTML).")
app.add_typer(eval_app, name="eval")


def _register_subapps() -> None:
    """Moderation and reporting commands live in their own modules (each imports its heavy parts lazily)."""
    from blindmatch.cli_moderation import audit_app, moderation_app, staff_app
    from blindmatch.cli_reporting import report_app

    app.add_typer(audit_app, name="audit")
    app.add_typer(staff_app, name="staff")
    app.add_typer(moderation_app, name="moderation")
    app.add_typer(report_app, name="report")


_register_subapps()

EXIT_MATCH = 1
EXIT_ERROR = 2


def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":"), default=str) + "\n")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_ERROR)


def _store() -> Any:
    from blindmatch.service.config import Settings
    from blindmatch.service.storage.database import Database
    from blindmatch.service.storage.list_store import ListStore

    settings = Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    db.migrate()
    return ListStore(db)


def _matcher() -> Any:
    from blindmatch.service.config import Settings
    from blindmatch.service.matching import Matcher

    settings = Settings.from_env()
    matcher = Matcher(_store(), settings.index_dir)
    matcher.refresh()
    matcher.save()
    return matcher


# ----------------------------------------------------------------------------- service
@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    demo: Annotated[bool, typer.Option(help="Seed a demo list of benign stand-in images if absent.")] = False,
) -> None:
    """Run the HTTP service (matching API and HMA-compatible routes)."""
    import uvicorn

    from blindmatch.service.app import create_app
    from blindmatch.service.auth import ApiKeyRing, create_api_key
    from blindmatch.service.config import Settings

    settings = Settings.from_env(demo=demo)
    if demo and not ApiKeyRing.load(settings.api_key_file, settings.api_keys).digests:
        key = create_api_key(settings.api_key_file, "demo")
        key_path = settings.data_dir / "demo-api-key"
        key_path.write_text(key + "\n", encoding="utf-8")
        key_path.chmod(0o600)
        typer.echo(f"demo API key (also in {key_path}): {key}", err=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@keys_app.command("create")
def keys_create(label: Annotated[str, typer.Argument(help="A name for the key, e.g. the client's.")]) -> None:
    """Create an API key; prints it once (only its SHA-256 is stored)."""
    from blindmatch.service.auth import create_api_key
    from blindmatch.service.config import Settings

    try:
        typer.echo(create_api_key(Settings.from_env().api_key_file, label))
    except ValueError as exc:
        _fail(str(exc))


# ----------------------------------------------------------------------------- hashing
@app.command("hash")
def hash_cmd(
    paths: Annotated[list[Path], typer.Argument(help="Image files.")],
    fast: Annotated[
        bool, typer.Option(help="Reduced-size decode of large JPEGs (~1 bit off); fast video sampling (~2 bits off).")
    ] = False,
    dihedral: Annotated[bool, typer.Option(help="Also print the 8 dihedral PDQ hashes.")] = False,
    no_exif: Annotated[bool, typer.Option(help="Ignore EXIF orientation (as the reference tool does).")] = False,
) -> None:
    """Print one JSON object per file: path, pdq, quality, md5, sha1, sha256 (or path, error).

    Videos (MP4/MOV, WebM/MKV, AVI) print their vPDQ (one frame per second, compact form) instead of a PDQ."""
    from blindmatch.hashing.files import hash_file
    from blindmatch.hashing.video_files import hash_video_file, is_video_file
    from blindmatch.media import MediaError

    failed = False
    for path in paths:
        try:
            if is_video_file(path):
                _emit(hash_video_file(path, fast=fast).as_dict())
                continue
            h = hash_file(path, fast=fast, dihedral=dihedral, apply_exif=not no_exif)
        except MediaError as exc:
            failed = True
            _emit({"path": str(path), "error": f"{type(exc).__name__}: {exc}"})
            continue
        full = h.as_dict()
        out: dict[str, object] = {"path": str(path)}  # as typed on the command line
        out |= {k: full[k] for k in ("pdq", "quality", "md5", "sha1", "sha256", "dihedral") if k in full}
        if h.low_quality:
            out["low_quality"] = True
        _emit(out)
    if failed:
        raise typer.Exit(EXIT_ERROR)


# ----------------------------------------------------------------------------- lists
@lists_app.command("create")
def lists_create(
    name: str,
    description: Annotated[str, typer.Option(help="What the list is.")] = "",
    threshold: Annotated[int, typer.Option(help="PDQ match threshold (Hamming distance).")] = 31,
    disabled: Annotated[bool, typer.Option(help="Create it disabled.")] = False,
) -> None:
    """Create an empty list."""
    from blindmatch.lists.errors import ListError
    from blindmatch.service.storage.errors import StorageError

    try:
        hl = _store().create_list(name, description=description, pdq_threshold=threshold, enabled=not disabled)
    except (ListError, StorageError) as exc:
        _fail(str(exc))
    _emit({"created": hl.name, "version": hl.version, "pdq_threshold": hl.pdq_threshold, "enabled": hl.enabled})


@lists_app.command("ls")
def lists_ls() -> None:
    """One JSON line per list: name, enabled, version, threshold, live entries."""
    store = _store()
    for hl in store.lists():
        _emit(
            {
                "name": hl.name,
                "enabled": hl.enabled,
                "version": hl.version,
                "pdq_threshold": hl.pdq_threshold,
                "entries": store.count_entries(hl.name),
                "description": hl.description,
            }
        )


@lists_app.command("import")
def lists_import(
    name: str,
    file: Path,
    format: Annotated[str, typer.Option("--format", "-f", help="csv, jsonl, threatexchange or ncmec.")] = "csv",
    skip_bad_rows: Annotated[bool, typer.Option(help="Import good rows and report bad ones (default: abort).")] = False,
    create: Annotated[bool, typer.Option(help="Create the list if it does not exist.")] = False,
) -> None:
    """Import a list file: all rows or none, unless --skip-bad-rows."""
    from blindmatch.lists.errors import ListError
    from blindmatch.service.storage.errors import ListNotFoundError, StorageError

    store = _store()
    try:
        try:
            store.get_list(name)
        except ListNotFoundError:
            if not create:
                raise
            store.create_list(name)
        outcome = store.import_file(name, file, format, on_error="skip" if skip_bad_rows else "abort")
    except (ListError, StorageError, OSError, UnicodeDecodeError) as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    r, rep = outcome.result, outcome.report
    _emit(
        {
            "list": name,
            "version": r.version,
            "added": r.added,
            "updated": r.updated,
            "unchanged": r.unchanged,
            "removed": r.removed,
            "rows": rep.rows,
            "bad_rows": [{"line": e.line, "reason": e.reason} for e in rep.errors],
        }
    )


@lists_app.command("export")
def lists_export(
    name: str,
    format: Annotated[str, typer.Option("--format", "-f", help="csv, jsonl, threatexchange or ncmec.")] = "csv",
    out: Annotated[Path | None, typer.Option(help="Output file (default: stdout).")] = None,
) -> None:
    """Export a list's live entries."""
    from blindmatch.lists.errors import ListError
    from blindmatch.service.storage.errors import StorageError

    store = _store()
    try:
        if out is None:
            store.export_stream(name, sys.stdout, format)
        else:
            n = store.export_file(name, out, format)
            typer.echo(f"{n} entries written to {out}", err=True)
    except (ListError, StorageError, OSError) as exc:
        _fail(str(exc))


@lists_app.command("rm")
def lists_rm(name: str) -> None:
    """Delete a list and its entries."""
    from blindmatch.service.storage.errors import StorageError

    try:
        _store().delete_list(name)
    except StorageError as exc:
        _fail(str(exc))
    _emit({"deleted": name})


@lists_app.command("enable")
def lists_enable(name: str) -> None:
    """Enable matching against a list."""
    _store().set_enabled(name, True)


@lists_app.command("disable")
def lists_disable(name: str) -> None:
    """Disable matching against a list (kept, not searched)."""
    _store().set_enabled(name, False)


# ----------------------------------------------------------------------------- matching
@app.command()
def match(
    signal_type: Annotated[str, typer.Argument(help="pdq, md5, sha1 or sha256.")],
    value: Annotated[str, typer.Argument(help="The hash, in hex.")],
    list_: Annotated[list[str] | None, typer.Option("--list", help="Only these lists (default: all enabled).")] = None,
    threshold: Annotated[int | None, typer.Option(help="Override the lists' PDQ thresholds.")] = None,
) -> None:
    """Look one hash up; prints the matches as JSON; exit 1 if anything matched."""
    from blindmatch.hashing.signals import InvalidHashError, UnknownSignalTypeError
    from blindmatch.service.matching import UnknownListError

    try:
        res = _matcher().lookup(signal_type, value, lists=list_, threshold=threshold)
    except (InvalidHashError, UnknownSignalTypeError, UnknownListError) as exc:
        _fail(str(exc))
    _emit(res.as_dict())
    if res.matches:
        raise typer.Exit(EXIT_MATCH)


@app.command()
def scan(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (recursive).")],
    list_: Annotated[list[str] | None, typer.Option("--list", help="Only these lists (default: all enabled).")] = None,
    fast: Annotated[bool, typer.Option(help="Reduced-size decode of large JPEGs; fast video sampling.")] = False,
    dihedral: Annotated[bool, typer.Option(help="Also match rotated/flipped copies.")] = False,
    progress: Annotated[bool, typer.Option(help="Progress bar on stderr.")] = True,
) -> None:
    """Hash every file and match it; one JSON line per file. Exit 0 none matched, 1 matches, 2 errors."""
    from rich.progress import Progress

    from blindmatch.service.matching import UnknownListError
    from blindmatch.service.scan import iter_files, scan_file

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        _fail(f"no such file or folder: {', '.join(missing)}")
    matcher = _matcher()
    files = list(iter_files(paths))
    matched = errors = 0
    with Progress(transient=True, disable=not progress or not sys.stderr.isatty()) as bar:
        task = bar.add_task("scanning", total=len(files))
        for path in files:
            try:
                res = scan_file(path, matcher, lists=list_, fast=fast, dihedral=dihedral)
            except UnknownListError as exc:
                _fail(str(exc))
            _emit(res.record)
            matched += res.matched
            errors += res.error
            bar.advance(task)
    typer.echo(f"{len(files)} files, {matched} matched, {errors} errors", err=True)
    if errors:
        raise typer.Exit(EXIT_ERROR)
    if matched:
        raise typer.Exit(EXIT_MATCH)


# ----------------------------------------------------------------------------- benchmarks
#: The benign data set: $BLINDMATCH_DATA, else ``../shared/data`` beside the repository (as the eval lab finds it).
DATA_DIR = Path(os.environ.get("BLINDMATCH_DATA", Path(__file__).resolve().parents[2].parent / "shared" / "data"))
REPORTS = Path("reports")


@bench_app.command("hashing")
def bench_hashing(
    data: Annotated[Path, typer.Option(help="The benign data set (../shared/data).")] = DATA_DIR,
    big_count: Annotated[int, typer.Option(help="How many 12-megapixel JPEGs to generate.")] = 20,
    dev_count: Annotated[int | None, typer.Option(help="Sample of the DEV corpus (default: all).")] = None,
    out: Annotated[Path, typer.Option(help="JSON results.")] = REPORTS / "bench_hashing.json",
) -> None:
    """Files/s of exact and fast PDQ against the HMA path (Pillow full decode + pdqhash)."""
    from blindmatch.eval.bench_hashing import run_hashing_bench

    out.parent.mkdir(parents=True, exist_ok=True)
    run_hashing_bench(data, big_count=big_count, dev_count=dev_count, out=out)


@bench_app.command("index")
def bench_index(
    size: Annotated[list[int] | None, typer.Option(help="List sizes (repeatable); default 10,000,000.")] = None,
    kind: Annotated[list[str] | None, typer.Option(help="random and/or clustered.")] = None,
    queries: Annotated[int, typer.Option(help="Queries per run.")] = 2000,
    threshold: Annotated[int, typer.Option(help="Hamming threshold.")] = 31,
    out: Annotated[Path, typer.Option(help="JSON results.")] = REPORTS / "bench_index.json",
) -> None:
    """Queries/s, recall, memory and build time of our index against faiss flat and HMA's multi-hash index."""
    from blindmatch.eval.bench_index import run_index_bench

    out.parent.mkdir(parents=True, exist_ok=True)
    run_index_bench(
        sizes=size or [10_000_000],
        kinds=kind or ["random", "clustered"],
        queries=queries,
        t=threshold,
        out=out,
    )


@bench_app.command("protocol")
def bench_protocol(
    list_size: Annotated[int, typer.Option(help="List size the leak is extrapolated to.")] = 1_000_000,
    scheme: Annotated[str, typer.Option(help="Token scheme: ranked (default), baseline or exact.")] = "ranked",
    ways: Annotated[int, typer.Option(help="Cuckoo hash functions: 3 (default) or 2.")] = 3,
    cost_list_size: Annotated[int, typer.Option(help="List size of the protocol cost run.")] = 20_000,
    synthetic_entries: Annotated[int, typer.Option(help="Also match against N synthetic list entries.")] = 0,
    data: Annotated[Path, typer.Option(help="The benign data set.")] = DATA_DIR,
    out: Annotated[Path, typer.Option(help="JSON results.")] = REPORTS / "bench_protocol.json",
) -> None:
    """Recall vs plaintext PDQ, innocent leak, table/voucher bytes, client and server CPU, with exact tokens."""
    from blindmatch.eval.bench_protocol import run_protocol_report

    run_protocol_report(
        list_size,
        data,
        scheme=scheme,
        cuckoo_ways=ways,
        cost_list_size=cost_list_size,
        synthetic_entries=synthetic_entries,
        out=out,
    )


@bench_app.command("video")
def bench_video(
    data: Annotated[Path, typer.Option(help="The benign data set.")] = DATA_DIR,
    every_frame: Annotated[bool, typer.Option(help="Also measure hashing every frame.")] = True,
    keyframe_sweep: Annotated[
        bool, typer.Option(help="Also measure 720p clips with 1 s, 2 s and 8 s keyframes.")
    ] = True,
    out: Annotated[Path, typer.Option(help="JSON results.")] = REPORTS / "bench_video.json",
) -> None:
    """Frames/s and seconds of video per CPU second (1 frame/s and every frame) against the pdqhash path."""
    from blindmatch.eval.bench_video import KEYFRAME_SWEEP, run_video_bench

    out.parent.mkdir(parents=True, exist_ok=True)
    run_video_bench(data, out=out, every_frame=every_frame, keyframe_sweep=KEYFRAME_SWEEP if keyframe_sweep else ())


_RELAY_SUMMARY = ("name", "messages_per_s", "latency_ms", "lost", "redelivered", "server_cpu_us_per_message")


@bench_app.command("relay")
def bench_relay_cmd(
    clients: Annotated[int, typer.Option(help="Concurrent devices (even: they are paired).")] = 100,
    seconds: Annotated[float, typer.Option(help="Timed window of each run.")] = 10.0,
    rate: Annotated[float, typer.Option(help="Offered messages/s of the paced runs (0: closed loop only).")] = 2000.0,
    restart: Annotated[bool, typer.Option(help="Include the run with a kill -9 of the server mid-window.")] = True,
    http: Annotated[bool, typer.Option(help="Include the closed-loop run sending over HTTP.")] = True,
    baseline: Annotated[bool, typer.Option(help="Include the minimal-endpoint comparator.")] = True,
    database_url: Annotated[str | None, typer.Option(help="Run the relay on this database (default SQLite).")] = None,
    out: Annotated[Path, typer.Option(help="JSON results.")] = REPORTS / "bench_relay.json",
) -> None:
    """Messages/s, latency and lost messages of the relay under N devices on loopback, with a kill -9 run."""
    from blindmatch.messaging.bench_relay import bench_relay

    result = bench_relay(
        clients=clients,
        seconds=seconds,
        rate=rate,
        restart=restart,
        http=http,
        baseline=baseline,
        database_url=database_url,
        out=out,
    )
    _emit(
        {
            "note": result["note"],
            "machine": result["machine"],
            "runs": [{k: r.get(k) for k in _RELAY_SUMMARY} for r in result["runs"]],
            "written": str(out),
        }
    )


# ----------------------------------------------------------------------------- evaluation
def _eval_progress() -> Any:
    """A rich progress bar driven by the lab's ``progress(stage, done, total)`` callback."""
    from rich.progress import Progress

    bar = Progress(transient=True, disable=not sys.stderr.isatty())
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return bar, update


def _run_eval(run: Any, written: str) -> None:
    """Call ``run(progress)`` under a progress bar; lab errors exit 2 with their message."""
    from blindmatch.eval.errors import EvalError

    bar, update = _eval_progress()
    try:
        with bar:
            run(update)
    except EvalError as exc:
        _fail(str(exc))
    typer.echo(f"wrote {written}", err=True)


def _corpus(listed: Path | None, innocent: Path | None) -> tuple[Path, Path]:
    from blindmatch.eval.runner import default_corpus

    d_listed, d_innocent = default_corpus()
    return listed or d_listed, innocent or d_innocent


ListedOpt = Annotated[Path | None, typer.Option(help="Listed stand-ins (default ../shared/data/images/listed).")]
InnocentOpt = Annotated[Path | None, typer.Option(help="Innocent photos (default ../shared/data/images/innocent).")]
OutOpt = Annotated[Path, typer.Option(help="Output folder for the JSON and HTML reports.")]
LimitOpt = Annotated[int | None, typer.Option(help="Use only the first N images of each folder.")]


@eval_app.command("robustness")
def eval_robustness(
    listed: ListedOpt = None,
    innocent: InnocentOpt = None,
    out: OutOpt = REPORTS,
    limit: LimitOpt = None,
    seed: int = 0,
    threshold: int = 31,
    min_quality: int = 50,
    transform: Annotated[list[str] | None, typer.Option(help="Only these transforms (repeatable).")] = None,
) -> None:
    """Recall per transform at the production threshold, with and without dihedral matching."""
    from blindmatch.eval.runner import run_robustness

    listed, innocent = _corpus(listed, innocent)
    _run_eval(
        lambda progress: run_robustness(
            listed, innocent, out, transforms=transform, limit=limit, seed=seed, threshold=threshold,
            min_quality=min_quality, progress=progress,
        ),
        str(out / "robustness.html"),
    )  # fmt: skip


@eval_app.command("false-positives")
def eval_false_positives(
    listed: ListedOpt = None,
    innocent: InnocentOpt = None,
    out: OutOpt = REPORTS,
    limit: LimitOpt = None,
    seed: int = 0,
    threshold: int = 31,
) -> None:
    """All listed x innocent pairs (and edited innocent x listed): counts, Clopper-Pearson bounds, list scale."""
    from blindmatch.eval.runner import run_false_positives

    listed, innocent = _corpus(listed, innocent)
    _run_eval(
        lambda progress: run_false_positives(
            listed, innocent, out, limit=limit, seed=seed, threshold=threshold, progress=progress
        ),
        str(out / "false_positives.html"),
    )


@eval_app.command("policy")
def eval_policy(
    out: OutOpt = REPORTS,
    images_per_day: float = 50.0,
    list_size: int = 1_000_000,
    fp_rate: Annotated[float, typer.Option(help="Per-image false-match rate against one list entry.")] = 1e-9,
    t: Annotated[int, typer.Option(help="Account threshold.")] = 30,
    synthetic_rate: float = 0.0,
    accounts: int = 1_000_000_000,
    recall: float = 0.9,
    listed_per_day: int = 1,
) -> None:
    """Falsely flagged accounts per year, moderator workload and detection delay against the threshold t."""
    from blindmatch.eval.runner import run_policy

    _run_eval(
        lambda _progress: run_policy(
            out, images_per_day=images_per_day, list_size=list_size, per_image_fp_rate=fp_rate,
            account_threshold_t=t, synthetic_rate=synthetic_rate, accounts=accounts, recall=recall,
            listed_per_day=listed_per_day,
        ),
        str(out / "policy.html"),
    )  # fmt: skip


@eval_app.command("private")
def eval_private(
    listed: ListedOpt = None,
    innocent: InnocentOpt = None,
    out: OutOpt = REPORTS,
    limit: Annotated[int, typer.Option(help="Listed images blinded into the table (each edited copy is sent).")] = 40,
    innocent_limit: Annotated[int | None, typer.Option(help="Innocent photos sent (default: all).")] = None,
    threshold: Annotated[int, typer.Option(help="Account threshold t.")] = 10,
    seed: int = 0,
) -> None:
    """The real protocol over the transform grid: recall vs plaintext PDQ, innocent openings, costs."""
    from blindmatch.eval.private import run_private_eval

    listed, innocent = _corpus(listed, innocent)
    _run_eval(
        lambda progress: run_private_eval(
            listed, innocent, out, limit=limit, innocent_limit=innocent_limit, threshold=threshold, seed=seed,
            progress=progress,
        ),
        str(out / "private_matching.html"),
    )  # fmt: skip


@eval_app.command("private-video")
def eval_private_video(
    videos: Annotated[
        Path | None, typer.Option(help="Sample videos (default ../shared/data/video/sample-videos).")
    ] = None,
    out: OutOpt = REPORTS,
    frames: Annotated[int, typer.Option(help="Frames per video voucher.")] = 4,
    client_fast: Annotated[bool, typer.Option(help="The client hashes with fast=True (the list does not).")] = False,
) -> None:
    """Video vouchers (one per video) vs plaintext vPDQ on every (listed, query) pair of the sample videos."""
    from blindmatch.eval.private_video import run_private_video_eval

    source = videos or DATA_DIR / "video" / "sample-videos"
    _run_eval(
        lambda progress: run_private_video_eval(
            source, out, frames_per_voucher=frames, client_fast=client_fast, progress=progress
        ),
        str(out / "private_video.html"),
    )


@eval_app.command("all")
def eval_all(
    listed: ListedOpt = None,
    innocent: InnocentOpt = None,
    out: OutOpt = REPORTS,
    limit: LimitOpt = None,
    seed: int = 0,
) -> None:
    """Hash the corpus once and write the robustness, false-positive, policy and summary reports."""
    from blindmatch.eval.runner import run_all

    listed, innocent = _corpus(listed, innocent)
    _run_eval(lambda progress: run_all(listed, innocent, out, limit=limit, seed=seed, progress=progress), str(out))


# ----------------------------------------------------------------------------- private matching
def _scheme(name: str) -> Any:
    from blindmatch.privacy import tokens
    from blindmatch.privacy.scheme import ExactTokenScheme

    schemes = {"ranked": tokens.default_scheme, "baseline": tokens.baseline_scheme, "exact": ExactTokenScheme}
    if name not in schemes:
        _fail(f"unknown token scheme {name!r} (known: {', '.join(schemes)})")
    return schemes[name]()


@privacy_app.command("keygen")
def privacy_keygen(
    out: Annotated[Path, typer.Argument(help="Where to write the new private key (PEM, 0600).")],
) -> None:
    """Make a custodian signing key; prints its public key (64 hex) to publish."""
    from blindmatch.privacy.keyfiles import KeyFileError, public_key_hex, write_new_private_key

    try:
        typer.echo(public_key_hex(write_new_private_key(out)))
    except KeyFileError as exc:
        _fail(str(exc))


@privacy_app.command("build-table")
def privacy_build_table(
    out: Annotated[Path, typer.Option(help="The published table (give it to clients).")],
    custodian_out: Annotated[Path, typer.Option(help="The custodian's SECRET state (alpha, audit seed).")],
    signer: Annotated[list[Path], typer.Option(help="Custodian signing key (repeatable for k-of-n).")],
    list_name: Annotated[str | None, typer.Option("--list", help="Blind this list's live PDQ entries.")] = None,
    hashes: Annotated[Path | None, typer.Option(help="Or: a file of PDQ hashes, one per line.")] = None,
    scheme: Annotated[str, typer.Option(help="Token scheme: ranked (default), baseline or exact.")] = "ranked",
    ways: Annotated[int, typer.Option(help="Cuckoo hash functions: 3 (default, smaller table) or 2.")] = 3,
    warn_filter: Annotated[
        Path | None, typer.Option(help="Offer warn-before-send: write its filter here (publish it with the table).")
    ] = None,
    warn_key_out: Annotated[
        Path | None, typer.Option(help="With --warn-filter: the new SECRET warn key, for the OPRF server only.")
    ] = None,
) -> None:
    """Blind a list into a signed, auditable table (and the custodian's secret state)."""
    import os

    from blindmatch.privacy.api import build_table, custodian_to_bytes
    from blindmatch.privacy.errors import PrivacyError
    from blindmatch.privacy.keyfiles import load_private_key, write_new_warn_key

    if (list_name is None) == (hashes is None):
        _fail("give exactly one of --list or --hashes")
    if (warn_filter is None) != (warn_key_out is None):
        _fail("give both --warn-filter and --warn-key-out, or neither")
    if list_name is not None:
        store = _store()
        version = store.get_list(list_name).version
        values = [e.value for e in store.iter_entries(list_name) if e.signal_type == "pdq"]
        list_id = list_name
    else:
        assert hashes is not None
        values = [line.strip() for line in hashes.read_text(encoding="utf-8").splitlines() if line.strip()]
        version, list_id = 1, hashes.stem
    try:
        signers = [load_private_key(p) for p in signer]
        warn_key = write_new_warn_key(warn_key_out) if warn_key_out is not None else None
        built = build_table(
            values,
            _scheme(scheme),
            list_id=list_id,
            list_version=version,
            signers=signers,
            cuckoo_ways=ways,
            warn_key=warn_key,
        )
    except (PrivacyError, ValueError) as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    out.write_bytes(built.table_bytes)
    if warn_filter is not None and built.warn is not None:
        warn_filter.write_bytes(built.warn.filter_bytes)
    fd = os.open(custodian_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(custodian_to_bytes(built.custodian))
    _emit(
        {
            "table": str(out),
            "entries": len(values),
            "slots": built.signed.manifest.table_size,
            "bytes": len(built.table_bytes),
            "merkle_root": built.signed.manifest.merkle_root.hex(),
            "warn_filter_bytes": len(built.warn.filter_bytes) if built.warn else None,
        }
    )


@privacy_app.command("verify-table")
def privacy_verify_table(
    table: Path,
    trust: Annotated[list[str], typer.Option(help="Trusted custodian public key (hex or PEM file), repeatable.")],
    threshold: Annotated[int, typer.Option(help="How many distinct trusted signatures are required.")] = 1,
) -> None:
    """Verify a table as a client does: k-of-n signatures, every slot, the Merkle root. Exit 2 if it fails."""
    from blindmatch.privacy.api import verify_table
    from blindmatch.privacy.errors import PrivacyError
    from blindmatch.privacy.keyfiles import load_public_key

    try:
        verified = verify_table(table.read_bytes(), [load_public_key(k) for k in trust], threshold)
    except (PrivacyError, OSError, ValueError) as exc:
        _fail(f"table REJECTED: {type(exc).__name__}: {exc}")
    m = verified.signed.manifest
    _emit({"verified": True, "list": m.list_id, "version": m.list_version, "root": m.merkle_root.hex()})


@privacy_app.command("transparency")
def privacy_transparency(
    table: Path,
    trust: Annotated[list[str] | None, typer.Option(help="Trusted public keys: verify before printing.")] = None,
    threshold: Annotated[int, typer.Option(help="Signatures required.")] = 1,
) -> None:
    """Print the manifest and Merkle root, to compare with the ones the custodians publish."""
    from blindmatch.privacy.api import transparency
    from blindmatch.privacy.errors import PrivacyError
    from blindmatch.privacy.keyfiles import load_public_key

    try:
        typer.echo(transparency(table.read_bytes(), [load_public_key(k) for k in trust or []], threshold))
    except (PrivacyError, OSError, ValueError) as exc:
        _fail(f"{type(exc).__name__}: {exc}")


# ----------------------------------------------------------------------------- messenger
StateOpt = Annotated[Path, typer.Option("--state", help="This device's local state folder (encrypted).")]


def _chat(fn: Any, *args: Any, **kwargs: Any) -> None:
    from blindmatch.messaging.errors import MessagingError

    try:
        result = fn(*args, **kwargs)
    except (MessagingError, OSError) as exc:
        _fail(f"{type(exc).__name__}: {exc}")
    for item in result if isinstance(result, list) else [result]:
        _emit(item)


@chat_app.command("register")
def chat_register(
    user: str,
    state: StateOpt,
    relay: Annotated[str, typer.Option(help="Relay base URL.")] = "http://127.0.0.1:8080",
    device: Annotated[str, typer.Option(help="Device id.")] = "primary",
) -> None:
    """Create this device's identity keys and register them with the relay."""
    from blindmatch.messaging import chat

    _chat(chat.chat_register, relay, state, user, device)


@chat_app.command("add-contact")
def chat_add_contact(
    user: str,
    state: StateOpt,
    accept_new_keys: Annotated[bool, typer.Option(help="Accept a contact's changed identity keys.")] = False,
) -> None:
    """Pin a contact's keys; prints the safety number to compare in person."""
    from blindmatch.messaging import chat

    _chat(chat.chat_add_contact, state, user, accept_new_keys=accept_new_keys)


@chat_app.command("consent")
def chat_consent(
    state: StateOpt, withdraw: Annotated[bool, typer.Option(help="Withdraw consent (no-media mode).")] = False
) -> None:
    """Consent to media checking (or withdraw it: text only, no images, videos or links)."""
    from blindmatch.messaging import chat

    _chat(chat.chat_consent, state, not withdraw)


@chat_app.command("send")
def chat_send(
    to: str,
    state: StateOpt,
    text: Annotated[str, typer.Option(help="Message text (or caption).")] = "",
    image: Annotated[Path | None, typer.Option(help="An image file to send.")] = None,
    video: Annotated[Path | None, typer.Option(help="A video file to send.")] = None,
    custodian_key: Annotated[
        str | None, typer.Option(help="List custodian's public key (hex): check media by private matching first.")
    ] = None,
) -> None:
    """Send text, an image or a video (media and links need consent)."""
    from blindmatch.messaging import chat

    _chat(chat.chat_send, state, to, text=text, image=image, video=video, custodian_key=custodian_key)


@chat_app.command("receive")
def chat_receive(
    state: StateOpt,
    wait: Annotated[float, typer.Option(help="Seconds to wait for messages.")] = 0.0,
    save_attachments: Annotated[Path | None, typer.Option(help="Folder for decrypted attachments.")] = None,
) -> None:
    """Fetch, verify (franking) and acknowledge new messages."""
    from blindmatch.messaging import chat

    _chat(chat.chat_receive, state, wait_seconds=wait, save_attachments=save_attachments)


@chat_app.command("conversations")
def chat_conversations(state: StateOpt) -> None:
    """List conversations."""
    from blindmatch.messaging import chat

    _chat(chat.chat_conversations, state)


@chat_app.command("messages")
def chat_messages(conversation: str, state: StateOpt) -> None:
    """Messages of one conversation."""
    from blindmatch.messaging import chat

    _chat(chat.chat_messages, state, conversation)


@chat_app.command("report")
def chat_report(
    message_id: str, state: StateOpt, reason: Annotated[str, typer.Option(help="Why you report it.")] = ""
) -> None:
    """Report a message (with franking proof and up to 5 earlier ones from the sender) to the moderators."""
    from blindmatch.messaging import chat

    _chat(chat.chat_report, state, message_id, reason)


@chat_app.command("notices")
def chat_notices(state: StateOpt) -> None:
    """Statements of reasons for actions the provider took on this account, with the appeal window."""
    from blindmatch.messaging import chat

    _chat(chat.chat_notices, state)


@chat_app.command("appeal")
def chat_appeal(
    action_id: int, state: StateOpt, text: Annotated[str, typer.Option(help="Why the decision is wrong.")]
) -> None:
    """Appeal an action on this account (a different reviewer decides)."""
    from blindmatch.messaging import chat

    _chat(chat.chat_appeal, state, action_id, text)


@app.command()
def demo(
    workdir: Annotated[Path | None, typer.Option(help="Where to keep the demo's relay and devices.")] = None,
    relay: Annotated[str | None, typer.Option(help="Use a running relay instead of an in-process one.")] = None,
) -> None:
    """A scripted conversation over the relay, printing what the server saw at each step."""
    import tempfile

    from blindmatch.messaging.chat import run_demo

    base = workdir or Path(tempfile.mkdtemp(prefix="blindmatch-demo-"))
    if relay is None:
        from blindmatch.service.routes_detection import demo_detection_relay

        threshold = 3
        server = demo_detection_relay(base / "relay", DATA_DIR / "images" / "listed", threshold=threshold)
        steps = run_demo(
            base,
            shared_data=DATA_DIR,
            transport=server.transport,
            detection_key=server.custodian_key_hex,
            moderator_key=server.api_key,
            detection_threshold=threshold,
        )
    else:
        steps = run_demo(base, shared_data=DATA_DIR, relay_url=relay)
    for step in steps:
        _emit(step)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
