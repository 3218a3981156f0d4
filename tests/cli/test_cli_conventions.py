"""CLI conventions (issue 16): --version, one meaning per short flag, help wrapped at words."""

from __future__ import annotations

import typer.main
from typer.testing import CliRunner

from evsiting import __version__
from evsiting.cli import app, tidy_help


def _commands(cmd, path: str = "evsiting"):
    yield path, cmd
    if hasattr(cmd, "commands"):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, f"{path} {name}")


def test_version_prints_package_version():
    for flag in ("--version", "-V"):
        r = CliRunner().invoke(app, [flag])
        assert r.exit_code == 0 and r.output.strip() == f"evsiting {__version__}"


def test_each_short_flag_has_one_meaning():
    meaning: dict[str, set[str]] = {}
    for path, cmd in _commands(typer.main.get_command(app)):
        for p in cmd.params:
            longs = sorted(o for o in p.opts if o.startswith("--"))
            for short in (o for o in p.opts if len(o) == 2 and o.startswith("-")):
                meaning.setdefault(short, set()).add(longs[0])
    assert meaning["-p"] == {"--prefecture"}
    assert all(len(v) == 1 for v in meaning.values()), meaning


def test_station_counts_have_a_long_name_and_keep_the_old_one():
    root = typer.main.get_command(app)
    for name in ("sweep", "corridors"):
        opts = {o for p in root.commands[name].params for o in p.opts}
        assert {"--stations", "--p", "-p", "--prefecture"} <= opts or name == "corridors" and {"--stations", "--p"} <= opts


def test_help_paragraphs_have_no_hard_line_breaks():
    for path, cmd in _commands(typer.main.get_command(app)):
        for text in [cmd.help or ""] + [getattr(p, "help", None) or "" for p in cmd.params]:
            for para in text.split("\n\n"):
                assert "\n" not in para, (path, para)


def test_help_wraps_at_words_on_a_narrow_terminal():
    r = CliRunner().invoke(app, ["demand", "project", "--help"], env={"COLUMNS": "60"}, terminal_width=60)
    assert r.exit_code == 0
    lines = [ln.strip() for ln in r.output.splitlines()]
    # the sentence continues on the next line instead of a line holding a lone word
    assert not any(ln in ("base", "year", "year),") for ln in lines), r.output
    assert "nev_sales (vehicles/year;" in " ".join(lines)


def test_tidy_help_joins_lines_keeps_paragraphs():
    assert tidy_help("One\n    two.\n\n    Three ``x``\n    four.") == "One two.\n\nThree 'x' four."
    assert tidy_help(None) is None


def test_an_inherited_output_dir_stays_relative_to_the_file_that_set_it(tmp_path):
    """A config elsewhere extending a prefecture config writes where the prefecture config
    says (<repo>/outputs), not relative to the extending file (a fresh user's run landed outside
    the repository)."""
    from evsiting.config.schema import load_config
    from evsiting.core.settings import configs_dir

    mine = tmp_path / "deep" / "my.yaml"
    mine.parent.mkdir()
    mine.write_text(f"extends: {configs_dir() / 'prefectures' / 'anshun.yaml'}\nname: mine\n", encoding="utf-8")
    cfg = load_config(mine)
    base = load_config(configs_dir() / "prefectures" / "anshun.yaml")
    assert cfg.path(cfg.output_dir).resolve() == base.path(base.output_dir).resolve()
    mine.write_text(f"extends: {configs_dir() / 'prefectures' / 'anshun.yaml'}\nname: mine\noutput_dir: here\n", encoding="utf-8")
    assert load_config(mine).path("here").resolve() == (mine.parent / "here").resolve()
