"""Shared fixtures: the repository root, the real sample data (the `shared_data` setting of the repository's
settings.ini or CXR_FAST_SHARED_DATA; may be absent), and the real metadata tables."""
import sys, subprocess
from pathlib import Path
import pytest
from cxr_fast.config import Settings, find_settings, shared_data

ROOT = Path(__file__).resolve().parents[1]
SHARED = shared_data(Settings(find_settings(ROOT)))


def cli(*args, check=True, cwd=None):
    "Run the installed `cxr-fast` console script (in `cwd`, default: this process's); returns the CompletedProcess"
    exe = Path(sys.executable).parent/'cxr-fast'
    r = subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True, cwd=cwd)
    if check and r.returncode != 0: raise AssertionError(f"cxr-fast {args} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture
def shared():
    "The real sample data folder; skips the test when it is absent (a fresh machine)"
    if SHARED is None or not SHARED.exists(): pytest.skip(f'no real sample data (shared_data setting: {SHARED})')
    return SHARED


@pytest.fixture
def xrv():
    "Folder of the real metadata tables in the torchxrayvision wheel; skips when it is not installed"
    from cxr_fast.catalog import xrv_table
    p = xrv_table('Data_Entry_2017_v2020.csv.gz')
    if p is None: pytest.skip('torchxrayvision (the real metadata tables) is not installed')
    return p.parent
