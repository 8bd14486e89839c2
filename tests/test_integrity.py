"""Datasets are verified against their manifest by every reader, and their checksums depend on
the values only (never on chunking, batching or worker count)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_gen import _checksum
from data_gen.dataset import build_dataset, read_manifest, verify_dataset
from data_gen.errors import WorldError
from nsf.config import load_config
from nsf.errors import NsfError
from tests.conftest import in_process

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "experiments" / "smoke.yaml"


def _env() -> dict:
    import os

    return {**os.environ, "PYTHONPATH": str(ROOT)}


@pytest.fixture
def copy_of_smoke(smoke_dataset, tmp_path) -> Path:
    """A private copy of the smoke dataset (same folder name) to tamper with."""
    target = tmp_path / "data" / smoke_dataset.name
    shutil.copytree(smoke_dataset, target)
    return target


def _first_part(path: Path, table: str) -> Path:
    return path / read_manifest(path)["tables"][table]["files"][0]


def _flip_labels(path: Path) -> None:
    part = _first_part(path, "outcomes")
    table = pq.read_table(part)
    i = table.schema.get_field_index("nsf_appstore")
    table = table.set_column(i, "nsf_appstore", pc.invert(table["nsf_appstore"]))
    pq.write_table(table, part)  # still a valid Parquet file with the same rows


def _truncate(path: Path, table_name: str) -> None:
    part = _first_part(path, table_name)
    table = pq.read_table(part)
    pq.write_table(table.slice(0, table.num_rows - 10), part)


# -- point 1: every reader verifies --------------------------------------------------------------

def test_flipped_labels_are_refused_by_the_reader(copy_of_smoke):
    from nsf.data import open_dataset

    _flip_labels(copy_of_smoke)
    dataset = open_dataset(copy_of_smoke)  # row counts still agree
    dataset.table("feed")  # an untouched table reads fine
    with pytest.raises(NsfError, match=r"table 'outcomes' does not match the content checksum"):
        dataset.table("outcomes", ["user_id", "nsf_appstore"])
    # The switch for speed skips the content checksum (the run records it as a parameter).
    assert open_dataset(copy_of_smoke, verify="rows").table("outcomes").shape[0] > 0


def test_edited_manifest_checksum_is_refused(copy_of_smoke):
    from nsf.data import open_dataset

    mpath = copy_of_smoke / "manifest.json"
    manifest = json.loads(mpath.read_text())
    manifest["checksums"]["feed"] = "0" * 64
    mpath.write_text(json.dumps(manifest))
    with pytest.raises(NsfError, match=r"manifest.json: does not match its own digest"):
        open_dataset(copy_of_smoke)
    # With the manifest's digest recomputed too, the table's content still disagrees.
    from data_gen.dataset import seal_manifest

    manifest["integrity"] = seal_manifest(manifest, None)
    mpath.write_text(json.dumps(manifest))
    with pytest.raises(NsfError, match=r"table 'feed' does not match"):
        open_dataset(copy_of_smoke).table("feed")


def test_truncated_table_is_refused_at_open_even_without_checksums(copy_of_smoke):
    from nsf.data import open_dataset

    _truncate(copy_of_smoke, "sensitive")
    with pytest.raises(NsfError, match=r"table 'sensitive' has [\d,]+ rows but its manifest"):
        open_dataset(copy_of_smoke, verify="rows")


def test_audit_reader_verifies(copy_of_smoke):
    from nsf.audit import read_audit_tables

    part = _first_part(copy_of_smoke, "truth_users")
    table = pq.read_table(part)
    phones = pc.utf8_reverse(table["phone_plain"])
    table = table.set_column(table.schema.get_field_index("phone_plain"), "phone_plain", phones)
    pq.write_table(table, part)
    with pytest.raises(NsfError, match=r"table 'truth_users' does not match"):
        read_audit_tables(copy_of_smoke, ("n_cards",))
    # A stray Parquet file in a table folder is not read (only the manifest's files are).
    users = _first_part(copy_of_smoke, "users")
    pq.write_table(pq.read_table(users).slice(0, 5), users.with_name("part-99999.parquet"))
    assert read_audit_tables(copy_of_smoke, ("n_cards",), verify="rows").users.shape[0] == 3000


def test_train_on_tampered_data_is_one_line_exit_2(copy_of_smoke, tmp_path, monkeypatch, capsys):
    _flip_labels(copy_of_smoke)
    monkeypatch.chdir(tmp_path)
    res = in_process(capsys, "train", str(SMOKE), "--data", str(copy_of_smoke), "-q",
                     "--set", f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}")
    assert res.returncode == 2, res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "table 'outcomes'" in lines[0], res.stderr[-2000:]


def test_simulate_does_not_reuse_a_truncated_dataset(copy_of_smoke, smoke_cfg, tmp_path,
                                                     monkeypatch, capsys):
    kw = dict(seed=smoke_cfg.seed, name=smoke_cfg.name, data_dir=copy_of_smoke.parent,
              chunk_users=8192)
    _, _, reused = build_dataset(smoke_cfg.world, **kw)
    assert reused
    _truncate(copy_of_smoke, "truth_users")
    with pytest.raises(WorldError, match=r"table 'truth_users' has [\d,]+ rows"):
        build_dataset(smoke_cfg.world, **kw)
    monkeypatch.chdir(tmp_path)
    res = in_process(capsys, "simulate", str(SMOKE), "-q", "--set",
                     f"simulate.data_dir={copy_of_smoke.parent}")
    assert res.returncode == 2 and "(reused)" not in res.stdout
    assert "truth_users" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    # --force rebuilds it, and the rebuilt dataset verifies.
    _, _, reused = build_dataset(smoke_cfg.world, force=True, **kw)
    assert not reused and all(verify_dataset(copy_of_smoke).values())


# -- point 3: checksums depend on values only -----------------------------------------------------

def test_string_hash_does_not_depend_on_neighbours():
    alone = _checksum.as_u64(np.array(["ab"], dtype=object))
    beside_long = _checksum.as_u64(np.array(["ab", "a much longer neighbour"], dtype=object))
    assert alone[0] == beside_long[0]
    # Different values still differ, including a value and its zero-padded prefix lanes.
    words = _checksum.as_u64(np.array(["", "a", "ab", "abcdefgh", "abcdefghi", "한국"],
                                      dtype=object))
    assert np.unique(words).size == words.size


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.text(min_size=0, max_size=40).filter(lambda s: "\x00" not in s),
                       min_size=1, max_size=60),
       cut=st.integers(min_value=0, max_value=60), data=st.data())
def test_row_hash_sums_add_up_for_any_split(values, cut, data):
    numbers = data.draw(st.lists(st.integers(-2**40, 2**40), min_size=len(values),
                                 max_size=len(values)))
    cut = min(cut, len(values))
    cols = {"text": np.array(values, dtype=object), "number": np.array(numbers, np.int64)}
    whole = _checksum.rows_hash_sum(cols)
    parts = [_checksum.rows_hash_sum({k: v[:cut] for k, v in cols.items()}),
             _checksum.rows_hash_sum({k: v[cut:] for k, v in cols.items()})]
    assert _checksum.combine(parts) == whole


def test_verification_gives_the_same_checksums_for_any_batch_size(smoke_dataset):
    # Tiny batches change the widest string of each batch (e-mails, hashes of varying length).
    rng = np.random.default_rng(11)
    for batch_rows in rng.integers(3, 400, size=3):
        assert all(verify_dataset(smoke_dataset, batch_rows=int(batch_rows)).values())


#: A world just large enough for several simulator chunks (8,192 users each), kept short.
_CHUNKED = ["world.population.n_users=20000", "world.calendar.days=40",
            "world.calendar.warmup_days=20", "world.calendar.horizon_days=10",
            "world.calendar.snapshot_every_days=10", "world.feed.windows=[7]",
            "world.truth.oracle_draws=2"]


def test_checksums_are_the_same_for_random_chunk_sizes_and_workers(tmp_path):
    cfg = load_config(SMOKE, _CHUNKED)
    rng = np.random.default_rng(2024)
    manifests = []
    settings_tried = [(8192, 1)] + [(8192 * int(rng.integers(2, 4)), int(rng.integers(1, 3)))
                                    for _ in range(2)]
    for i, (chunk_users, workers) in enumerate(settings_tried):
        _, manifest, _ = build_dataset(cfg.world, seed=cfg.seed, name=cfg.name,
                                       data_dir=tmp_path / str(i), chunk_users=chunk_users,
                                       workers=workers)
        manifests.append(manifest)
    for m in manifests[1:]:
        assert m["checksums"] == manifests[0]["checksums"]
        assert m["rows"] == manifests[0]["rows"]


def test_older_format_is_named(copy_of_smoke):
    from nsf.data import open_dataset

    mpath = copy_of_smoke / "manifest.json"
    manifest = json.loads(mpath.read_text())
    manifest["format"] = "nsf-dataset/1"
    mpath.write_text(json.dumps(manifest))
    with pytest.raises(NsfError, match=r"older format 'nsf-dataset/1'.*--force"):
        open_dataset(copy_of_smoke)


def test_unreadable_part_is_named(copy_of_smoke):
    from nsf.data import open_dataset

    _first_part(copy_of_smoke, "outcomes").write_bytes(b"not parquet")
    with pytest.raises(NsfError, match=r"table 'outcomes' is unreadable"):
        open_dataset(copy_of_smoke)


def test_edited_summary_is_refused_by_reader_and_report(copy_of_smoke):
    """summary.json (targets against achieved rates, shown in the report) is covered by the
    manifest like the tables: an edit is named at open, even without content checksums, and
    the report leaves the edited figures out instead of printing them."""
    from data_gen.dataset import read_summary
    from nsf.data import open_dataset

    assert read_summary(copy_of_smoke)["base_rate"] is not None
    spath = copy_of_smoke / "summary.json"
    summary = json.loads(spath.read_text())
    summary["calibration"] = {k: {**v, "simulated": v["target"]}
                              for k, v in summary["calibration"].items()}
    spath.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    with pytest.raises(NsfError, match=r"summary.json: does not match the checksum in its "
                                       r"manifest"):
        open_dataset(copy_of_smoke, verify="rows")
    with pytest.raises(WorldError, match=r"summary.json: does not match"):
        read_summary(copy_of_smoke)


# -- the manifest vouches for itself --------------------------------------------------------------

def _balance_uncontested(manifest: dict) -> None:
    group = next(g for g in manifest["description"]["groups"] if g["name"] == "balance")
    group["contested"] = False


#: Edits of what the readers take from the manifest (each went unnoticed before it had a digest).
_MANIFEST_EDITS = {
    "windows": lambda m: m["config"]["feed"].__setitem__("windows", [7, 30]),
    "contested": _balance_uncontested,
    "seed": lambda m: m.__setitem__("seed", m["seed"] + 1),
    "positive_label": lambda m: m["description"].__setitem__("positive_label", 0),
    "observation_dates": lambda m: m.__setitem__("observation_dates",
                                                 m["observation_dates"][::-1]),
}


def _edit_manifest(path: Path, edit) -> dict:
    mpath = path / "manifest.json"
    manifest = json.loads(mpath.read_text())
    edit(manifest)
    mpath.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


@pytest.mark.parametrize("edit", sorted(_MANIFEST_EDITS))
def test_edited_manifest_is_refused_by_every_reader(copy_of_smoke, smoke_cfg, edit):
    from nsf.audit import read_audit_tables
    from nsf.data import open_dataset

    _edit_manifest(copy_of_smoke, _MANIFEST_EDITS[edit])
    needle = r"manifest.json: does not match its own digest"
    with pytest.raises(NsfError, match=needle):
        open_dataset(copy_of_smoke, verify="rows")
    with pytest.raises(NsfError, match=needle):
        read_audit_tables(copy_of_smoke, ("n_cards",), verify="rows")
    with pytest.raises(WorldError, match=needle):  # `nsf simulate` before reusing it
        build_dataset(smoke_cfg.world, seed=smoke_cfg.seed, name=smoke_cfg.name,
                      data_dir=copy_of_smoke.parent, chunk_users=8192)


@pytest.mark.parametrize("edit", ["windows", "contested"])
def test_edited_manifest_is_one_line_and_exit_2(copy_of_smoke, tmp_path, monkeypatch, capsys,
                                                edit):
    _edit_manifest(copy_of_smoke, _MANIFEST_EDITS[edit])
    monkeypatch.chdir(tmp_path)
    res = in_process(capsys, "simulate", str(SMOKE), "-q", "--set",
                     f"simulate.data_dir={copy_of_smoke.parent}")
    assert res.returncode == 2, res.stdout + res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not match its own digest" in lines[0], res.stderr[-2000:]
    assert "(reused)" not in res.stdout


def test_manifest_without_a_digest_is_refused(copy_of_smoke):
    """A manifest that cannot vouch for itself is never trusted: deleting the digest (or
    claiming an older format, whose manifests had none) asks for a rebuild."""
    from nsf.data import open_dataset

    manifest = _edit_manifest(copy_of_smoke, lambda m: m.pop("integrity"))
    with pytest.raises(NsfError, match=r"manifest.json: corrupt manifest \(missing 'integrity'\)"):
        open_dataset(copy_of_smoke, verify="rows")
    manifest["format"] = "nsf-dataset/3"
    (copy_of_smoke / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(NsfError, match=r"older format 'nsf-dataset/3'.*--force"):
        open_dataset(copy_of_smoke, verify="rows")


@pytest.fixture(scope="module")
def signed_smoke(tmp_path_factory, smoke_cfg) -> Path:
    """The smoke dataset built with a signing key (``b"alpha key"``)."""
    path, manifest, _ = build_dataset(
        smoke_cfg.world, seed=smoke_cfg.seed, name=smoke_cfg.name,
        data_dir=tmp_path_factory.mktemp("signed"), chunk_users=8192, signing_key=b"alpha key")
    assert manifest["integrity"]["hmac_sha256"]
    return path


def test_signed_manifest_catches_an_edit_that_recomputes_the_digest(signed_smoke, tmp_path):
    from data_gen.dataset import seal_manifest
    from nsf.data import open_dataset

    assert open_dataset(signed_smoke, verify="rows", signing_key=b"alpha key").tables
    with pytest.raises(NsfError, match=r"manifest.json: its signature does not match the "
                                       r"dataset signing key"):
        open_dataset(signed_smoke, verify="rows", signing_key=b"another key")
    copy = tmp_path / signed_smoke.name
    shutil.copytree(signed_smoke, copy)
    manifest = _edit_manifest(copy, _balance_uncontested)
    # Whoever edits it recomputes the plain digest (the function is public, like SHA-256)...
    manifest["integrity"] = {**manifest["integrity"],
                             "sha256": seal_manifest(manifest, None)["sha256"]}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert open_dataset(copy, verify="rows").tables  # ...which a reader without the key accepts
    with pytest.raises(NsfError, match=r"its signature does not match"):
        open_dataset(copy, verify="rows", signing_key=b"alpha key")


def test_unsigned_dataset_is_refused_when_a_key_is_set(copy_of_smoke, smoke_cfg):
    from nsf.data import open_dataset

    with pytest.raises(NsfError, match=r"manifest.json: not signed, but a dataset signing key "
                                       r"is set"):
        open_dataset(copy_of_smoke, verify="rows", signing_key=b"alpha key")
    with pytest.raises(WorldError, match=r"not signed"):
        build_dataset(smoke_cfg.world, seed=smoke_cfg.seed, name=smoke_cfg.name,
                      data_dir=copy_of_smoke.parent, chunk_users=8192, signing_key=b"alpha key")


def test_signing_key_from_the_environment_is_never_shown(copy_of_smoke, tmp_path):
    """The CLI takes the key from dataset.signing_key or the variable dataset.signing_key_env
    names; the key is never printed (nor written into the manifest)."""
    secret = "s3cret-signing-key-4711"
    env = {**_env(), "NSF_DATASET_SIGNING_KEY": secret}
    args = [sys.executable, "-m", "nsf", "simulate", str(SMOKE), "-q", "--set",
            f"simulate.data_dir={copy_of_smoke.parent}"]
    res = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert res.returncode == 2 and "not signed" in res.stderr  # built without a key
    res = subprocess.run([*args, "--force"], cwd=tmp_path, capture_output=True, text=True,
                         env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads((copy_of_smoke / "manifest.json").read_text())["integrity"]["hmac_sha256"]
    res = subprocess.run([sys.executable, "-m", "nsf", "config", "show", str(SMOKE), "--set",
                          f"dataset.signing_key={secret}"], cwd=tmp_path, capture_output=True,
                         text=True, env=_env())
    assert res.returncode == 0 and "signing_key" in res.stdout
    for text in (res.stdout, res.stderr, (copy_of_smoke / "manifest.json").read_text()):
        assert secret not in text


# -- resume re-verifies finished chunks -----------------------------------------------------------

def _chunked_kwargs(data_dir: Path) -> dict:
    cfg = load_config(SMOKE, _CHUNKED)
    return dict(world=cfg.world, seed=cfg.seed, name=cfg.name, data_dir=data_dir,
                chunk_users=8192)


@pytest.fixture(scope="module")
def chunked_build(tmp_path_factory) -> tuple[Path, dict]:
    """An uninterrupted build of the chunked world (three chunks): its folder and manifest."""
    path, manifest, _ = build_dataset(**_chunked_kwargs(tmp_path_factory.mktemp("clean")))
    return path, manifest


@pytest.fixture
def chunked_clean(chunked_build) -> dict:
    return chunked_build[1]


def _interrupted_build(data_dir: Path) -> Path:
    """Stop a build after its first finished chunk (as a kill would); its staging folder."""
    def stop_after_first_chunk(done: int, total: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_dataset(**_chunked_kwargs(data_dir), progress=stop_after_first_chunk)
    (staging,) = data_dir.glob("*.partial")
    assert (staging / "_chunks" / "00000.json").is_file()
    return staging


def _damage_part(staging: Path, damage: str) -> None:
    part = staging / "outcomes" / "part-00000.parquet"
    if damage == "edit":
        table = pq.read_table(part)
        i = table.schema.get_field_index("nsf_appstore")
        pq.write_table(table.set_column(i, "nsf_appstore", pc.invert(table["nsf_appstore"])),
                       part)
    elif damage == "truncate":
        part.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    elif damage == "fewer_rows":
        table = pq.read_table(part)
        pq.write_table(table.slice(0, table.num_rows - 10), part)
    elif damage == "delete":
        part.unlink()
    elif damage == "record":
        record = staging / "_chunks" / "00000.json"
        data = json.loads(record.read_text())
        data["aggregates"]["apple_nsf"] += 100
        record.write_text(json.dumps(data))


@pytest.mark.parametrize("damage", ["edit", "truncate", "fewer_rows", "delete", "record"])
def test_resume_rebuilds_a_damaged_finished_chunk(tmp_path, chunked_clean, damage):
    """A finished chunk of an interrupted build is re-verified before it is reused (its parts
    re-hashed against its record, the record against its own digest); a damaged one is built
    again, so the resumed dataset equals an uninterrupted build."""
    staging = _interrupted_build(tmp_path)
    _damage_part(staging, damage)
    path, manifest, reused = build_dataset(**_chunked_kwargs(tmp_path))
    assert not reused
    assert all(verify_dataset(path).values())
    assert manifest["checksums"] == chunked_clean["checksums"]
    assert manifest["rows"] == chunked_clean["rows"]
    assert manifest["summary_sha256"] == chunked_clean["summary_sha256"]


def test_resume_keeps_an_intact_finished_chunk(tmp_path, chunked_clean):
    staging = _interrupted_build(tmp_path)
    before = (staging / "outcomes" / "part-00000.parquet").stat().st_mtime_ns
    resumed_from = []
    _, manifest, _ = build_dataset(**_chunked_kwargs(tmp_path),
                                   progress=lambda done, total: resumed_from.append(done))
    assert resumed_from[0] == 1
    assert manifest["checksums"] == chunked_clean["checksums"]
    assert manifest["summary_sha256"] == chunked_clean["summary_sha256"]
    final = tmp_path / f"{manifest['name']}-{manifest['digest'][:8]}"
    assert (final / "outcomes" / "part-00000.parquet").stat().st_mtime_ns == before


def test_summary_is_byte_identical_for_any_chunk_size_and_workers(tmp_path, chunked_build):
    """summary.json (and so the manifest's summary_sha256) adds the chunks' sums in a fixed
    order (per block of users), so it does not change with the chunking in the last digits."""
    clean_folder, clean = chunked_build  # chunks of 8,192 users, one process
    path, manifest, _ = build_dataset(**{**_chunked_kwargs(tmp_path), "chunk_users": 16384},
                                      workers=2)
    assert (path / "summary.json").read_bytes() == (clean_folder / "summary.json").read_bytes()
    assert manifest["summary_sha256"] == clean["summary_sha256"]


def test_resume_verifies_finished_chunks_in_worker_processes(tmp_path, chunked_clean):
    staging = _interrupted_build(tmp_path)
    _damage_part(staging, "edit")
    path, manifest, _ = build_dataset(**_chunked_kwargs(tmp_path), workers=2)
    assert all(verify_dataset(path).values())
    assert manifest["checksums"] == chunked_clean["checksums"]
