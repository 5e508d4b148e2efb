"""The grading service (grader.grading) on real SQLite files and PostgreSQL: the one rule for which answer key
version applies, failed photos recorded and kept for a retry, and the shared vocabulary and
settings every edge reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from grader import charset, db, store
from grader.cli import main
from grader.errors import AnswerKeyInvalid, GraderError
from grader.files import FileStore
from grader.grading import (
    GradeOptions,
    KeyNotFound,
    KeyRef,
    Photo,
    grade_photos,
    prepare,
    retry_failed,
)
from grader.paths import ANSWER_KEYS_DIR
from grader.reader import load_reader
from grader.scoring import ScoredAnswer
from grader.settings import Settings
from grader.vocab import Kind, Mode, Status, Verdict

KEY_ID = "arithmetic-basics"


@pytest.fixture
def keys_dir(tmp_path) -> Path:
    folder = tmp_path / "answer_keys"
    folder.mkdir()
    shutil.copy(ANSWER_KEYS_DIR / f"{KEY_ID}.yaml", folder)
    return folder


@pytest.fixture
def engine(gradebook_url):
    engine = db.open_engine(gradebook_url)
    yield engine
    engine.dispose()


def edited(keys_dir: Path, title: str) -> str:
    data = yaml.safe_load((keys_dir / f"{KEY_ID}.yaml").read_text(encoding="utf-8"))
    data["title"] = f"{title} {data['title']}"
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def test_an_id_takes_the_file_as_first_version_then_the_gradebook_wins(engine, keys_dir):
    first = prepare(engine, KeyRef(KEY_ID), keys_dir=keys_dir)
    assert (first.key_version, first.new_version, first.file_differs) == (1, False, False)
    with db.write_session(engine) as session:  # the teacher edits the key in the app
        store.save_answer_key(session, edited(keys_dir, "Edited"), "the app")
    again = prepare(engine, KeyRef(KEY_ID), keys_dir=keys_dir)
    assert again.key_version == 2 and again.key.title.startswith("Edited")


def test_a_key_file_becomes_a_version_only_when_asked(engine, keys_dir, tmp_path):
    prepare(engine, KeyRef(KEY_ID), keys_dir=keys_dir)
    changed = tmp_path / "changed.yaml"
    changed.write_text(edited(keys_dir, "Changed"), encoding="utf-8")
    used = prepare(engine, KeyRef.parse(str(changed)), keys_dir=keys_dir)
    assert (used.key_version, used.new_version, used.file_differs) == (1, False, True)
    assert not used.key.title.startswith("Changed")
    asked = prepare(engine, KeyRef.parse(str(changed)), new_version=True, keys_dir=keys_dir)
    assert (asked.key_version, asked.new_version, asked.file_differs) == (2, True, False)
    assert asked.key.title.startswith("Changed")
    same = prepare(engine, KeyRef.parse(str(changed)), new_version=True, keys_dir=keys_dir)
    assert (same.key_version, same.new_version) == (2, False)  # unchanged text: no version 3


@pytest.mark.parametrize("ref, error, message", [
    (KeyRef("no-such-key"), KeyNotFound, "no such answer key 'no-such-key'"),
    (KeyRef(path=Path("missing.yaml")), KeyNotFound, "no such answer key file"),
])
def test_unknown_keys_are_named(engine, keys_dir, ref, error, message):
    with pytest.raises(error, match=message):
        prepare(engine, ref, keys_dir=keys_dir)


def test_a_key_file_under_another_id_is_refused(engine, keys_dir):
    shutil.copy(keys_dir / f"{KEY_ID}.yaml", keys_dir / "other.yaml")
    with pytest.raises(AnswerKeyInvalid, match="its id is not 'other'"):
        prepare(engine, KeyRef("other"), keys_dir=keys_dir)


@pytest.mark.parametrize("text, ref", [
    (KEY_ID, KeyRef(KEY_ID)),
    ("keys/quiz.yaml", KeyRef(path=Path("keys/quiz.yaml"))),
    ("quiz.yml", KeyRef(path=Path("quiz.yml"))),
])
def test_key_ref_of_the_command_line(text, ref):
    assert KeyRef.parse(text) == ref


def test_failed_photos_are_recorded_kept_and_retried(engine, keys_dir, tmp_path):
    context = prepare(engine, KeyRef(KEY_ID), keys_dir=keys_dir)
    files = FileStore(tmp_path / "files")
    reader = load_reader()
    photos = [Photo("notes.txt", b"not a photo"), tmp_path / "missing.jpg"]
    broken, missing = grade_photos(engine, context, photos, reader,
                                   GradeOptions(keep_photo=True), files)
    assert "notes.txt" in broken.error and broken.as_json() == {"photo": "notes.txt",
                                                               "error": broken.error}
    assert "cannot read the file" in missing.error and missing.photo_sha256 is None
    assert files.photo(broken.photo_sha256) == b"not a photo"
    with db.read_session(engine) as session:
        [failed] = store.failed_photos(session, KEY_ID)  # an unreadable path is not recorded
    assert (failed.photo_name, failed.error) == ("notes.txt", broken.error)
    [again] = retry_failed(engine, context, files, reader)
    assert again.error == broken.error


def test_the_vocabulary_is_the_stored_strings():
    assert [k.value for k in Kind] == list(charset.KINDS)
    assert [m.value for m in Mode] == ["auto", "exact", "fuzzy", "numeric", "choice"]
    assert [v.value for v in Verdict] == ["correct", "partial", "incorrect", "review", "blank"]
    assert [s.value for s in Status] == ["auto", "review", "blank", "teacher"]
    scored = ScoredAnswer("q1", "", 0.0, Verdict.BLANK, Status.BLANK, 0.0, 1.0, None)
    assert (scored.verdict, f"{scored.status}") == ("blank", "blank")


def test_settings_come_from_the_environment():
    settings = Settings.from_env({"GRADER_DATABASE_URL": "sqlite:///x.db", "GRADER_DEMO": "0",
                                  "GRADER_API_TOKEN": "", "GRADER_MODELS_DIR": "/m"})
    assert (settings.database_url, settings.demo, settings.api_token, str(settings.models_dir)) \
        == ("sqlite:///x.db", False, None, "/m")
    assert Settings.from_env({}).demo is True and Settings.from_env({}).models_dir is None
    assert Settings.from_env({"GRADER_CACHE_DIR": "/c"}).cache_dir == Path("/c")
    with pytest.raises(GraderError, match="GRADER_API_MAX_BODY_MB must be a number"):
        Settings.from_env({"GRADER_API_MAX_BODY_MB": "lots"}).api_max_body_bytes()


def test_grade_command_says_when_a_differing_key_file_was_not_used(keys_dir, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    original = keys_dir / f"{KEY_ID}.yaml"
    assert main(["grade", "--key", str(original), "--db", url, "--no-progress", str(notes)]) == 2
    changed = tmp_path / "changed.yaml"
    changed.write_text(edited(keys_dir, "Changed"), encoding="utf-8")
    assert main(["grade", "--key", str(changed), "--db", url, "--no-progress", str(notes)]) == 2
    assert "pass --new-version" in capsys.readouterr().err
    assert main(["grade", "--key", str(changed), "--new-version", "--db", url, "--no-progress",
                 str(notes)]) == 2
    assert "stored as version 2" in capsys.readouterr().err
