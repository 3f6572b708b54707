"""DICOM reading (cxr_fast.dicom): DICOMs written from the real NIH PNGs (MONOCHROME2, MONOCHROME1 with inverted
pixels, RLE and JPEG 2000 lossless) give the PNG's pixels exactly; a 16-bit file with a window gives the windowed
image (the real PadChest 16-bit PNGs and a synthetic ramp); meta reads back; bad files are named errors; a folder
becomes a label-less catalog. Real-data tests skip when ../shared/data is absent."""
import io
import numpy as np, pytest, cv2
pydicom = pytest.importorskip('pydicom')
from PIL import Image
from cxr_fast.dicom import (read_dicom, write_dicom, read_any, is_dicom, load_dicom_folder, dicom_syntaxes, DicomError)
from cxr_fast.images import read_cxr


def linear_window(x, c, w):
    "DICOM PS3.3 C.11.2.1.2 linear window onto 0..255, written out without pydicom"
    return np.clip((np.asarray(x, np.float64) - (c - .5)) / (w - 1) + .5, 0, 1) * 255


def recompress(path, out, syntax, encode):
    "Copy of the DICOM `path` whose pixel data is `encode(pixels) -> bytes`, encapsulated under `syntax`"
    ds = pydicom.dcmread(path)
    ds.PixelData = pydicom.encaps.encapsulate([encode(ds.pixel_array)]); ds['PixelData'].VR = 'OB'
    ds.file_meta.TransferSyntaxUID = syntax
    ds.save_as(out)
    return out


def pillow_bytes(a, fmt, **kw):
    b = io.BytesIO(); Image.fromarray(a).save(b, fmt, **kw); return b.getvalue()


@pytest.fixture
def nih_pngs(shared):
    pngs = sorted((shared/'nih/images_1024').glob('*.png'))
    if not pngs: pytest.skip('no NIH PNGs in the shared data')
    rgba = [p for p in pngs if Image.open(p).mode == 'RGBA'][:1]       # one of the three RGBA files, if present
    return pngs[:2] + rgba


def test_nih_png_as_dicom_gives_the_same_pixels(nih_pngs, tmp_path):
    for png in nih_pngs:
        a = read_cxr(png)
        files = dict(m2=write_dicom(a, tmp_path/f'{png.stem}_m2.dcm', sex='F', age='062Y', view='AP'),
                     m1=write_dicom(255 - a, tmp_path/f'{png.stem}_m1.dcm', photometric='MONOCHROME1'),
                     rle=write_dicom(a, tmp_path/f'{png.stem}_rle.dcm', compress=pydicom.uid.RLELossless))
        files['j2k'] = recompress(files['m2'], tmp_path/f'{png.stem}_j2k.dcm', pydicom.uid.JPEG2000Lossless,
                                  lambda x: pillow_bytes(x, 'JPEG2000', irreversible=False, no_jp2=True))
        for kind, d in files.items():
            assert is_dicom(d)
            img, _ = read_dicom(d)
            assert img.dtype == np.uint8 and np.array_equal(img, a), (png.name, kind)
            for size in (224, 320): assert np.array_equal(read_any(d, size), read_any(png, size)), (png.name, kind, size)
        assert read_dicom(files['m2'])[1] == dict(sex='F', age=62., view='AP')
        assert read_dicom(files['m1'])[1] == dict(sex=None, age=None, view=None)


def test_jpeg_baseline_dicom_decodes_as_pillow_does(nih_pngs, tmp_path):
    a = read_cxr(nih_pngs[0])
    jpg = pillow_bytes(a, 'JPEG', quality=90)
    d = recompress(write_dicom(a, tmp_path/'m2.dcm'), tmp_path/'jpeg.dcm', pydicom.uid.JPEGBaseline8Bit, lambda x: jpg)
    assert np.array_equal(read_dicom(d)[0], np.asarray(Image.open(io.BytesIO(jpg))))


def test_padchest_16bit_with_a_window(shared, tmp_path):
    pngs = sorted((shared/'padchest/images').glob('*.png'))
    if not pngs: pytest.skip('no PadChest PNGs in the shared data')
    a = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    assert a.dtype == np.uint16 and a.ndim == 2
    lo, hi = np.percentile(a, [5, 95]); c, w = float((lo + hi) / 2), float(hi - lo)
    img, _ = read_dicom(write_dicom(a, tmp_path/'pc.dcm', window=(c, w)))
    assert np.abs(img - linear_window(a, c, w)).max() <= .5 + 1e-6
    assert (img == 0).mean() > .02 and (img == 255).mean() > .02     # the 5 % tails saturate


def test_synthetic_16bit_window_and_rescale(tmp_path):
    ramp = np.tile(np.arange(0, 4096, 8, dtype=np.uint16), (4, 1))
    c, w = 1500., 801.
    img, meta = read_dicom(write_dicom(ramp, tmp_path/'r.dcm', bits_stored=12, window=(c, w), sex='M', age='018M', view='PA'))
    assert np.abs(img - linear_window(ramp, c, w)).max() <= .5 + 1e-6
    assert meta == dict(sex='M', age=1.5, view='PA')
    # the window is in modality units: slope 2, intercept -1000 with the window moved accordingly gives the same image
    ds = pydicom.dcmread(tmp_path/'r.dcm'); ds.RescaleSlope, ds.RescaleIntercept = 2, -1000
    ds.WindowCenter, ds.WindowWidth = 2 * c - 1000, 2 * w; ds.save_as(tmp_path/'rs.dcm')
    assert np.abs(read_dicom(tmp_path/'rs.dcm')[0].astype(int) - img).max() <= 1
    # no window: min-max of the modality values; MONOCHROME1 inverts it
    plain = read_dicom(write_dicom(ramp, tmp_path/'n.dcm', window=None))[0]
    assert plain.min() == 0 and plain.max() == 255 and np.all(np.diff(plain[0].astype(int)) >= 0)
    assert np.array_equal(read_dicom(write_dicom(ramp, tmp_path/'n1.dcm', window=None, photometric='MONOCHROME1'))[0], 255 - plain)


def test_bad_files_are_named_errors(tmp_path):
    a = np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8)
    good = write_dicom(a, tmp_path/'good.dcm')
    (tmp_path/'cut.dcm').write_bytes(good.read_bytes()[:len(good.read_bytes()) // 2])
    (tmp_path/'text.dcm').write_text('hello')
    cv2.imwrite(str(tmp_path/'x.png'), a)
    for name, why in [('cut.dcm', 'cannot decode the pixel data'), ('text.dcm', 'not a DICOM file'), ('x.png', 'not a DICOM file')]:
        with pytest.raises(DicomError) as e: read_dicom(tmp_path/name)
        assert str(e.value).startswith(f'{tmp_path/name}: ') and why in str(e.value), str(e.value)
    with pytest.raises(FileNotFoundError, match='no such file'): read_dicom(tmp_path/'missing.dcm')


def test_unsupported_transfer_syntax_is_named(tmp_path):
    syn = dicom_syntaxes().set_index('name')
    if syn.decodes['JPEG-LS Lossless Image Compression']: pytest.skip('a JPEG-LS handler is installed here')
    d = recompress(write_dicom(np.zeros((8, 8), np.uint8), tmp_path/'a.dcm'), tmp_path/'jls.dcm', pydicom.uid.JPEGLSLossless,
                   lambda x: b'\xff\xd8' + bytes(30))
    with pytest.raises(DicomError, match='transfer syntax JPEG-LS Lossless Image Compression'): read_dicom(d)


def test_folder_catalog(tmp_path):
    a = np.random.default_rng(2).integers(0, 256, (40, 30), dtype=np.uint8)
    (tmp_path/'A/1').mkdir(parents=True)
    write_dicom(a, tmp_path/'A/1/IM1', patient='A', study='9.9', sex='F', age='040Y', view='PA')
    write_dicom(a, tmp_path/'A/1/IM2', patient='A', study='9.9', sex='F', age='040Y', view='LATERAL')
    write_dicom(a.astype(np.uint16) * 257, tmp_path/'b.dcm', patient='B', bits=16)   # 8-bit scaled to the full 16 bits
    (tmp_path/'notes.txt').write_text('x')
    ds = pydicom.dcmread(tmp_path/'b.dcm'); del ds.Rows; del ds.Columns; del ds.PixelData; ds.save_as(tmp_path/'DICOMDIR')
    cat = load_dicom_folder(tmp_path)
    assert list(cat.df.path) == ['A/1/IM1', 'A/1/IM2', 'b.dcm'] and cat.labels == [] and cat.root == tmp_path
    assert list(cat.df.patient) == ['A', 'A', 'B'] and list(cat.df.study[:2]) == ['9.9', '9.9']
    assert list(cat.df.frontal) == [True, False, True] and list(cat.df.view[:2]) == ['PA', 'LATERAL']
    assert cat.df.sex.tolist()[:2] == ['F', 'F'] and cat.df.age.tolist()[:2] == [40., 40.] and np.isnan(cat.df.age[2])
    assert list(cat.excluded.file) == ['DICOMDIR']
    assert np.array_equal(read_any(cat.root/cat.df.path[0], 24), read_any(tmp_path/'b.dcm', 24))  # identity windows: same pixels


def test_signed_pixels(tmp_path):
    "PixelRepresentation 1 (two's complement): negative stored values window and min-max correctly"
    v = np.tile(np.arange(-2048, 2048, 16, dtype=np.int16), (3, 1))
    p = write_dicom(np.zeros(v.shape, np.uint16), tmp_path/'s.dcm', bits=16, bits_stored=12, window=(0., 1024.))
    ds = pydicom.dcmread(p); ds.PixelRepresentation = 1; ds.PixelData = v.tobytes(); ds.save_as(p)
    assert np.abs(read_dicom(p)[0] - linear_window(v, 0., 1024.)).max() <= .5 + 1e-6
    del ds.WindowCenter; del ds.WindowWidth; ds.save_as(p)
    img = read_dicom(p)[0]
    assert img[0, 0] == 0 and img[0, -1] == 255 and np.all(np.diff(img[0].astype(int)) >= 0)


def test_colour_and_multiframe(tmp_path):
    "An RGB file reads as gray (ITU-R 601 weights, as OpenCV's), a multi-frame file as its first frame"
    rgb = np.random.default_rng(3).integers(0, 256, (16, 20, 3), dtype=np.uint8)
    p = write_dicom(np.zeros((16, 20), np.uint8), tmp_path/'c.dcm', window=None)
    ds = pydicom.dcmread(p); ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, 'RGB', 0
    ds.PixelData = rgb.tobytes(); ds.save_as(p)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(int)
    img = read_dicom(p)[0].astype(int)
    want = np.rint((gray - gray.min()) * 255 / (gray.max() - gray.min()))          # no window: min-max
    assert np.abs(img - want).max() <= 1
    frames = np.random.default_rng(4).integers(0, 256, (2, 12, 10), dtype=np.uint8)
    q = write_dicom(frames[0], tmp_path/'m.dcm')
    ds = pydicom.dcmread(q); ds.NumberOfFrames = 2; ds.PixelData = frames.tobytes(); ds.save_as(q)
    assert np.array_equal(read_dicom(q)[0], frames[0])
