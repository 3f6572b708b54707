"The benchmark scripts' code paths run through `cxr-fast bench` (no timing is asserted here: speed is measured by the scripts themselves)."
from cxr_fast.cli import main


def test_gpu_section_dry_run_on_cpu(capfd):
    "Section 3 of bench_data.py (GPU throughput) runs end to end on the CPU with a tiny model, so a lent GPU finds working code"
    rc = main(['bench', 'data', '--only-gpu', '--gpu-dry-run'])
    out, err = capfd.readouterr()
    assert rc == 0, err[-3000:]
    assert 'CPU dry run of its code (4 precision rows + TTA ran)' in out
