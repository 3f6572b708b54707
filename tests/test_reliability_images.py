"""Issue #13, the image side: a cache is used only when it matches its source (item 1), decompression bombs are
refused from the header before any allocation (item 3), 16-bit PNGs are scaled by a fixed per-file rule, not by
each image's maximum (item 12), and the scan counts the files converted to 8-bit gray, e.g. NIH's RGBA PNGs (item 13).
Planted faults on synthetic roots; the real-data checks skip without ../shared/data."""
import os, shutil, struct, time, tracemalloc, zlib
from pathlib import Path
import numpy as np, pandas as pd, cv2
import pytest
from conftest import cli
from cxr_fast.synth import synth
from cxr_fast.datasets import load_catalog
from cxr_fast.cache import build_cache, open_cache, find_cache, CacheError, square_cxr
from cxr_fast.images import decode_cxr, read_cxr, image_problem, scan_images, check_catalog
from cxr_fast.png import PNG_SIGNATURE
import cxr_fast.images as images, cxr_fast.png as png

SIZE = 32


# ---------------------------------------------------------------- item 1: a cache used only when it matches its source

@pytest.fixture
def nih(tmp_path):
    "A synthetic NIH root with a built cache in `<tmp>/caches` (the cache_dir of `find_cache`)"
    root = synth('nih', tmp_path/'a', n=24, size=48, seed=0)
    cat = load_catalog('nih', root)
    out = build_cache(cat, SIZE, tmp_path/'caches'/f'nih-{SIZE}', n_workers=1, progress=False)
    return root, cat, out


def _truncate(p:Path, keep=0.5): p.write_bytes(p.read_bytes()[:int(p.stat().st_size*keep)])


def test_cache_matches_its_source(nih):
    root, cat, out = nih
    c = find_cache(cat, SIZE, out.parent)
    assert c is not None and len(c.ids) == len(cat)
    c.check_source(cat)                                            # the same files: no error


def test_cache_detects_a_changed_file(nih):
    root, cat, out = nih
    f = cat.df.path.iloc[3]
    _truncate(root/f)
    with pytest.raises(CacheError, match='changed since') as e: find_cache(cat, SIZE, out.parent)
    assert f in str(e.value) and '--rebuild' not in str(e.value) and 'cxr-fast cache nih' in str(e.value)
    with pytest.raises(CacheError, match=f): open_cache(out, cat=cat)


def test_cache_detects_a_changed_row(nih):
    root, cat, out = nih
    other = cat.replace(df=cat.df.drop(index=cat.df.index[5]))     # one row less: another list of images
    with pytest.raises(CacheError, match='rebuild') as e: build_cache(other, SIZE, out, n_workers=1, progress=False)
    assert 'row 5' in str(e.value) and cat.df.path.iloc[5] in str(e.value)
    renamed = cat.df.copy(); renamed.loc[renamed.index[2], 'path'] = 'images/not_cached.png'
    with pytest.raises(CacheError, match='not_cached.png'): find_cache(cat.replace(df=renamed), SIZE, out.parent)


def test_cache_detects_another_root(nih, tmp_path):
    root, cat, out = nih
    copy = shutil.copytree(root, tmp_path/'copy')                  # copy2 keeps sizes and mtimes: only the root differs
    cat2 = load_catalog('nih', copy)
    with pytest.raises(CacheError, match='built from') as e: find_cache(cat2, SIZE, out.parent)
    assert str(root.resolve()) in str(e.value) and str(copy.resolve()) in str(e.value)


def test_cache_rebuilds_only_changed_files(nih):
    root, cat, out = nih
    f = root/cat.df.path.iloc[4]
    a = cv2.imread(str(f), cv2.IMREAD_UNCHANGED); cv2.imwrite(str(f), 255 - a)
    before = np.array(open_cache(out).array)
    build_cache(cat, SIZE, out, n_workers=1, progress=False)       # no --rebuild: re-decodes the one changed file
    c = open_cache(out, cat=cat)
    assert c.manifest['refreshed'] == 1
    assert (c.array[4] == square_cxr(f, SIZE)).all() and not (c.array[4] == before[4]).all()
    assert (np.delete(np.array(c.array), 4, 0) == np.delete(before, 4, 0)).all()


def test_loader_never_uses_a_stale_cache(nih, tmp_path, monkeypatch):
    "Issue scenario 1: a cache of one root, a run on a copy whose test image was truncated"
    from cxr_fast.splits import official_split
    from cxr_fast.data import cxr_dataloaders
    root, cat, out = nih
    monkeypatch.setenv('CXR_FAST_CACHE_DIR', str(out.parent))
    copy = shutil.copytree(root, tmp_path/'copy'); cat2 = load_catalog('nih', copy)
    split = official_split(cat2, valid_frac=0.2, seed=0)
    _truncate(copy/cat2.df.path[split.subset.to_numpy() == 'test'].iloc[0])
    with pytest.raises(CacheError, match='built from'): cxr_dataloaders(cat2, split, recipe='plain', size=SIZE, bs=4)
    dls = cxr_dataloaders(cat, official_split(cat, valid_frac=0.2, seed=0), recipe='plain', size=SIZE, bs=4)
    assert dls.cxr.cache is not None                               # the matching cache is still used


def test_cli_cache_after_resynth(tmp_path):
    "Issue scenario 2: `synth --n 10` over a 200-image folder, then `cache` must not report the old cache"
    d, caches = tmp_path/'D', tmp_path/'caches'
    cli('synth', 'nih', '--out', d, '--n', 200, '--size', 40)
    cli('cache', 'nih', '--root', d, '--size', SIZE, '--out', caches/'nih')
    cli('synth', 'nih', '--out', d, '--n', 10, '--size', 40)
    r = cli('cache', 'nih', '--root', d, '--size', SIZE, '--out', caches/'nih', check=False)
    assert r.returncode == 2 and '200 images' not in r.stdout, r.stdout
    assert 'has 10 rows' in r.stderr and '--rebuild' in r.stderr, r.stderr
    r = cli('cache', 'nih', '--root', d, '--size', SIZE, '--out', caches/'nih', '--rebuild')
    assert '10 images' in r.stdout


def test_cache_check_is_cheap(tmp_path):
    "The source check stats every file once; it reads none (1,000 files here)"
    root = synth('nih', tmp_path/'big', n=1000, size=16, seed=1)
    cat = load_catalog('nih', root)
    c = open_cache(build_cache(cat, 16, tmp_path/'c', progress=False))
    t = time.perf_counter(); c.check_source(cat); dt = time.perf_counter() - t
    print(f"check_source on {len(cat)} files: {dt*1e3:.1f} ms")
    assert dt < 2


# ---------------------------------------------------------------- item 3: decompression bombs

def _chunk(typ, data): return struct.pack('>I', len(data)) + typ + data + struct.pack('>I', zlib.crc32(typ + data))

def bomb_png(w=33000, h=33000, depth=8, colour=0):
    "A tiny PNG whose header declares w x h; its IDAT holds a few rows of zeros"
    ihdr = _chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, depth, colour, 0, 0, 0))
    return PNG_SIGNATURE + ihdr + _chunk(b'IDAT', zlib.compress(bytes(4*(w + 1)))) + _chunk(b'IEND', b'')

def bomb_jpeg(w=60000, h=60000):
    "A small real JPEG whose start-of-frame is patched to declare w x h"
    b = bytearray(cv2.imencode('.jpg', np.zeros((16, 16), np.uint8))[1].tobytes())
    i = 2
    while b[i + 1] not in (0xC0, 0xC1, 0xC2): i += 2 + int.from_bytes(b[i+2:i+4], 'big')
    b[i+5:i+7], b[i+7:i+9] = h.to_bytes(2, 'big'), w.to_bytes(2, 'big')
    return bytes(b)


@pytest.mark.parametrize('kind', ['png8', 'png16', 'rgba', 'jpeg'])
def test_bomb_refused_from_header(kind, tmp_path):
    buf = dict(png8=bomb_png, png16=lambda: bomb_png(depth=16), rgba=lambda: bomb_png(colour=6), jpeg=bomb_jpeg)[kind]()
    f = tmp_path/('bomb.jpg' if kind == 'jpeg' else 'bomb.png'); f.write_bytes(buf)
    dims = '60000x60000' if kind == 'jpeg' else '33000x33000'
    tracemalloc.start(); t = time.perf_counter()
    with pytest.raises(ValueError, match='pixel limit') as e: read_cxr(f)
    dt = time.perf_counter() - t; peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
    assert str(f) in str(e.value) and dims in str(e.value)
    assert dt < 0.5 and peak < 20e6, (dt, peak)
    for decode in (False, True):                                   # the fast pre-flight and the full scan
        p = image_problem(f, decode=decode)
        assert p is not None and p[0] == 'too-large' and dims in p[1], p
    bad = scan_images([f], decode=False, progress=False)
    assert bad.problem.tolist() == ['too-large']


def test_pixel_limit_is_settable(tmp_path, monkeypatch):
    assert png.MAX_PIXELS == 89_478_485                                # Pillow's default
    f = tmp_path/'x.png'; cv2.imwrite(str(f), np.zeros((100, 120), np.uint8))
    assert read_cxr(f).shape == (100, 120)
    with pytest.raises(ValueError, match='120x100'): decode_cxr(f.read_bytes(), f, max_pixels=5000)
    monkeypatch.setenv('CXR_FAST_MAX_PIXELS', '5000')
    with pytest.raises(ValueError, match='CXR_FAST_MAX_PIXELS'): read_cxr(f)
    assert image_problem(f, decode=False)[0] == 'too-large'
    assert decode_cxr(f.read_bytes(), f, max_pixels=20000).shape == (100, 120)   # the argument beats the variable


# ---------------------------------------------------------------- item 12: 16-bit PNGs by a fixed rule per file

def png16(a:np.ndarray, sbit:int|None=None) -> bytes:
    "A 16-bit gray PNG of `a`, with an sBIT chunk when `sbit` is given"
    b = cv2.imencode('.png', a.astype(np.uint16))[1].tobytes()
    if sbit is None: return b
    i = 8 + 25                                                     # after the signature and IHDR
    return b[:i] + _chunk(b'sBIT', bytes([sbit])) + b[i:]


@pytest.fixture
def img11():
    "An 11-bit image (values < 2048) with a pixel of 1000"
    a = np.random.default_rng(0).integers(0, 2000, (40, 50)).astype(np.uint16); a[5, 5] = 1000
    return a


@pytest.mark.parametrize('sbit', [None, 12, 16])
def test_one_bright_pixel_changes_nothing_else(img11, sbit):
    bright = img11.copy(); bright[0, 0] = 2048                     # max 2047 -> 2048: 11 -> 12 bits
    a, b = decode_cxr(png16(img11, sbit), 'a.png'), decode_cxr(png16(bright, sbit), 'b.png')
    assert (a[1:] == b[1:]).all() and (a[0, 1:] == b[0, 1:]).all()
    assert a[5, 5] == 1000 >> ((sbit or 16) - 8)                   # 3 with no sBIT (>> 8), 62 with sBIT 12 (>> 4)


def test_sbit_scaled_as_the_png_spec_says():
    "A writer that follows the PNG spec scales 12-bit samples up to 16 bits and records sBIT 12: read by >> 8"
    a = np.random.default_rng(1).integers(0, 4096, (30, 30)).astype(np.uint16); a[0, 0] = 4095
    raw12, scaled = decode_cxr(png16(a, 12), 'raw.png'), decode_cxr(png16(a << 4, 12), 'scaled.png')
    assert (raw12 == (a >> 4)).all() and (scaled == raw12).all()


def test_real_padchest_16bit_fixed_rule(shared):
    files = sorted((shared/'padchest'/'images').glob('*.png'))
    assert len(files) == 12
    for k, f in enumerate(files):
        raw = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        assert raw.dtype == np.uint16 and raw.max() > 65000       # all 12 fill the 16-bit range
        assert (read_cxr(f) == (raw >> 8)).all(), f.name
        if k < 3:                                                  # darker copy (max < 32768): the same rule, no stretch
            dark = np.minimum(raw, 30000)
            assert (decode_cxr(png16(dark), f.name) == (dark >> 8)).all(), f.name


# ---------------------------------------------------------------- item 13: converted files counted

def test_scan_counts_converted_files(tmp_path):
    g = np.random.default_rng(0).integers(0, 256, (20, 20), dtype=np.uint8)
    cv2.imwrite(str(tmp_path/'gray.png'), g)
    for k in range(2): cv2.imwrite(str(tmp_path/f'rgba{k}.png'), np.dstack([g, g, g, np.full_like(g, 255)]))
    cv2.imwrite(str(tmp_path/'rgb.png'), np.dstack([g, g, g]))
    cv2.imwrite(str(tmp_path/'g16.png'), g.astype(np.uint16) << 8)
    names = ['gray.png', 'rgba0.png', 'rgba1.png', 'rgb.png', 'g16.png']
    for decode in (False, True):
        bad = scan_images(names, root=tmp_path, decode=decode, progress=False)
        assert len(bad) == 0
        assert bad.attrs['converted'] == {'RGBA PNG': 2, 'RGB PNG': 1, '16-bit gray PNG': 1}
    s = images.converted_summary(bad)
    assert s.startswith('4 image(s) converted to 8-bit gray on reading') and '2 RGBA PNG' in s, s
    assert images.converted_summary(scan_images(['gray.png'], root=tmp_path, progress=False)) == ''


def test_real_nih_rgba_counted(shared, xrv):
    from cxr_fast.nih import load_nih
    cat = load_nih(shared/'nih', csv=xrv/'Data_Entry_2017_v2020.csv.gz', image_dir='images_1024', splits=False)
    on_disk = {p.name for p in (shared/'nih/images_1024').glob('*.png')}
    cat = cat.replace(df=cat.df[cat.df.path.str.split('/').str[-1].isin(on_disk)])
    bad = check_catalog(cat, decode=False, progress=False)
    assert len(bad) == 0 and bad.attrs['converted'] == {'RGBA PNG': 3}
    assert '3 RGBA PNG' in images.converted_summary(bad)
