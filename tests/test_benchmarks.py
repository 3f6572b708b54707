"The benchmark scripts' code paths run through `cxr-fast bench` (no timing is asserted here: speed is measured by the scripts themselves)."
from cxr_fast.cli import main


def test_gpu_section_dry_run_on_cpu(capfd):
    "`cxr-fast bench gpu` (bench_data.py's GPU section) runs end to end on the CPU with a tiny model, so a lent GPU finds working code"
    rc = main(['bench', 'gpu', '--gpu-dry-run'])
    out, err = capfd.readouterr()
    assert rc == 0, err[-3000:]
    assert 'CPU dry run of its code (6 precision rows x (model only, from cache, from files) + TTA ran)' in out
    rows = out.split('rows: ')[1].split(' ; columns:')[0].split(', ')
    assert rows == ['fp32', 'bf16', 'fp16', 'fp32 + channels_last', 'bf16 + channels_last', 'fp16 + channels_last'], rows
    for col in ['model_only_img_s', 'from_cache_img_s', 'from_files_img_s']: assert col in out
    assert '1. cache build' not in out                       # the CPU sections are not run by `bench gpu`
