"""No identifier leaks: a small clear study, the pseudonymisation of its data and a study on
the pseudonymised data, every output file and every DEBUG log line scanned for the input's
identifier values (names, e-mails, phones, usernames, IPs, dates of birth).

What is scanned, and why some files are not:

* clear run (``linkage run --scale 0.003``): every file under ``--out`` - the report, the
  manifest, the CSV and Parquet outputs (read as tables), the charts and the model JSON -
  except ``data/`` (the generated INPUT the run writes beside its outputs) and
  ``study.duckdb`` (the working database: it holds the raw input by design and is not a
  publishable output);
* pseudonymised run (``linkage run --input <pseudonymised>``): every file, ``study.duckdb``
  included (every table, every column), and the pseudonymised data itself: nothing there
  may hold a clear identifier - nor the key.

Values are matched case-insensitively as whole tokens (so a surname such as "Small" does not
match the word "small" in a sentence, while "robert norris" matches as a full name), phones
by their digits.
"""

from __future__ import annotations

import html
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from linkage.cli import main
from linkage.db import quote_ident

pytestmark = pytest.mark.slow

KEY = "leak-scan key: at least thirty-two bytes of secret text"
_TOKEN = re.compile(r"[\w.@+'\-]+")
_PHONE = re.compile(r"\+?\d[\d\s().\-]{8,}\d")


def _digits(phone: str) -> str:
    d = re.sub(r"\D", "", phone)
    return d[1:] if len(d) == 11 and d.startswith("1") else d


def _identifiers(data: Path) -> dict[str, set[str]]:
    """The input's identifier values by kind, lower-cased (phones as digits)."""
    cols = {
        "tips": {"name": ("suspect_first_name", "suspect_last_name"), "email": "suspect_email",
                 "phone": "suspect_phone", "username": "suspect_username",
                 "ip": "suspect_ip", "dob": "suspect_dob"},
        "referrals": {"name": ("first_name", "last_name"), "email": "email", "phone": "phone",
                      "username": "username", "ip": "ip", "dob": "dob"},
        "case_outcomes": {"name": ("first_name", "last_name"), "email": "email",
                          "phone": "phone", "username": "username", "dob": "dob"},
    }
    out: dict[str, set[str]] = {k: set() for k in ("name", "email", "phone", "username", "ip",
                                                   "dob")}
    for table, kinds in cols.items():
        rel = duckdb.sql(f"select * from read_parquet('{data / table}.parquet')")
        for kind, col in kinds.items():
            if kind == "name":
                first, last = (quote_ident(c) for c in col)
                q = rel.filter(f"{first} is not null and {last} is not null").select(
                    f"lower({first} || ' ' || {last})")
            else:
                q = rel.filter(f"{quote_ident(col)} is not null").select(
                    f"lower({quote_ident(col)}::varchar)")
            values = {v.strip() for (v,) in q.fetchall() if v and v.strip()}
            if kind == "phone":
                values = {_digits(v) for v in values}
                values = {v for v in values if len(v) >= 10}
            if kind == "username":
                values = {v for v in values if len(v) >= 5}
            out[kind] |= values
    return out


def _candidates(text: str) -> set[str]:
    """Tokens, consecutive token pairs (full names) and phone-like digit runs of a text."""
    text = html.unescape(text).lower()
    tokens = [t.strip(".-'") for t in _TOKEN.findall(text)]
    pairs = {f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)}
    phones = {_digits(m) for m in _PHONE.findall(text)}
    return set(tokens) | pairs | phones


def _leaks(text: str, ids: dict[str, set[str]]) -> dict[str, int]:
    found = _candidates(text)
    return {kind: len(values & found) for kind, values in ids.items() if values & found}


def _texts_of_db(path: Path) -> Iterator[tuple[str, str]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.sql(
            "select table_name from information_schema.tables").fetchall()]
        for table in tables:
            rows = con.sql(f"select * from {quote_ident(table)}").fetchall()
            yield f"{path.name}:{table}", "\n".join(" | ".join(map(str, r)) for r in rows)
    finally:
        con.close()


_SCRIPT = re.compile(r"<script[^>]*>.*?</script>", re.S)


def _libraries(folder: Path) -> set[str]:
    """Script blocks found in every chart of a run: the JavaScript libraries Splink inlines
    so the charts work offline (vega, vega-lite, vega-embed), the same in every chart and
    free of data - their words ("gray12" is a colour there, a username in the data) are
    not scanned; each chart's own block (its spec and data) is."""
    charts = sorted((folder / "charts").glob("*.html"))
    blocks = [set(_SCRIPT.findall(p.read_text(encoding="utf-8"))) for p in charts]
    return set.intersection(*blocks) if len(blocks) > 1 else set()


def _texts(folder: Path, *, skip: tuple[str, ...] = ()) -> Iterator[tuple[str, str]]:
    """(name, text) of every file under ``folder`` (tables of Parquet/DuckDB as text)."""
    libraries = _libraries(folder)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if any(rel == s or rel.startswith(s + "/") for s in skip):
            continue
        if path.suffix == ".parquet":
            rows = duckdb.sql(f"select * from read_parquet('{path}')").fetchall()
            yield rel, "\n".join(" | ".join(map(str, r)) for r in rows)
        elif path.suffix == ".duckdb":
            yield from _texts_of_db(path)
        else:
            text = path.read_text(encoding="utf-8", errors="replace")
            if rel.startswith("charts/"):
                text = _SCRIPT.sub(lambda m: "" if m.group(0) in libraries else m.group(0),
                                   text)
            yield rel, text


class _Capture:
    """Every log record of the block at DEBUG and above, as text."""

    def __enter__(self) -> io.StringIO:
        self.buffer = io.StringIO()
        self.handler = logging.StreamHandler(self.buffer)
        self.handler.setLevel(logging.DEBUG)
        self.root = logging.getLogger()
        self.level = self.root.level
        self.root.addHandler(self.handler)
        self.root.setLevel(logging.DEBUG)
        return self.buffer

    def __exit__(self, *exc: object) -> None:
        self.root.removeHandler(self.handler)
        self.root.setLevel(self.level)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    work = tmp_path_factory.mktemp("leaks")
    mp = pytest.MonkeyPatch()
    mp.setenv("LINKAGE_LEAK_KEY", KEY)
    runner = CliRunner()
    logs, outputs = {}, {}
    steps = {
        "clear": ["run", "--scale", "0.003", "--seed", "4", "--out", str(work / "clear")],
        "pseudonymize": ["pseudonymize", "--input", str(work / "clear" / "data"), "--out",
                         str(work / "pseudo"), "--key-env", "LINKAGE_LEAK_KEY"],
        "private": ["run", "--input", str(work / "pseudo"), "--out", str(work / "private")],
    }
    try:
        for name, args in steps.items():
            with _Capture() as buffer:
                result = runner.invoke(main, ["--log-level", "DEBUG", *args])
            assert result.exit_code == 0, result.output
            logs[name], outputs[name] = buffer.getvalue(), result.output
    finally:
        mp.undo()
    return {"work": work, "ids": _identifiers(work / "clear" / "data"), "logs": logs,
            "outputs": outputs}


def test_the_scan_finds_identifiers_where_they_are(runs, tmp_path: Path) -> None:
    # controls: the generated input (excluded below) is full of them, and a planted name,
    # e-mail and phone in a text file are each found
    ids, data = runs["ids"], runs["work"] / "clear" / "data"
    assert all(len(v) > 20 for v in ids.values()), {k: len(v) for k, v in ids.items()}
    found = _leaks("\n".join(t for _, t in _texts(data)), ids)
    assert set(found) == set(ids)
    name, email, phone = (sorted(ids[k])[0] for k in ("name", "email", "phone"))
    planted = f"<p>Subject: {name.title()}, contact {email.upper()} or ({phone[:3]}) " \
              f"{phone[3:6]}-{phone[6:]}.</p>"
    assert _leaks(planted, ids) == {"name": 1, "email": 1, "phone": 1}


def test_clear_study_outputs_and_logs_hold_no_identifier(runs) -> None:
    ids, out = runs["ids"], runs["work"] / "clear"
    scanned = []
    for name, text in _texts(out, skip=("data", "study.duckdb")):
        scanned.append(name)
        assert _leaks(text, ids) == {}, name
    assert {"report.html", "report.md", "manifest.json", "conversion_rates.csv",
            "links.parquet", "model.json"} <= set(scanned)
    assert any(n.startswith("charts/") for n in scanned)
    assert len(_libraries(out)) >= 3  # vega, vega-lite, vega-embed
    assert runs["logs"]["clear"].count("\n") > 20  # DEBUG lines were captured
    assert _leaks(runs["logs"]["clear"] + runs["outputs"]["clear"], ids) == {}


def test_pseudonymised_data_study_and_logs_hold_no_identifier_and_no_key(runs) -> None:
    ids, work = runs["ids"], runs["work"]
    scanned = []
    for folder in ("pseudo", "private"):
        for name, text in _texts(work / folder):
            scanned.append(f"{folder}/{name}")
            assert _leaks(text, ids) == {}, f"{folder}/{name}"
            assert KEY not in text, f"{folder}/{name}"
    assert {"pseudo/referrals.parquet", "pseudo/pseudonymisation.json",
            "private/study.duckdb:raw_referrals", "private/study.duckdb:stg_case_outcomes",
            "private/report.html", "private/manifest.json"} <= set(scanned)
    for step in ("pseudonymize", "private"):
        text = runs["logs"][step] + runs["outputs"][step]
        assert _leaks(text, ids) == {} and KEY not in text, step
