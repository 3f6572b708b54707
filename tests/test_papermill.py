"""Papermill runs: the demo experiment runs headless through `cxr-fast demo` with overridden parameters and writes
its results table and figure; the `parameters` tag survives `nbdev-clean`."""
import json
import nbformat
import pandas as pd
import pytest
from conftest import cli, ROOT
from cxr_fast.runner import experiment_path


def test_parameters_tag_survives_clean():
    nb = json.loads((ROOT/'nbs/experiments/demo.ipynb').read_text())
    tagged = [c for c in nb['cells'] if 'parameters' in c.get('metadata', {}).get('tags', [])]
    assert len(tagged) == 1 and 'epochs' in ''.join(tagged[0]['source'])


def test_demo_runs_headless(tmp_path):
    out = tmp_path/'demo'
    r = cli('demo', '--out', out, '--n', 400, '--epochs', 3)
    assert (out/'demo.ipynb').exists() and (out/'demo.png').stat().st_size > 10_000
    res = pd.read_csv(out/'results.csv')
    assert list(res.columns) == ['label', 'positives', 'auc'] and len(res) == 14
    executed = json.loads((out/'demo.ipynb').read_text())
    injected = [c for c in executed['cells'] if 'injected-parameters' in c.get('metadata', {}).get('tags', [])]
    assert injected and 'epochs = 3' in ''.join(injected[0]['source'])


def test_run_grid_records_failure_and_goes_on(tmp_path):
    (tmp_path/'grid.csv').write_text('seed,arch\n0,resnet10t\n1,resnet10t\n2,no_such_arch\n')
    r = cli('run', 'demo', '--grid', tmp_path/'grid.csv', '-p', 'n', 120, '-p', 'epochs', 2, '-p', 'size', 48, '--out', tmp_path/'runs', check=False)
    assert r.returncode == 1, r.stdout + r.stderr                    # one run failed ...
    t = pd.read_csv(tmp_path/'runs/runs.csv')
    assert t.status.tolist() == ['ok', 'ok', 'failed']               # ... and the grid went on
    assert t.mean_auc[:2].notna().all() and 'no_such_arch' in t.error[2]
    assert (tmp_path/'runs'/t.run[2]/'demo.ipynb').exists() and (tmp_path/'runs'/t.run[2]/'error.txt').exists()
    assert (tmp_path/'runs/runs.png').exists()


def _files_under(d):
    return {p for p in d.rglob('*') if '__pycache__' not in p.parts}


def test_relative_out_is_the_working_directory(tmp_path):
    "`--out rel/one` means rel/one of the caller's working directory (it used to land in nbs/experiments/rel/one)"
    before = _files_under(ROOT/'nbs/experiments')
    work = tmp_path/'work'; work.mkdir()
    r = cli('run', 'demo', '-p', 'epochs', 2, '-p', 'n', 120, '-p', 'size', 48, '--out', 'rel/one', cwd=work, check=False)
    runs = list((work/'rel/one').glob('000_*'))
    assert len(runs) == 1 and (runs[0]/'results.csv').exists() and (runs[0]/'demo.ipynb').exists(), r.stdout + r.stderr
    t = pd.read_csv(work/'rel/one/runs.csv')
    assert t.mean_auc.notna().all()                                        # the table found the run's results
    assert t.status.tolist() == ['ok'], t.error.tolist()                 # (the demo's own learning check passed)
    assert _files_under(ROOT/'nbs/experiments') == before                  # nothing written beside the notebooks


def test_run_without_results_is_not_ok(tmp_path):
    "A notebook that runs but writes neither results.csv nor summary.json is listed as `no results` and exits 1"
    meta = dict(kernelspec=dict(name='python3', display_name='Python 3', language='python'), language_info=dict(name='python'))
    par = nbformat.v4.new_code_cell('out_dir = None'); par.metadata['tags'] = ['parameters']
    nbformat.write(nbformat.v4.new_notebook(cells=[par, nbformat.v4.new_code_cell('x = 1')], metadata=meta), tmp_path/'quiet.ipynb')
    r = cli('run', tmp_path/'quiet.ipynb', '--out', tmp_path/'runs', check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    t = pd.read_csv(tmp_path/'runs/runs.csv')
    assert t.status.tolist() == ['no results'] and 'results.csv' in t.error[0]


@pytest.mark.parametrize('name', ['demo', 'pham2020_chexpert', 'baltruschat2019_nih', 'fisher2025_nih', 'liz2022_padchest'])
def test_papermill_reads_every_parameter(name):
    "papermill drops a parameter whose comment it cannot parse (e.g. one holding '='): -p NAME and full_settings would then miss it"
    import json, papermill
    nb = json.loads(experiment_path(name).read_text())
    cell = next(c for c in nb['cells'] if 'parameters' in c.get('metadata', {}).get('tags', []))
    names = [l.split('=')[0].strip() for l in ''.join(cell['source']).splitlines() if l.strip() and not l.startswith('#')]
    assert list(papermill.inspect_notebook(str(experiment_path(name)))) == names
