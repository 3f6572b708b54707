"""The built wheel carries what the library needs at run time — every experiment notebook and every catalog YAML —
and an installed (non-editable) package finds them through importlib.resources, not through the repository."""
import os, shutil, subprocess, sys, zipfile
from pathlib import Path
import pytest
from conftest import ROOT

BUILD_INPUTS = ['pyproject.toml', 'setup.py', 'README.md', 'cxr_fast', 'data_catalog', 'nbs/experiments']
SKIP = shutil.ignore_patterns('__pycache__', '*.pyc', '.ipynb_checkpoints', 'runs', '_runs')


def _pip(*args, cwd=None):
    r = subprocess.run([sys.executable, '-m', 'pip', *map(str, args)], capture_output=True, text=True, cwd=cwd)
    assert r.returncode == 0, f"pip {args} failed:\n{r.stdout}\n{r.stderr}"


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    "A wheel built offline from a copy of the build inputs (so the checkout gets no build/ or egg-info)"
    tmp = tmp_path_factory.mktemp('wheel')
    for p in BUILD_INPUTS:
        (src := tmp/'src'/p).parent.mkdir(parents=True, exist_ok=True)
        if (ROOT/p).is_dir(): shutil.copytree(ROOT/p, src, ignore=SKIP)
        else: shutil.copy2(ROOT/p, src)
    _pip('wheel', '--no-deps', '--no-build-isolation', '--no-index', '-q', '-w', tmp/'dist', '.', cwd=tmp/'src')
    whl, = (tmp/'dist').glob('cxr_fast-*.whl')
    return whl


@pytest.fixture(scope='module')
def installed(wheel, tmp_path_factory):
    "The wheel installed into a throwaway folder: (site folder, empty working folder)"
    tmp = tmp_path_factory.mktemp('installed')
    _pip('install', '--no-deps', '--no-index', '-q', '--target', tmp/'site', wheel)
    (tmp/'work').mkdir()
    return tmp/'site', tmp/'work'


def test_wheel_holds_experiments_and_catalog(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    experiments = {f'cxr_fast/experiments/{p.name}' for p in (ROOT/'nbs/experiments').glob('*.ipynb')}
    catalog = {'cxr_fast/data_catalog/' + p.relative_to(ROOT/'data_catalog').as_posix() for p in (ROOT/'data_catalog').rglob('*.yaml')}
    assert 'cxr_fast/experiments/demo.ipynb' in experiments and 'cxr_fast/data_catalog/papers/fisher2025_nih.yaml' in catalog
    assert not experiments - names, f"experiment notebooks missing from the wheel: {sorted(experiments - names)}"
    assert not catalog - names, f"catalog files missing from the wheel: {sorted(catalog - names)}"


def _run_installed(installed, code):
    "Run `code` with the installed copy first on the path, in an empty folder with no settings.ini above it"
    site, work = installed
    env = {**os.environ, 'PYTHONPATH': str(site)}
    env.pop('CXR_FAST_SETTINGS', None)
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=work, env=env)


def test_installed_package_finds_its_files(installed):
    site, _ = installed
    code = ("import cxr_fast; from cxr_fast.config import catalog_dir, experiments_dir; from cxr_fast.runner import experiment_path\n"
            "print(cxr_fast.__file__); print(experiment_path('demo')); print(catalog_dir()/'papers'/'pham2020_chexpert.yaml')\n"
            "print(sorted(p.stem for p in experiments_dir().glob('*.ipynb')))")
    r = _run_installed(installed, code)
    assert r.returncode == 0, r.stderr
    pkg, demo, paper, names = r.stdout.strip().splitlines()
    site = site.resolve()
    assert Path(pkg).resolve().is_relative_to(site), pkg                  # the installed copy, not the checkout
    assert Path(demo).resolve() == site/'cxr_fast/experiments/demo.ipynb'
    assert Path(paper).resolve().is_relative_to(site) and Path(paper).exists()
    assert eval(names) == sorted(p.stem for p in (ROOT/'nbs/experiments').glob('*.ipynb'))


def test_installed_bench_says_it_needs_a_checkout(installed):
    r = _run_installed(installed, "from cxr_fast.cli import main; raise SystemExit(main(['bench', 'data']))")
    assert r.returncode == 2, r.stdout + r.stderr
    assert 'not part of the installed package' in r.stderr and 'Traceback' not in r.stderr
