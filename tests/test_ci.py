"""CI runs the README's test command verbatim, so a missing install step fails in CI first; the command lints the
package before testing it; and nbdev's README step never overwrites the hand-written README.md."""
import os, re, shutil, subprocess, sys, tomllib
from pathlib import Path
from conftest import ROOT


def _block(name):
    m = re.search(rf'<!-- {name} -->\s*```\s*\n(.*?)\n```\s*<!-- /{name} -->', (ROOT/'README.md').read_text(), re.S)
    assert m, f'README.md has no {name} block'
    return m.group(1).strip()


def test_readme_has_two_commands_that_make_their_venv():
    for name in ('demo-command', 'test-command'):
        cmd = _block(name)
        assert 'python3 -m venv .venv' in cmd and "pip install -q -e '.[dev]'" in cmd


def test_ci_runs_the_readme_test_command():
    ci = (ROOT/'.ci/run').read_text()
    assert '<!-- test-command -->' in ci and 'bash -c "$cmd"' in ci
    assert 'nbdev-test' in _block('test-command') and 'pytest' in _block('test-command')


def test_test_command_lints_first():
    "pyflakes over the package (any finding fails) runs before the notebook tests and pytest"
    cmd = _block('test-command')
    assert 'pyflakes cxr_fast' in cmd
    assert cmd.index('pyflakes') < cmd.index('nbdev-test') < cmd.index('pytest')


def _ci_command(folder:Path) -> str:
    "What .ci/run extracts from `folder`/README.md, by running its own extraction line"
    line = next(l for l in (ROOT/'.ci/run').read_text().splitlines() if l.startswith('cmd=$('))
    return subprocess.run(['bash', '-c', f'{line}\nprintf %s "$cmd"'], cwd=folder, capture_output=True, text=True, check=True).stdout


def test_nbdev_readme_step_leaves_readme_alone(tmp_path):
    "README generation is off: nbdev-readme and nbdev-prepare's README step (a stale README) never render or write it"
    readme_nb = tomllib.loads((ROOT/'pyproject.toml').read_text())['tool']['nbdev']['readme_nb']
    assert not (ROOT/'nbs'/readme_nb).exists(), f"{readme_nb} exists: nbdev would overwrite README.md from it"
    proj = tmp_path/'proj'
    for p in ('pyproject.toml', 'README.md', 'cxr_fast/__init__.py', 'nbs/index.ipynb'):
        (proj/p).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(ROOT/p, proj/p)
    os.utime(proj/'README.md', (1, 1))                                   # older than every notebook: "out of date"
    (tmp_path/'bin').mkdir(); quarto = tmp_path/'bin'/'quarto'               # a quarto that only records being called
    quarto.write_text(f'#!/bin/sh\ntouch {tmp_path}/quarto-called\nexit 1\n'); quarto.chmod(0o755)
    env = {**os.environ, 'PATH': f"{tmp_path/'bin'}{os.pathsep}{os.environ['PATH']}"}
    runs = [[str(Path(sys.executable).parent/'nbdev-readme')],
            [sys.executable, '-c', 'from nbdev.quarto import nbdev_readme; nbdev_readme.__wrapped__(chk_time=True)']]
    for cmd in runs:
        r = subprocess.run(cmd, cwd=proj, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    assert not (tmp_path/'quarto-called').exists()
    assert (proj/'README.md').read_bytes() == (ROOT/'README.md').read_bytes()
    assert _ci_command(proj) == _ci_command(ROOT) == _block('test-command')
