"""Pham et al.'s experiment headless on the REAL CheXpert validation images (skipped when ../shared/data is absent).

The shared folder holds the complete CheXpert validation set (valid.csv + 234 JPEGs, 200 studies and patients, 202
frontal). With no train.csv, the run splits those rows patient-wise (`split_by='patients'`, 60 % of the patients to
train, 40 % to score), keeps the frontal images as the paper does, crops where its average-chest template matches
best, and writes the ours-vs-paper table: the whole pipeline meets real JPEGs and real radiologist labels."""
import json
import pandas as pd
from cxr_fast.runner import experiment_path, run_one


def test_pham_experiment_on_real_chexpert_valid(tmp_path, shared):
    root = shared/'chexpert'
    params = dict(root=str(root), split_by='patients', size=64, ens_archs=['timm:resnet10t'], rows=['U-Ones', 'U-Ones+CT'])
    row = run_one(experiment_path('pham2020_chexpert'), tmp_path/'run', params)
    assert row['status'] == 'ok', row.get('error')
    run = tmp_path/'run'
    s = json.loads((run/'summary.json').read_text())
    assert 70 <= s['n_valid'] <= 90                                   # 40 % of 200 patients' frontal images (one or two each)
    p = pd.read_parquet(run/'predictions'/'U-Ones.parquet')
    assert len(p) == s['n_valid'] and not p.id.str.contains('lateral').any()    # frontal only
    assert p.id.str.extract(r'(patient\d+)')[0].nunique() >= 70
    vs = pd.read_csv(run/'ours_vs_paper.csv')
    assert len(vs) == 6*3 and vs.paper.notna().all() and vs.ours.between(0, 1).all()    # 5 labels + Mean for 2 rows + the ensemble
    assert (run/'template.png').exists()
