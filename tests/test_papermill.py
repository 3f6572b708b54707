"""Papermill runs: the demo experiment runs headless through `cxr-fast demo` with overridden parameters and writes
its results table and figure; the `parameters` tag survives `nbdev-clean`."""
import json
import pandas as pd
from conftest import cli, ROOT


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
