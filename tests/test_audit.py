"""The audit on tiny hand-built tables: linkage, quasi-identifiers, the counterfactual, the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_gen.identifiers import hash_identifiers, mask_email, mask_phone, phone_plaintext
from nsf.audit import coarsen, k_anonymity, link_tables, read_audit_tables, run_audit
from nsf.config import AuditConfig, ConfigError, load_config
from nsf.config._audit import CoarsenRule
from nsf.errors import NsfError

SPACE = 100_000  # enumerated phone suffixes in these tests


def _sha(values):
    return hash_identifiers(values, "sha256")


# ---------------------------------------------------------------- linkage (hand-computed)


def test_linkage_counts_rows_joined_on_any_identifier():
    p = [f"0100000000{i}" for i in range(10)]
    e = [f"user{i}@example.com" for i in range(10)]
    shared = pd.DataFrame({
        "user_id": [1, 2, 3, 4],
        "phone_hash": _sha(p[1:5]),
        "email_hash": [*_sha(e[1:4]), None],
    })
    recipient = pd.DataFrame({
        "recipient_id": [10, 11, 12, 13],
        "phone_hash": _sha([p[1], p[9], p[5], p[3]]),  # 11 changed number; 12 is not a user
        "email_hash": [*_sha([e[1], e[2], e[5]]), None],
    })
    result = link_tables(shared, recipient, on=["phone_hash", "email_hash"],
                         truth=pd.Series({10: 1, 11: 2, 12: 5, 13: 3}))
    figures = result.summary()
    assert figures["link_fraction"] == 3 / 4  # rows 10, 11, 13
    assert figures["link_fraction_phone"] == 2 / 4  # 10, 13
    assert figures["link_fraction_email"] == 2 / 4  # 10, 11
    assert figures["users_linked_fraction"] == 3 / 4  # users 1, 2, 3
    assert figures["link_precision"] == 1.0
    wrong = link_tables(shared, recipient, on=["phone_hash", "email_hash"],
                        truth=pd.Series({10: 1, 11: 2, 12: 5, 13: 4}))
    assert wrong.summary()["link_precision"] == 2 / 3


def test_keyed_hashes_do_not_link():
    phones = [f"010123400{i:02d}" for i in range(20)]
    shared = pd.DataFrame({"user_id": range(20),
                           "phone_hash": hash_identifiers(phones, "hmac-sha256", b"k" * 32)})
    recipient = pd.DataFrame({"recipient_id": range(20), "phone_hash": _sha(phones)})
    assert link_tables(shared, recipient, on=["phone_hash"]).link_fraction == 0.0


# ---------------------------------------------------------------- quasi-identifiers


def _quasi_frame():
    d1, d2, d3, d4 = (dt.date(2019, 1, 5), dt.date(2019, 3, 1), dt.date(2020, 2, 2),
                      dt.date(2021, 7, 7))
    return pd.DataFrame({"join_date": [d1, d1, d2, d3, d3, d4], "n_cards": [1, 1, 2, 5, 4, 1]})


def test_uniqueness_and_k_distribution_match_hand_counts():
    raw = k_anonymity(_quasi_frame())
    # classes: (d1,1)x2, (d2,2), (d3,5), (d3,4), (d4,1) -> k = 2,2,1,1,1,1
    assert raw.n_classes == 5
    assert raw.unique_fraction == pytest.approx(4 / 6)
    assert raw.k_min == 1 and raw.k_median == 1.0
    assert raw.k_distribution == pytest.approx(
        {"1": 4 / 6, "2_4": 2 / 6, "5_9": 0.0, "10_99": 0.0, "100_plus": 0.0})
    rules = [CoarsenRule(column="join_date", op="year"),
             CoarsenRule(column="n_cards", op="cap", value=3)]
    coarse = k_anonymity(coarsen(_quasi_frame(), rules))
    # (2019,1)x2, (2019,2), (2020,3)x2, (2021,1) -> k = 2,2,1,2,2,1
    assert coarse.n_classes == 4
    assert coarse.unique_fraction == pytest.approx(2 / 6)
    assert coarse.k_median == 2.0
    assert coarse.summary("_coarse")["k_lt_5_fraction_coarse"] == pytest.approx(1.0)


def test_coarsening_ops():
    frame = pd.DataFrame({"masked_email": ["ab***@naver.com", "cd***@gmail.com"],
                          "masked_phone": ["010-****-1234", "010-****-9999"],
                          "balance": [12_500.0, 49_999.0]})
    out = coarsen(frame, [CoarsenRule(column="masked_email", op="domain"),
                          CoarsenRule(column="masked_phone", op="drop"),
                          CoarsenRule(column="balance", op="bin", value=10_000)])
    assert out.columns.tolist() == ["masked_email", "balance"]
    assert out["masked_email"].tolist() == ["naver.com", "gmail.com"]
    assert out["balance"].tolist() == [10_000.0, 40_000.0]
    assert frame.shape == (2, 3)  # input untouched


def test_one_class_per_everyone_is_fully_anonymous():
    result = k_anonymity(pd.DataFrame({"x": [1] * 7}))
    assert result.unique_fraction == 0.0 and result.k_min == 7
    assert result.k_distribution["5_9"] == 1.0


# ---------------------------------------------------------------- end to end on a tiny dataset


def _tiny_world(n_users: int = 40, seed: int = 3):
    """Users whose first 30 phone numbers lie in the sub-space [0, SPACE), the rest outside."""
    rng = np.random.default_rng(seed)
    suffix = np.concatenate([rng.choice(SPACE, 30, replace=False),
                             SPACE + rng.choice(10**8 - SPACE, n_users - 30, replace=False)])
    phones = phone_plaintext(suffix)
    local = [f"u{i:03d}x" for i in range(n_users)]
    domains = rng.choice(["naver.com", "gmail.com", "daum.net"], n_users).tolist()
    emails = [f"{a}@{d}" for a, d in zip(local, domains, strict=True)]
    user_id = np.arange(1000, 1000 + n_users, dtype=np.int64)
    users = pd.DataFrame({
        "user_id": user_id,
        "phone_hash": _sha(phones),
        "email_hash": _sha(emails),
        "masked_email": mask_email(local, domains),
        "masked_phone": mask_phone(suffix),
        "join_date": [dt.date(2015, 1, 1) + dt.timedelta(days=int(d))
                      for d in rng.integers(0, 1500, n_users)],
        "id_verified": rng.random(n_users) < 0.7,
        "n_cards": rng.integers(0, 6, n_users).astype(np.int8),
        "apple_registered": np.arange(n_users) % 10 < 3,  # 12 of 40
    })
    truth = pd.DataFrame({"user_id": user_id, "phone_plain": phones, "email_plain": emails})
    sensitive = pd.DataFrame({"user_id": user_id,
                              "age_band": rng.choice(["20-29", "30-39"], n_users)})
    return users, truth, sensitive


def _cfg(**changes) -> AuditConfig:
    return AuditConfig(phone_space_size=SPACE, workers=1, chunk_size=16_384, **changes)


def test_audit_recovers_links_and_counterfactual_holds():
    users, truth, sensitive = _tiny_world()
    result = run_audit(users, _cfg(), rng=np.random.default_rng(0), truth_users=truth,
                       sensitive=sensitive)
    m = result["metrics"]
    assert m["phone_recovered_fraction"] == 30 / 40
    assert m["phone_in_space_fraction"] == 30 / 40
    assert m["phone_recovered_in_space_fraction"] == 1.0
    assert m["phone_recovery_correct_fraction"] == 1.0
    assert m["link_fraction"] == 1.0 and m["link_precision"] == 1.0
    assert m["users_linked_fraction"] == 12 / 40
    assert m["link_rows"] == 12
    # Masked phone (last 4 digits) alone makes 40 random users unique; dropping it helps.
    assert m["unique_fraction"] == 1.0
    assert m["unique_fraction_coarse"] < 1.0
    assert m["hmac_phone_recovered_fraction"] == 0.0
    assert m["hmac_phone_targets"] == 40
    assert m["hmac_link_fraction"] == 0.0
    assert m["hashes_per_s"] > 0
    assert json.loads(json.dumps(result)) == result
    assert all(isinstance(v, float) for v in m.values())


def test_audit_without_truth_still_reverses_and_measures():
    users, _, _ = _tiny_world()
    result = run_audit(users.drop(columns="email_hash"), _cfg(), rng=np.random.default_rng(0))
    assert result["metrics"]["phone_recovered_fraction"] == 30 / 40
    assert "linkage" not in result and "counterfactual" not in result
    assert "unique_fraction" in result["metrics"]


def test_demographic_quasi_identifiers_come_from_the_sensitive_table():
    users, _, sensitive = _tiny_world()
    cfg = _cfg(quasi_identifiers=("id_verified", "age_band"), coarsen=(), counterfactual=False)
    result = run_audit(users, cfg, rng=np.random.default_rng(0), sensitive=sensitive)
    expected = k_anonymity(
        users[["user_id", "id_verified"]].merge(sensitive, on="user_id")[
            ["id_verified", "age_band"]]
    )
    assert result["metrics"]["unique_fraction"] == expected.unique_fraction
    assert result["quasi"]["columns"] == ["id_verified", "age_band"]


def test_missing_identifier_columns_are_one_line_error():
    users, _, _ = _tiny_world()
    with pytest.raises(NsfError, match=r"^data/t: users table has no identifier columns; "
                                       r"allowed: phone_hash, email_hash"):
        run_audit(users.drop(columns=["phone_hash", "email_hash"]), _cfg(),
                  rng=np.random.default_rng(0), source="data/t")


def test_unknown_quasi_identifier_is_named():
    users, _, _ = _tiny_world()
    with pytest.raises(NsfError, match=r"age_band not in the users or sensitive tables"):
        run_audit(users, _cfg(quasi_identifiers=("age_band",), coarsen=()),
                  rng=np.random.default_rng(0))


def test_config_rejections_name_the_field():
    with pytest.raises(ConfigError, match="coarsen names columns not in quasi_identifiers"):
        load_config(overrides=["audit.quasi_identifiers=[n_cards]"])
    with pytest.raises(ConfigError, match="op 'cap' needs a positive value"):
        load_config(overrides=["audit.coarsen=[{column: n_cards, op: cap}]"])
    with pytest.raises(ConfigError, match="must not exceed 100000000"):
        load_config(overrides=["audit.phone_space_start=99999999", "audit.phone_space_size=2"])


# ---------------------------------------------------------------- the dataset folder and the CLI


def _write_dataset(root: Path, users: pd.DataFrame, truth: pd.DataFrame) -> Path:
    """A dataset folder with a valid manifest (the audit verifies it before reading)."""
    import hashlib

    from data_gen import _checksum
    from data_gen.dataset import FORMAT, seal_manifest, table_checksum

    (root / "summary.json").parent.mkdir(parents=True, exist_ok=True)
    (root / "summary.json").write_text("{}\n")
    manifest = {"format": FORMAT, "rows": {}, "checksums": {}, "tables": {}, "digest": "0" * 64,
                "seed": 0, "config": {},
                "summary_sha256": hashlib.sha256(b"{}\n").hexdigest()}
    for name, frame in (("users", users), ("truth_users", truth)):
        (root / name).mkdir(parents=True)
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False),
                       root / name / "part-00000.parquet")
        manifest["tables"][name] = {"files": [f"{name}/part-00000.parquet"]}
        total = table_checksum(root, manifest, name)
        manifest["rows"][name] = total[1]
        manifest["checksums"][name] = _checksum.digest(name, total)
    manifest["integrity"] = seal_manifest(manifest, None)
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_cli_audit_writes_json(tmp_path, capsys):
    from nsf.cli import main

    users, truth, _ = _tiny_world()
    data = _write_dataset(tmp_path / "ds", users, truth)
    out = tmp_path / "audit.json"
    with pytest.raises(SystemExit) as exit_:
        main(["audit", "--data", str(data), "--no-mlflow", "--quiet", "--json", str(out),
              "--set", f"audit.phone_space_size={SPACE}", "--set", "audit.workers=1"])
    assert exit_.value.code in (0, None)
    result = json.loads(out.read_text())
    assert result["metrics"]["phone_recovered_fraction"] == 30 / 40
    assert result["dataset"] == str(data)
    assert "phone_recovered_fraction=0.75" in capsys.readouterr().out


def test_cli_bad_digests_exit_2_with_one_line(tmp_path, capsys):
    from nsf.cli import main

    users, truth, _ = _tiny_world()
    users["phone_hash"] = users["phone_hash"].str[:40]  # SHA-1 length
    data = _write_dataset(tmp_path / "ds", users, truth)
    with pytest.raises(SystemExit) as exit_:
        main(["audit", "--data", str(data), "--no-mlflow", "--quiet",
              "--set", f"audit.phone_space_size={SPACE}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith(f"nsf: error: {data} users: column 'phone_hash' has 40 value(s)")


def test_not_a_dataset(tmp_path):
    with pytest.raises(NsfError, match="not a dataset"):
        read_audit_tables(tmp_path, ("n_cards",))


def test_audit_is_logged_to_mlflow(tmp_path, tracking_store):
    import mlflow

    from nsf.tracking.audit import log_audit

    users, truth, _ = _tiny_world()
    cfg = load_config(overrides=[f"tracking.uri=sqlite:///{tmp_path}/mlflow.db",
                                 f"tracking.artifact_location={tmp_path}/artifacts",
                                 "name=audit-test", f"audit.phone_space_size={SPACE}",
                                 "audit.workers=1"])
    result = run_audit(users, cfg.audit, rng=np.random.default_rng(0), truth_users=truth)
    run_id = log_audit(result, cfg, dataset="tiny", manifest_digest="0" * 64)
    run = mlflow.MlflowClient(f"sqlite:///{tmp_path}/mlflow.db").get_run(run_id)
    assert run.data.tags["nsf.role"] == "audit"
    assert run.data.metrics["phone_recovered_fraction"] == 0.75
    assert run.data.metrics["hmac_link_fraction"] == 0.0
    assert run.data.params["audit.phone_space_size"] == str(SPACE)
