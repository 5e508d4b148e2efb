"""Answer keys: one YAML file per assignment drives the worksheet, the crops and the scoring.

`load_answer_key(path)` / `parse_answer_key(text, source)` validate with pydantic and raise
AnswerKeyInvalid with a message a teacher can act on: the file, the YAML line, the question id,
the field and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from grader.errors import AnswerKeyInvalid
from grader.limits import KEY, KeyBudget
from grader.normalize import NormalizeOptions
from grader.paths import ANSWER_KEYS_DIR
from grader.vocab import Kind, Mode

PAPERS: tuple[str, ...] = ("A4", "Letter")


class Match(BaseModel):
    """Scoring rules of one question (grader.scoring interprets them); the defaults here are the
    only ones: a key without a `match` block, or with some fields left out, gets them.

    The forms a right answer may take, and their defaults (README "How answers are judged"):

    - `equivalent_forms` (number, math; number: true, math: numbers only): number: 0.5 = 1/2 =
      .50 = 50 %; math, when true: expressions equal once multiplied out (4(x+2) = 4x+8,
      x+1 = 1+x); math by default compares numbers by value and expressions as written; false:
      as written (1/2 is not 0.5).
    - `stacked_fractions` (number, math; true): a fraction written stacked (3 over 4) is `3/4`;
      false sends it to review.
    - `times_signs` (number, math; true): `×`, `*`, `·` (and `x` between the digits of a number)
      are one sign.
    - `leading_plus` (number, math; true): `+5` is `5`.
    - `trailing_zeros` (number, math; true): `3.0` is `3`, `2.50` is `2.5`.
    - `units` (every kind; none): the listed units may follow the answer (`[cm, 厘米]`: `3 cm`,
      `3厘米`, `3`).
    - `chinese_numerals` (number, math, chinese; false): a number written in Chinese numerals is
      that number (三百五十 = 350, 三百五 = 350); a key answer `350` is asked of the model as
      三百五十 too; a key answer in numerals accepts the other numerals of its value, not digits.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Mode = Mode.AUTO
    threshold: float = Field(85.0, ge=0, le=100)  # rapidfuzz similarity, 0-100
    tolerance: float = Field(0.0, ge=0)  # absolute numeric tolerance
    equivalent_forms: bool | None = None  # None: the kind's default (table above)
    stacked_fractions: bool = True
    times_signs: bool = True
    leading_plus: bool = True
    trailing_zeros: bool = True
    units: tuple[str, ...] = Field(default=(), max_length=20)
    chinese_numerals: bool = False
    case_sensitive: bool = False
    ignore_spaces: bool = True
    normalize_width: bool = True  # full-width -> half-width (Ｘ -> X)
    partial_credit: Literal["none", "fuzzy_band", "per_token"] = "none"

    @field_validator("units", mode="before")
    @classmethod
    def _units_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            if any(not isinstance(u, str) or not u.strip() or len(u) > 20 for u in value):
                raise ValueError("expected a list of units such as [cm, 厘米] (non-empty text, "
                                 "at most 20 characters each)")
            return tuple(u.strip() for u in value)
        return value

    @classmethod
    def of(cls, match: Any) -> "Match":
        """The rules of a `match` given as a Match, a mapping (fields left out or None take the
        defaults) or None (all defaults)."""
        if isinstance(match, Match):
            return match
        if match is None:
            return cls.model_validate({})
        if not isinstance(match, Mapping):
            match = {name: getattr(match, name, None) for name in cls.model_fields}
        return cls.model_validate({k: v for k, v in match.items() if v is not None})

    def options(self) -> NormalizeOptions:
        """How readings and answers are normalised before they are compared."""
        return NormalizeOptions(self.case_sensitive, self.ignore_spaces, self.normalize_width,
                                self.times_signs, self.leading_plus)

    def numbers_by_value(self, kind: str) -> bool:
        """Whether numbers compare by value alone (0.5 = 1/2): the key's `equivalent_forms`, else
        true for number and math questions."""
        return self.equivalent_forms if self.equivalent_forms is not None else True

    def expressions_by_value(self, kind: str) -> bool:
        """Whether math expressions compare once multiplied out (4(x+2) = 4x+8): only when the
        key says `equivalent_forms: true`."""
        return kind == Kind.MATH and self.equivalent_forms is True


def _as_text(value: Any) -> Any:
    """YAML reads `answers: [4, 0.75]` as numbers; the key stores text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return value


MAX_COMB_CELLS = 40
COMB_KINDS = (Kind.NUMBER, Kind.TEXT, Kind.CHINESE)  # one character per cell; not math (fractions stack)
MIN_COMB_CELL = 0.02  # of the page width: about 4 mm, the narrowest cell a child writes a digit in


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    label: str = ""  # printed next to the box; defaults to the id
    page: int = Field(ge=1)
    box: tuple[float, float, float, float]  # x, y, w, h as fractions of the page, origin top-left
    kind: Kind
    answers: list[str] = Field(min_length=1)  # the first is the canonical answer
    points: float = Field(1.0, gt=0)
    prompt: str = ""
    match: Match = Field(default_factory=lambda: Match.of(None))
    # Height (fraction of the page) of a framed space for working printed under the box, as wide
    # as the box; 0: none. Never read by the grader: only the box is cropped.
    working: float = Field(default=0.0, ge=0.0, le=0.6)
    # Comb box: the box printed as this many cells, one character per cell (0: an open box). Each
    # cell is cleaned on its own, so its walls never reach the recogniser; empty cells are skipped.
    comb: int = Field(default=0, ge=0, le=MAX_COMB_CELLS)

    @field_validator("id", "label", "prompt", mode="before")
    @classmethod
    def _text_field(cls, value: Any) -> Any:
        return _as_text(value)

    @field_validator("answers", mode="before")
    @classmethod
    def _answers_text(cls, value: Any) -> Any:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, list):
            return [_as_text(v) for v in value]
        return value

    @field_validator("answers")
    @classmethod
    def _answers_not_blank(cls, value: list[str]) -> list[str]:
        if any(not a.strip() for a in value):
            raise ValueError("every accepted answer must be non-empty text")
        return value

    @field_validator("box")
    @classmethod
    def _box_inside_page(cls, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        x, y, w, h = box
        if w <= 0 or h <= 0:
            raise ValueError(f"width and height must be positive, got w={w}, h={h}")
        if x < 0 or y < 0 or x + w > 1 + 1e-9 or y + h > 1 + 1e-9:
            raise ValueError(
                f"the box must lie inside the page (0 <= x, y and x + w, y + h <= 1), got {list(box)}"
            )
        return box

    def model_post_init(self, __context: Any) -> None:
        if not self.label:
            self.label = self.id

    @property
    def working_box(self) -> tuple[float, float, float, float] | None:
        """Where the working space is printed (x, y, w, h as fractions), None without one."""
        if not self.working:
            return None
        x, y, w, h = self.box
        return x, y + h + WORKING_GAP, w, self.working

    @property
    def cells(self) -> list[tuple[float, float, float, float]]:
        """A comb box's cells left to right (x, y, w, h as fractions); [] for an open box."""
        if self.comb < 2:
            return []
        x, y, w, h = self.box
        step = w / self.comb
        return [(x + i * step, y, step, h) for i in range(self.comb)]


WORKING_GAP = 0.012  # between a box and its working space: more than the crop's margin (18 px)


class Layout(BaseModel):
    """What a printed worksheet carries besides the questions (the `layout` of a key)."""

    model_config = ConfigDict(extra="forbid")

    class_line: bool = False  # "Class ______" on the line under the name box
    date_line: bool = False  # "Date ______" beside it
    instructions: str = Field(default="", max_length=160)  # one line across the page under the header

    @field_validator("instructions", mode="before")
    @classmethod
    def _text_field(cls, value: Any) -> Any:
        return _as_text(value)


class AnswerKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str = Field(min_length=1)
    paper: Literal["A4", "Letter"] = "A4"
    pages: int = Field(1, ge=1, le=50)
    questions: list[Question] = Field(min_length=1)
    # Teachers' own sheets: blank template images (one per page), relative to the key file.
    templates: list[str] = Field(default_factory=list)
    layout: Layout = Field(default_factory=lambda: Layout())

    _source: str = PrivateAttr(default="<answer key>")
    _folder: Path | None = PrivateAttr(default=None)

    @field_validator("id", "title", mode="before")
    @classmethod
    def _text_field(cls, value: Any) -> Any:
        return _as_text(value)

    def questions_on_page(self, page: int) -> list[Question]:
        return [q for q in self.questions if q.page == page]

    def question(self, question_id: str) -> Question:
        for q in self.questions:
            if q.id == question_id:
                return q
        raise KeyError(question_id)

    @property
    def source(self) -> str:
        """Where the key was read from (a path or a name), for messages."""
        return self._source

    def template_path(self, page: int) -> Path | None:
        """The blank template image of `page` for a teacher's own sheet, if the key names one."""
        if not self.templates or page > len(self.templates):
            return None
        path = Path(self.templates[page - 1])
        if not path.is_absolute() and self._folder is not None:
            path = self._folder / path
        return path


# --- YAML within a budget ----------------------------------------------------------------------


# libyaml's parser when it is built in (4x faster on a big key); the pure-Python one otherwise.
_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _check_structure(text: str, source: str, budget: KeyBudget) -> None:
    """Count aliases and nesting over the parser's events, before anything is composed, so a
    "billion laughs" key (a few hundred bytes whose aliases expand to millions of values) or a
    key nested 10,000 deep is refused at once. Aliases stay allowed within the budget (a shared
    `match:` block is a fair use)."""
    depth = aliases = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > budget.max_depth:
                raise AnswerKeyInvalid(f"{_at(source, event)}: the key nests more "
                                       f"than {budget.max_depth} levels deep; an answer key needs at most 5")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > budget.max_aliases:
                raise AnswerKeyInvalid(f"{_at(source, event)}: the key uses more than "
                                       f"{budget.max_aliases} YAML aliases (*name); write the questions out")


def _at(source: str, event: yaml.Event) -> str:
    mark = event.start_mark
    return f"{source}, line {mark.line + 1}" if mark is not None else source


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Nodes of the document with every alias expanded, counted over the shared graph (each
    node once, memoised); stops counting past `limit`."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        total = 1
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        for child in children:
            total = min(total + size(child), limit + 1)
        sizes[id(node)] = total
        return total

    return size(root)


def _load_yaml(text: str, source: str, budget: KeyBudget) -> tuple[Any, yaml.Node | None]:
    """(Python data, composed root node) of YAML text within `budget`."""
    _check_structure(text, source, budget)
    loader = _LOADER(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        if _expanded_size(root, budget.max_nodes) > budget.max_nodes:
            raise AnswerKeyInvalid(
                f"{source}: the key's YAML aliases expand to more than {budget.max_nodes:,} "
                "values (an alias bomb?); write the questions out")
        return loader.construct_document(root), root
    finally:
        loader.dispose()


# --- YAML line numbers -------------------------------------------------------------------------


def _line_map(root: yaml.Node | None) -> dict[tuple, int]:
    """Map a location tuple like ('questions', 3, 'box') to its 1-based YAML line."""
    lines: dict[tuple, int] = {}

    def walk(node: yaml.Node, loc: tuple) -> None:
        lines[loc] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value
                lines[loc + (key,)] = key_node.start_mark.line + 1
                walk(value_node, loc + (key,))
                lines[loc + (key,)] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, loc + (index,))

    if root is not None:
        walk(root, ())
    return lines


def _line_of(lines: dict[tuple, int], loc: tuple) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _where(source: str, lines: dict[tuple, int], loc: tuple, data: Any) -> str:
    """`file, line N, question 'q3', field 'box'` for a location in the YAML document."""
    parts = [source]
    line = _line_of(lines, loc)
    if line is not None:
        parts.append(f"line {line}")
    if len(loc) >= 2 and loc[0] == "questions" and isinstance(loc[1], int):
        qid = None
        if isinstance(data, dict) and isinstance(data.get("questions"), list):
            items = data["questions"]
            if loc[1] < len(items) and isinstance(items[loc[1]], dict):
                qid = items[loc[1]].get("id")
        parts.append(f"question {qid!r}" if qid is not None else f"question #{loc[1] + 1}")
        field = ".".join(str(p) for p in loc[2:])
    else:
        field = ".".join(str(p) for p in loc)
    if field:
        parts.append(f"field {field!r}")
    return ", ".join(parts)


def _expectation(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        if len(error["loc"]) >= 2 and error["loc"][-2] == "match":
            return ("is not a known match option (check the spelling); the options are "
                    + ", ".join(Match.model_fields))
        return "is not a known field (check the spelling)"
    if kind in ("literal_error", "enum"):
        expected = error.get("ctx", {}).get("expected", "")
        return f"expected one of {expected}, got {_shown(error.get('input'))}"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    return f"{message}, got {_shown(error.get('input'))}" if "got" not in message else message


def _shown(value: Any, limit: int = 80) -> str:
    """repr of a value for a message, cut short: a message names the value, it never quotes
    a whole document back."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + " ...]"


def _box_error(loc: tuple, data: Any) -> tuple[tuple, str] | None:
    """A box that is not four numbers gets one message about the whole box."""
    if len(loc) < 4 or loc[0] != "questions" or loc[2] != "box" or not isinstance(loc[3], int):
        if not (len(loc) == 3 and loc[0] == "questions" and loc[2] == "box"):
            return None
    try:
        value = data["questions"][loc[1]]["box"]
    except (KeyError, IndexError, TypeError):
        value = None
    if isinstance(value, list) and len(value) == 4 and all(isinstance(v, (int, float)) for v in value):
        return None  # four numbers: the range check's own message is the precise one
    return loc[:3], f"expected 4 numbers [x, y, w, h] as fractions of the page, got {_shown(value)}"


# --- cross-field checks ------------------------------------------------------------------------


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return min(ax + aw, bx + bw) - max(ax, bx) > 1e-9 and min(ay + ah, by + bh) - max(ay, by) > 1e-9


def _overlapping_pairs(rects: Sequence[tuple[int, tuple[float, ...]]]) -> list[tuple[int, int]]:
    """(i, j) with j < i for every two (page, box) rectangles that overlap on one page, in that
    order.

    A sweep from left to right per page compares a box only with the boxes still open at its
    left edge, so a 2,000-question key is checked in milliseconds instead of comparing all
    2 million pairs (issue 22: 4,900 questions took 13.7 s)."""
    pairs = []
    by_page: dict[int, list[int]] = {}
    for index, (page, _) in enumerate(rects):
        by_page.setdefault(page, []).append(index)
    for indices in by_page.values():
        open_boxes: list[int] = []
        for i in sorted(indices, key=lambda n: rects[n][1][0]):
            x = rects[i][1][0]
            open_boxes = [j for j in open_boxes if rects[j][1][0] + rects[j][1][2] - x > 1e-9]
            pairs += [(max(i, j), min(i, j)) for j in open_boxes if _overlap(rects[i][1], rects[j][1])]
            open_boxes.append(i)
    return sorted(pairs)


def _working_problems(questions: list[Question]) -> list[tuple[tuple, str]]:
    """Working spaces that leave the page or cover another question's box or working space
    (nothing to sweep when no question has one: a 4,900-question key stays within its budget)."""
    problems: list[tuple[tuple, str]] = []
    if not any(q.working for q in questions):
        return problems
    rects: list[tuple[int, tuple[float, ...]]] = [(q.page, q.box) for q in questions]
    owners = list(range(len(questions)))
    for index, q in enumerate(questions):
        area = q.working_box
        if area is None:
            continue
        if area[1] + area[3] > 1 + 1e-9:
            problems.append((("questions", index, "working"), f"expected a working space that ends on "
                             f"the page, but {q.working} under the box ends at {area[1] + area[3]:.3f} (> 1)"))
        rects.append((q.page, area))
        owners.append(index)
    for i, j in _overlapping_pairs(rects):
        if owners[i] == owners[j] or (i < len(questions) and j < len(questions)):
            continue  # a box and its own space; two boxes are checked apart
        mine, other = (i, j) if i >= len(questions) else (j, i)
        problems.append((("questions", owners[mine], "working"), f"expected a working space clear of "
                         f"other questions, but it covers question {questions[owners[other]].id!r}"))
    return problems


def _comb_problems(questions: list[Question]) -> list[tuple[tuple, str]]:
    """Comb boxes a child could not answer in: one cell, a kind written across cells (math),
    cells too narrow for a character, or fewer cells than the canonical answer has characters."""
    problems: list[tuple[tuple, str]] = []
    for index, q in enumerate(questions):
        if not q.comb:
            continue
        where = ("questions", index, "comb")
        if q.comb == 1:
            problems.append((where, "expected 0 (an open box) or at least 2 cells, got 1"))
            continue
        if q.kind not in COMB_KINDS:
            problems.append((where, f"expected no comb for kind {q.kind.value!r}: comb boxes hold one character "
                             f"per cell ({', '.join(k.value for k in COMB_KINDS)})"))
            continue
        if q.box[2] / q.comb < MIN_COMB_CELL:
            problems.append((where, f"expected cells at least {MIN_COMB_CELL} of the page wide, but a box "
                             f"{q.box[2]} wide in {q.comb} cells gives {q.box[2] / q.comb:.4f}"))
        need = len("".join(q.answers[0].split()))
        if need > q.comb:
            problems.append((where, f"expected at least one cell per character of the answer "
                             f"{q.answers[0]!r} ({need}), got {q.comb}"))
    return problems


def _check_consistency(key: AnswerKey) -> list[tuple[tuple, str]]:
    """Problems across questions: duplicate ids, pages out of range, overlapping boxes."""
    problems: list[tuple[tuple, str]] = []
    seen: dict[str, int] = {}
    for index, q in enumerate(key.questions):
        if q.id in seen:
            problems.append((("questions", index, "id"), f"duplicate id: question #{seen[q.id] + 1} "
                             f"already uses {q.id!r}; ids must be unique"))
        else:
            seen[q.id] = index
        if q.page > key.pages:
            problems.append((("questions", index, "page"), f"expected a page between 1 and {key.pages} "
                             f"(the key has pages: {key.pages}), got {q.page}"))
    for i, j in _overlapping_pairs([(q.page, q.box) for q in key.questions]):
        a, b = key.questions[i], key.questions[j]
        problems.append((("questions", i, "box"), f"expected boxes that do not overlap, but "
                         f"{list(a.box)} overlaps question {b.id!r} {list(b.box)} on page {a.page}"))
    problems += _working_problems(key.questions)
    problems += _comb_problems(key.questions)
    if key.templates and len(key.templates) != key.pages:
        problems.append((("templates",), f"expected one template image per page ({key.pages}), "
                         f"got {len(key.templates)}"))
    return problems


# --- public entry points -----------------------------------------------------------------------


def parse_answer_key(text: str, source: str = "<answer key>", budget: KeyBudget = KEY) -> AnswerKey:
    """Validate YAML text into an AnswerKey; AnswerKeyInvalid names what is wrong and where.
    A key over `budget` (grader.limits) is refused before it is expanded or validated."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > budget.max_bytes:
        raise AnswerKeyInvalid(f"{source}: the key is {size / 1e6:.1f} MB; the limit is "
                               f"{budget.max_bytes / 1e6:.1f} MB (an answer key is a few KB)")
    try:
        data, root = _load_yaml(text, source, budget)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}, line {mark.line + 1}" if mark is not None else source
        problem = getattr(error, "problem", None) or str(error)
        raise AnswerKeyInvalid(f"{where}: not valid YAML ({problem})") from None
    if not isinstance(data, dict):
        raise AnswerKeyInvalid(f"{source}: expected a YAML mapping with id, title, paper, pages and questions")
    questions = data.get("questions")
    if isinstance(questions, list) and len(questions) > budget.max_questions:
        raise AnswerKeyInvalid(f"{source}: the key has {len(questions):,} questions; the limit is "
                               f"{budget.max_questions:,} (split it into several assignments)")
    lines = _line_map(root)
    try:
        key = AnswerKey.model_validate(data)
    except ValidationError as error:
        messages = []
        for e in error.errors():
            loc, expectation = _box_error(tuple(e["loc"]), data) or (tuple(e["loc"]), _expectation(e))
            message = f"{_where(source, lines, loc, data)}: {expectation}"
            if message not in messages:
                messages.append(message)
        raise AnswerKeyInvalid(_join(messages)) from None
    problems = _check_consistency(key)
    if problems:
        raise AnswerKeyInvalid(_join([f"{_where(source, lines, loc, data)}: {msg}" for loc, msg in problems]))
    key._source = source
    return key


def _join(messages: list[str], limit: int = 8) -> str:
    shown = messages[:limit]
    if len(messages) > limit:
        shown.append(f"... and {len(messages) - limit} more problems")
    return "; ".join(shown) if len(shown) == 1 else "invalid answer key:\n  " + "\n  ".join(shown)


def load_answer_key(path: str | Path, budget: KeyBudget = KEY) -> AnswerKey:
    path = Path(path)
    try:
        if path.stat().st_size > budget.max_bytes:  # refused before it is read into memory
            raise AnswerKeyInvalid(f"{path}: the key is {path.stat().st_size / 1e6:.1f} MB; the "
                                   f"limit is {budget.max_bytes / 1e6:.1f} MB (an answer key is a few KB)")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AnswerKeyInvalid(f"{path}: answer key file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise AnswerKeyInvalid(f"{path}: cannot read the answer key ({error})") from None
    key = parse_answer_key(text, source=str(path))
    key._folder = path.parent
    return key


def list_answer_keys(folder: str | Path = ANSWER_KEYS_DIR) -> list[AnswerKey]:
    """Every valid key in `folder`, sorted by id. A broken file raises AnswerKeyInvalid."""
    folder = Path(folder)
    keys = [load_answer_key(p) for p in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))]
    return sorted(keys, key=lambda k: k.id)
