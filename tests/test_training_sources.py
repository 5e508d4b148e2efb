"""The training CLIs name every missing source before they render: without a Debian font or a
fetched font the crops would be drawn from fewer hands than the recorded runs', silently."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.training import __main__ as training_cli
from grader.training import data


@pytest.fixture
def complete(tmp_path, monkeypatch):
    """A sources folder with everything, and Debian fonts and word list at paths of our own."""
    src = tmp_path / "sources"
    (src / "fonts" / "cjk").mkdir(parents=True)
    for name in data.FETCHED:
        (src / name).write_text("x")
    for name in data.LATIN_FONTSOURCE:
        (src / "fonts" / f"{name}.ttf").write_text("x")
    for name in data.CJK_FONTSOURCE + data.CHINESE_FONTS_NPM:
        (src / "fonts" / "cjk" / f"{name}.ttf").write_text("x")
    system = tmp_path / "usr"
    latin = (str(system / "kristi" / "Kristi.ttf"), str(system / "fifthhorseman" / "dkg.ttf"))
    cjk = (str(system / "arphic" / "ukai.ttc"), str(system / "seto" / "setofont.ttf"))
    for font in latin + cjk:
        Path(font).parent.mkdir(parents=True, exist_ok=True)
        Path(font).write_text("x")
    (system / "dict").mkdir()
    (system / "dict" / "american-english").write_text("cat\n")
    monkeypatch.setattr(data, "DEBIAN_LATIN_FONTS", latin)
    monkeypatch.setattr(data, "DEBIAN_CJK_FONTS", cjk)
    monkeypatch.setattr(data, "WORD_LIST", str(system / "dict" / "american-english"))
    return src, system


def test_nothing_is_missing_when_every_source_is_there(complete):
    src, _ = complete
    assert data.missing_sources(src) == []
    data.require_sources(src)


@pytest.mark.parametrize("remove, named, how, not_how", [
    ("sources/jieba_dict.txt", "jieba_dict.txt", "python -m grader.training fetch", "apt-get"),
    ("sources/fonts/caveat.ttf", "caveat.ttf", "python -m grader.training fetch", "apt-get"),
    ("sources/fonts/cjk/zhi-mang-xing.ttf", "zhi-mang-xing.ttf", "python -m grader.training fetch", "apt-get"),
    ("usr/kristi/Kristi.ttf", "Kristi.ttf", "apt-get install fonts-kristi`", "fetch`"),
    ("usr/arphic/ukai.ttc", "ukai.ttc", "apt-get install fonts-arphic-ukai`", "fetch`"),
    ("usr/dict/american-english", "american-english", "apt-get install wamerican`", "fetch`"),
])
def test_each_missing_source_is_named_with_the_way_to_get_it(complete, remove, named, how, not_how):
    src, _ = complete
    (src.parent / remove).unlink()
    assert [Path(p).name for p in data.missing_sources(src)] == [named]
    with pytest.raises(data.SourcesMissing) as error:
        data.require_sources(src)
    assert named in str(error.value) and how in str(error.value) and not_how not in str(error.value)
    assert "unbundle" in str(error.value)


def test_two_missing_debian_fonts_are_one_install_line(complete):
    src, system = complete
    (system / "seto" / "setofont.ttf").unlink()
    (system / "kristi" / "Kristi.ttf").unlink()
    with pytest.raises(data.SourcesMissing, match=r"`apt-get install fonts-kristi fonts-seto`"):
        data.require_sources(src)


def test_a_bundle_s_copy_stands_in_for_a_debian_font(complete):
    src, system = complete
    (system / "seto" / "setofont.ttf").unlink()
    assert data.missing_sources(src) == [str(system / "seto" / "setofont.ttf")]
    (src / "fonts" / "debian").mkdir()
    (src / "fonts" / "debian" / "setofont.ttf").write_text("x")
    assert data.missing_sources(src) == []


def test_render_refuses_before_rendering_without_the_sources(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRADER_CACHE_DIR", str(tmp_path / "cache"))
    assert training_cli.main(["render", "--scale", "0.001"]) == 1
    err = capsys.readouterr().err
    assert "training sources missing" in err and "mnist_trainval.npz" in err and "grader.training fetch" in err
    assert not (tmp_path / "cache" / "dataset").exists()
