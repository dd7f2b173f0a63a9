"""A run's results as the page shows them: every row's outcome in words, who and where beside
the ids, and what an undo did to it.

Read from the files the library writes (``success.csv``, ``errors.csv``, ``undo.csv``), so the
page and the downloads never disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from importer.core import NAME_COLUMNS
from importer.web._words import IGNORE, OUTCOMES, TONES, UNDO_OUTCOMES, plain

__all__ = ["outcome_counts", "outcomes", "read_csv", "who_and_where"]

_COLUMNS = ["row", "outcome", "membership", "message", "who", "where", "undone"]


def read_csv(path: Path) -> pd.DataFrame:
    """A results file as text cells (an empty frame when the file is not there)."""
    if not path.is_file():
        return pd.DataFrame(columns=["source_row"])
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame["source_row"] = pd.to_numeric(frame["source_row"], errors="coerce").astype("Int64")
    return frame


def _column(frame: pd.DataFrame, label: str | None) -> pd.Series:
    if label is not None and label in frame.columns:
        return frame[label].astype(str).str.strip()
    return pd.Series("", index=frame.index, dtype=object)


def who_and_where(frame: pd.DataFrame, chosen: dict[str, str]) -> list[tuple[str, str]]:
    """For each row of a results file (or ``plan.csv``): the member (the name the run found,
    else the e-mail or project title the file gave, with the Kantata id) and the place
    (geography / department by name, the run's or the file's, with the ids)."""
    by_target = {t: h for h, t in chosen.items() if t != IGNORE}

    def pick(found: str, *own: str) -> pd.Series:
        # What the run wrote (an id filled from a name, a name beside an id), else the file's.
        value = _column(frame, found)
        for target in own:
            value = value.where(value != "", _column(frame, by_target.get(target)))
        return value

    member_name, geo_name, dept_name = NAME_COLUMNS
    who = pick(member_name, "member_email", "workspace")
    member, kind = pick("member_id", "member_id"), pick("member_type", "member_type").str.lower()
    geo, dept = pick(geo_name, "geography"), pick(dept_name, "department")
    geo_id, dept_id = pick("geography_id", "geography_id"), pick("department_id", "department_id")
    return [
        _describe(*values)
        for values in zip(who, member, kind, geo, geo_id, dept, dept_id, strict=True)
    ]


def _describe(
    named: str, member: str, kind: str, geo_name: str, geo: str, dept: str, dept_id: str
) -> tuple[str, str]:
    noun = "project" if kind == "workspace" else "user"
    ident = f"{noun} {member}" if member else ""
    who = f"{named} ({ident})" if named and ident else named or ident
    geography = _named(geo_name, "geography", geo)
    department = _named(dept, "department", dept_id)
    where = " / ".join(p for p in (geography, department) if p)
    return who, where


def _named(name: str, noun: str, ident: str) -> str:
    if name and ident:
        return f"{name} ({ident})"
    return name or (f"{noun} {ident}" if ident else "")


def outcomes(results: Path, chosen: dict[str, str], ignored: list[dict[str, Any]]) -> pd.DataFrame:
    """Every row of a run, in row order: row, outcome (words), membership, message, who, where,
    and ``undone`` (True for the rows an undo changed back). ``ignored``: the rows the person
    left out (``row``, ``who``, ``where``), which the results files do not hold."""
    parts = []
    success = read_csv(results / "success.csv")
    if len(success):
        who = who_and_where(success, chosen)
        parts.append(
            pd.DataFrame(
                {
                    "row": success["source_row"],
                    "outcome": success["status"].map(lambda s: OUTCOMES.get(s, s)),
                    "membership": success["organization_membership_id"],
                    "message": success["note"].map(plain),
                    "who": [w for w, _ in who],
                    "where": [p for _, p in who],
                }
            )
        )
    errors = read_csv(results / "errors.csv")
    if len(errors):
        who = who_and_where(errors, chosen)
        parts.append(
            pd.DataFrame(
                {
                    "row": errors["source_row"],
                    "outcome": errors["error_stage"].map(lambda s: OUTCOMES.get(s, s)),
                    "membership": "",
                    "message": errors["error_message"].map(plain),
                    "who": [w for w, _ in who],
                    "where": [p for _, p in who],
                }
            )
        )
    if ignored:
        parts.append(pd.DataFrame(ignored).assign(outcome=OUTCOMES["ignored"], membership=""))
    if not parts:
        return pd.DataFrame(columns=_COLUMNS)
    frame = pd.concat(parts, ignore_index=True).fillna("")
    frame["undone"] = False
    frame = _with_undo(frame, read_csv(results / "undo.csv"))
    frame["row"] = frame["row"].astype("int64")
    return frame.sort_values("row", kind="stable").reset_index(drop=True)[_COLUMNS]


def _undo_word(action: str, status: str, message: str) -> str:
    if status == "undone":
        if message.startswith("already gone"):
            return UNDO_OUTCOMES["already gone"]
        return UNDO_OUTCOMES["deleted" if action == "delete" else "moved back"]
    return UNDO_OUTCOMES.get(status, status)


def _with_undo(frame: pd.DataFrame, undo: pd.DataFrame) -> pd.DataFrame:
    """The rows an undo touched say what the undo did (and why not, when it did not)."""
    if not len(undo):
        return frame
    undo = undo.drop_duplicates("source_row")
    found = pd.DataFrame(
        {
            "row": undo["source_row"].astype("int64"),
            "u_action": undo["action"],
            "u_status": undo["status"],
            "u_message": undo["message"],
        }
    )
    merged = frame.assign(row=frame["row"].astype("int64")).merge(found, on="row", how="left")
    hit = merged["u_status"].notna()
    touched = merged[hit]
    merged.loc[hit, "outcome"] = [
        _undo_word(a, s, m)
        for a, s, m in zip(
            touched["u_action"], touched["u_status"], touched["u_message"], strict=True
        )
    ]
    merged.loc[hit, "message"] = [
        "" if s == "undone" else plain(m)
        for s, m in zip(touched["u_status"], touched["u_message"], strict=True)
    ]
    merged["undone"] = hit & (merged["u_status"] == "undone")
    return merged.drop(columns=["u_action", "u_status", "u_message"])


def outcome_counts(frame: pd.DataFrame) -> list[dict[str, object]]:
    """How many rows have each outcome, in the order outcomes first appear in ``OUTCOMES`` and
    ``UNDO_OUTCOMES`` (the counts the page shows over its table: they agree by construction)."""
    found = frame["outcome"].value_counts()
    order = [*OUTCOMES.values(), *UNDO_OUTCOMES.values()]
    known = [w for w in order if w in found.index]
    other = [w for w in found.index if w not in order]
    return [
        {"outcome": w, "rows": int(found[w]), "tone": TONES.get(w, "bad")} for w in [*known, *other]
    ]
