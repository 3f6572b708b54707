"""A small version of the full-scale dry run (`tests/benchmarks/bench_scale.py`, `cxr-fast bench scale`): the real NIH
and CheXpert metadata tables cut to a few per cent of their patients, a tiny image at every path, then the whole
pipeline (catalog, check --fast, cache, one epoch, test predictions, evaluation report, bundle). Checks that every
stage ran and left sane outputs; no timing is asserted (the benchmark prints times, BENCHMARKS.md records them)."""
import json
import numpy as np, pandas as pd, pytest
from pathlib import Path
from cxr_fast.cli import main
from cxr_fast.config import Settings, find_settings, shared_data

SHARED = shared_data(Settings(find_settings(Path(__file__).resolve().parents[1])))
pytestmark = pytest.mark.skipif(SHARED is None or not (SHARED/'meta/nih_test_list.txt').exists() or
                                not (SHARED/'chexpert/CheXpert-v1.0-small/valid.csv').exists(),
                                reason='needs the official NIH lists and CheXpert valid.csv of the shared data folder')
STAGES = ['catalog', 'check_fast', 'cache_build', 'dataloaders', 'train_1_epoch', 'predict_test', 'report', 'bundle']
LISTS = {}


def official(name):
    if name not in LISTS: LISTS[name] = set((SHARED/'meta'/name).read_text().split())
    return LISTS[name]


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp('scale')
    rc = main(['bench', 'scale', '--datasets', 'nih', 'chexpert', '--fracs', '0.005', '0.01', '--out', str(out), '--json', str(out/'all.json')])
    assert rc == 0
    return out, json.loads((out/'all.json').read_text())


def stages(r): return {s['stage']: s for s in r['stages']}


def test_every_stage_ran(runs):
    out, res = runs
    assert [(r['dataset'], r['frac']) for r in res] == [('nih', 0.005), ('nih', 0.01), ('chexpert', 0.005), ('chexpert', 0.01)]
    for r in res:
        st = stages(r)
        assert [s for s in st if s in STAGES] == STAGES
        assert all(st[s]['seconds'] > 0 and st[s]['peak_rss_mb'] > 50 for s in STAGES)
        assert r['child_peak_rss_mb'] == max(s['peak_rss_mb'] for s in r['stages'])
        assert r['tmp_removed'] and not Path(r['tmp']).exists()       # the images and the cache are gone
    n = {(r['dataset'], r['frac']): r['rows'] for r in res}
    assert n['nih', 0.005] < n['nih', 0.01] < 0.05*112_120 and n['chexpert', 0.005] < n['chexpert', 0.01] < 0.05*223_648 + 234


def test_row_counts_and_split(runs):
    "Catalog, check, cache and split all see every written row; NIH's test part is the official test list"
    out, res = runs
    for r in res:
        st, n = stages(r), r['rows']
        assert st['catalog']['result']['rows'] == n == st['setup (not timed in the table)']['result']['rows']
        assert st['check_fast']['result']['bad'] == 0
        assert (st['cache_build']['result']['ok'], st['cache_build']['result']['bad']) == (n, 0)
        parts = st['dataloaders']['result']
        assert sum(parts.values()) == n and min(parts.values()) > 0, parts
        assert st['predict_test']['result']['shape'] == [parts['test'], 14]


def test_outputs(runs, tmp_path):
    "Predictions of the test part, the report's files, a bundle that loads and predicts a new image"
    import cv2
    from cxr_fast.ensemble import load_predictions
    from cxr_fast.bundle import load_bundle
    out, res = runs
    for r in res:
        d = out/f"{r['dataset']}-{r['frac']:g}"
        p = load_predictions(d/'predictions.parquet')
        assert p.probs.shape == (stages(r)['predict_test']['result']['n'], 14) and np.isfinite(p.probs).all()
        assert ((p.probs >= 0) & (p.probs <= 1)).all()
        names = {i.split('/')[-1] for i in p.ids}
        if r['dataset'] == 'nih': assert names <= official('nih_test_list.txt') and not names & official('nih_train_val_list.txt')
        else: assert all('/valid/' in i for i in p.ids) and len(p) == 234       # CheXpert's test part: the whole official valid set
        s = json.loads((d/'report/summary.json').read_text())
        assert s['n_boot'] == 1000 and s['n_images'] == len(p) and 0 <= s['mean_auc'] <= 1
        assert {'report_table.csv', 'summary.json', 'calibration.csv', 'roc.png', 'reliability.png'} <= {f.name for f in (d/'report').iterdir()}
        assert len(pd.read_csv(d/'report/report_table.csv')) == 14
        b = load_bundle(d/'model')
        assert len(b.labels) == 14 and b.recipe['size'] == 16
        img = tmp_path/f"{r['dataset']}.png"; cv2.imwrite(str(img), np.full((32, 32), 100, np.uint8))
        probs = b.predict([img])
        assert len(probs) == 1 and probs[b.labels].to_numpy().shape == (1, 14)


def test_printed_table_gives_each_dataset_its_own_row_ratio(runs):
    "The printed table's 'rows ratio' is each dataset's own (it once showed the last dataset's ratio on every row)"
    import importlib.util
    spec = importlib.util.spec_from_file_location('bench_scale', Path(__file__).parent/'benchmarks/bench_scale.py')
    bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench)
    _, res = runs
    rows = {(r['dataset'], r['frac']): r['rows'] for r in res}
    t = bench.table(res)
    want = {d: round(rows[d, 0.01]/rows[d, 0.005], 1) for d in ('nih', 'chexpert')}
    assert want['nih'] != want['chexpert']          # CheXpert keeps its 234 valid images at every fraction
    for d, w in want.items(): assert (t.loc[d, 'rows ratio'] == w).all(), (d, t.loc[d, 'rows ratio'].tolist(), w)
    assert list(t.loc['nih'].index) == STAGES
