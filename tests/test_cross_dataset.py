"""The cross-dataset experiment (`nbs/experiments/cross_dataset.ipynb`) run headless through the runner: train on one
dataset, score the saved model on its own test patients and on another dataset through `harmonised.yaml`.

The synthetic default (NIH layout -> CheXpert layout) always runs; the real run (the 241 real NIH PNGs laid out as an
NIH root, as in test_real_experiment.py, -> the real CheXpert validation set) skips when ../shared/data or
torchxrayvision is absent."""
import json
import pandas as pd
import papermill
from cxr_fast.catalog import read_yaml
from cxr_fast.config import catalog_dir
from cxr_fast.runner import experiment_path, run_one
from test_real_experiment import nih_root

COLS = [f'{d}_{k}' for d in ('in', 'cross') for k in ('auc', 'lo', 'hi', 'n_pos', 'n_neg', 'n_uncertain')]


def shared_labels(a, b):
    "The harmonised labels both datasets have, in harmonised.yaml's order"
    return [l for l, m in read_yaml(catalog_dir()/'harmonised.yaml')['labels'].items() if a in m and b in m]


def image_outputs(nb_path) -> int:
    "How many images the executed notebook holds in its outputs"
    nb = json.loads(nb_path.read_text())
    return sum('image/png' in o.get('data', {}) for c in nb['cells'] for o in c.get('outputs', []))


def check_results(run, source, target):
    "results.csv has every shared label with in-domain and cross-domain AUC and intervals; returns it and summary.json"
    res, summary = pd.read_csv(run/'results.csv'), json.loads((run/'summary.json').read_text())
    assert res.label.tolist() == shared_labels(source, target)
    assert set(COLS + ['drop']) <= set(res.columns)
    for d in ('in', 'cross'):
        ok = res[f'{d}_auc'].notna()
        assert (res[f'{d}_lo'][ok] <= res[f'{d}_auc'][ok] + 1e-9).all() and (res[f'{d}_auc'][ok] <= res[f'{d}_hi'][ok] + 1e-9).all()
        assert res[f'{d}_auc'][ok].between(0, 1).all()
        assert (ok == ((res[f'{d}_n_pos'] > 0) & (res[f'{d}_n_neg'] > 0))).all()     # defined exactly where both classes exist
    assert ((res['drop'] - (res.in_auc - res.cross_auc)).abs().fillna(0) < 1e-9).all()
    assert summary['source'] == source and summary['target'] == target and summary['eval_rule'] == 'exclude'
    assert (run/'cross_dataset.png').stat().st_size > 5_000
    return res, summary


def test_parameters_are_read():
    "papermill reads every parameter (a comment holding '=' or quotes would drop one)"
    nb = json.loads(experiment_path('cross_dataset').read_text())
    cell = next(c for c in nb['cells'] if 'parameters' in c.get('metadata', {}).get('tags', []))
    names = [l.split('=')[0].strip() for l in ''.join(cell['source']).splitlines() if l.strip() and not l.startswith('#')]
    assert list(papermill.inspect_notebook(str(experiment_path('cross_dataset')))) == names
    assert {'source', 'target', 'source_root', 'target_root'} <= set(names)


def test_synthetic_default(tmp_path):
    "The default: synthetic NIH -> synthetic CheXpert; every shared label scored on both sides, CheXpert's -1 left out"
    row = run_one(experiment_path('cross_dataset'), tmp_path/'run', {})
    assert row['status'] == 'ok', row.get('error')
    res, summary = check_results(tmp_path/'run', 'nih', 'chexpert')
    assert res.in_auc.notna().all() and res.cross_auc.notna().all()
    assert summary['synthetic_source'] and summary['synthetic_target'] and summary['n_labels_compared'] == len(res)
    assert (res.in_n_uncertain == 0).all()                        # NIH has no uncertain labels ...
    assert (res.set_index('label').cross_n_uncertain.drop('No Finding') > 0).all()   # ... synthetic CheXpert's training part has
    assert summary['mean_in_auc'] > 0.6                          # the notebook's own learning check, read back


def test_real_nih_to_chexpert_valid(tmp_path, shared, xrv):
    "Real NIH (241 PNGs) -> the real CheXpert validation set, frontal views; 64 px, 1 epoch: the pipeline, not the numbers"
    root, n = nih_root(tmp_path/'nih', shared, xrv)
    params = dict(source_root=str(root), target_root=str(shared/'chexpert'), size=64, epochs=1, bs=16, n_boot=200)
    row = run_one(experiment_path('cross_dataset'), tmp_path/'run', params)
    assert row['status'] == 'ok', row.get('error')
    res, summary = check_results(tmp_path/'run', 'nih', 'chexpert')
    valid = pd.read_csv(shared/'chexpert/CheXpert-v1.0-small/valid.csv')
    frontal = valid[valid['Frontal/Lateral'] == 'Frontal']
    assert summary['n_target'] == len(frontal) == 202 and not summary['synthetic_target']
    voc = read_yaml(catalog_dir()/'harmonised.yaml')['labels']
    expected = {l: int((frontal[voc[l]['chexpert']] == 1).any(axis=1).sum()) for l in res.label}   # straight from valid.csv
    assert res.set_index('label').cross_n_pos.to_dict() == expected
    assert (res.cross_n_uncertain == 0).all()                     # radiologists' labels: no -1 in the validation set
    assert res.cross_auc.notna().all()                            # every shared label has positives among the frontal views
    assert image_outputs(tmp_path/'run'/'cross_dataset.ipynb') == 1   # the AUC figure only: no CheXpert image in the outputs
