"CI runs the README's test command verbatim, so a missing install step fails in CI first."
import re
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
