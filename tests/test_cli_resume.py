"""`cxr-fast run` at the level a user works at: a run stopped by --timeout (papermill and its kernel) continues with
--resume and ends with exactly the numbers of an uninterrupted run (CPU, same seed); finished runs are skipped;
runs.csv keeps every run made into the same --out; per-epoch progress lines reach the terminal."""
import json
import pandas as pd
import torch
from conftest import cli

EPOCHS = 6
P = ['-p', 'n', '400', '-p', 'size', '48', '-p', 'epochs', str(EPOCHS)]


def the_run(out):
    [d] = [p for p in out.iterdir() if p.is_dir()]
    return d


def test_timeout_then_resume_equals_an_uninterrupted_run(tmp_path):
    a = cli('run', 'demo', '--out', tmp_path/'a', *P)
    assert 'epoch 5:' in a.stderr                                              # one progress line per epoch
    full = the_run(tmp_path/'a'); secs = json.loads((full/'run.json').read_text())['seconds']
    hist = pd.read_csv(full/'history.csv')
    tries = []
    for i, frac in enumerate((0.6, 0.45, 0.75, 0.35, 0.9, 0.25)):   # run times vary on a shared machine: aim again if a try missed training
        out = tmp_path/f'b{i}'
        r = cli('run', 'demo', '--out', out, *P, '--timeout', str(round(frac*secs, 1)), '--quiet', check=False)
        ck = the_run(out)/'models'/'resume.pth'
        done = torch.load(ck, weights_only=False)['epoch'] if ck.exists() else 0
        tries.append(f'{frac:.2f} of {secs:.1f} s: exit {r.returncode}, {done} epoch(s) done')
        if r.returncode == 1 and 'timed out' in r.stdout and 1 <= done < EPOCHS: break
    else: raise AssertionError(f'no try stopped the run during training: {tries} (last: {r.stdout})')
    killed = the_run(out)
    r = cli('run', 'demo', '--out', out, *P, '--resume', '--quiet')
    assert the_run(out) == killed                                             # the same folder, not a new one
    res = pd.read_csv(killed/'history.csv').drop_duplicates('epoch', keep='last').reset_index(drop=True)
    pd.testing.assert_frame_equal(hist.drop(columns='time'), res.drop(columns='time'), check_exact=True)
    pd.testing.assert_frame_equal(pd.read_csv(full/'results.csv'), pd.read_csv(killed/'results.csv'), check_exact=True)
    runs = pd.read_csv(out/'runs.csv')
    assert len(runs) == 1 and runs.status.tolist() == ['ok']                  # the rerun's row replaced the timed-out one
    n_hist = len(pd.read_csv(killed/'history.csv'))
    again = cli('run', 'demo', '--out', out, *P, '--resume', '--quiet')
    assert 'ok' in again.stdout and len(pd.read_csv(killed/'history.csv')) == n_hist     # finished: skipped, nothing retrained
    assert json.loads((killed/'run.json').read_text())['status'] == 'ok'
    print(f'stopped after {done} finished epoch(s) of {EPOCHS} (try {i + 1})')


def test_runs_table_keeps_earlier_runs(tmp_path):
    cli('run', 'demo', '--out', tmp_path, '-p', 'n', '120', '-p', 'size', '32', '-p', 'epochs', '1', '--quiet')
    cli('run', 'demo', '--out', tmp_path, '-p', 'n', '120', '-p', 'size', '32', '-p', 'epochs', '1', '-p', 'seed', '1', '--quiet')
    runs = pd.read_csv(tmp_path/'runs.csv')
    assert len(runs) == 2 and set(runs.status) == {'ok'}, runs
