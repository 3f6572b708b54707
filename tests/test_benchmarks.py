"The benchmark scripts' code paths run (no timing is asserted here: speed is measured by the scripts themselves)."
import subprocess, sys
from pathlib import Path

BENCH = Path(__file__).parent/'benchmarks'


def test_gpu_section_dry_run_on_cpu():
    "Section 3 of bench_data.py (GPU throughput) runs end to end on the CPU with a tiny model, so a lent GPU finds working code"
    r = subprocess.run([sys.executable, str(BENCH/'bench_data.py'), '--only-gpu', '--gpu-dry-run'], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'CPU dry run of its code (4 precision rows + TTA ran)' in r.stdout
