"""The PNG decoder against images encoded here with every filter type, and the
plot check against blank and single-colour images."""
import os
import random
import struct
import sys
import tempfile
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import pngcheck  # noqa: E402


def _chunk(typ, body):
    return struct.pack('>I', len(body)) + typ + body + struct.pack('>I', zlib.crc32(typ + body))


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def encode_rgb(w, h, pixels, filters):
    """pixels[y][x] = (r, g, b); row y uses filter filters[y % len(filters)]."""
    bpp, raw, prev = 3, bytearray(), bytearray(3 * w)
    for y in range(h):
        line = bytearray(v for px in pixels[y] for v in px)
        ft = filters[y % len(filters)]
        out = bytearray()
        for x in range(len(line)):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            pred = (0, a, b, (a + b) >> 1, _paeth(a, b, c))[ft]
            out.append((line[x] - pred) & 255)
        raw += bytes([ft]) + out
        prev = line
    return (pngcheck.SIGNATURE + _chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
            + _chunk(b'IDAT', zlib.compress(bytes(raw))) + _chunk(b'IEND', b''))


class Decode(unittest.TestCase):
    def test_every_filter_round_trips(self):
        rng = random.Random(7)
        w, h = 23, 15
        pix = [[(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(w)]
               for _ in range(h)]
        with tempfile.NamedTemporaryFile(suffix='.png', delete=False) as f:
            f.write(encode_rgb(w, h, pix, [0, 1, 2, 3, 4]))
        try:
            dw, dh, rows = pngcheck.decode(f.name)
            self.assertEqual((dw, dh), (w, h))
            self.assertEqual([list(r) for r in rows], pix)
        finally:
            os.unlink(f.name)

    def test_bad_crc_and_signature(self):
        data = bytearray(encode_rgb(2, 2, [[(1, 2, 3)] * 2] * 2, [0]))
        data[-20] ^= 0xFF       # inside IDAT
        with tempfile.NamedTemporaryFile(suffix='.png', delete=False) as f:
            f.write(bytes(data))
        try:
            with self.assertRaises(ValueError):
                pngcheck.decode(f.name)
            with open(f.name, 'wb') as g:
                g.write(b'GIF89a' + bytes(100))
            with self.assertRaises(ValueError):
                pngcheck.decode(f.name)
        finally:
            os.unlink(f.name)


class Check(unittest.TestCase):
    def _check(self, pix, w, h):
        with tempfile.NamedTemporaryFile(suffix='.png', delete=False) as f:
            f.write(encode_rgb(w, h, pix, [1]))
        try:
            return pngcheck.check(f.name)
        finally:
            os.unlink(f.name)

    def test_single_colour_fails(self):
        w, h = 300, 200
        problems, _ = self._check([[(255, 255, 255)] * w] * h, w, h)
        self.assertTrue(any('colours' in p for p in problems), problems)
        self.assertTrue(any('bytes' in p for p in problems), problems)
        self.assertTrue(any('drawn' in p for p in problems), problems)

    def test_grey_axes_only_fails(self):
        # A frame with grey "axes and text" but nothing in colour: no data drawn.
        rng = random.Random(3)
        w, h = 300, 200
        pix = [[(255, 255, 255)] * w for _ in range(h)]
        for y in range(h):
            for x in range(w):
                if x in (20, 21) or y in (180, 181) or rng.random() < 0.05:
                    g = rng.randrange(0, 200)
                    pix[y][x] = (g, g, g)
        problems, _ = self._check(pix, w, h)
        self.assertTrue(any('coloured' in p for p in problems), problems)

    def test_plot_like_image_passes(self):
        rng = random.Random(4)
        w, h = 300, 200
        pix = [[(255, 255, 255)] * w for _ in range(h)]
        for y in range(h):
            for x in range(w):
                if abs(y - (100 + 60 * ((x % 80) / 80 - 0.5))) < 3:
                    pix[y][x] = (31, 95, 191)           # a blue data line
                elif rng.random() < 0.08:
                    g = rng.randrange(0, 256)
                    pix[y][x] = (g, g, g)               # antialiased text, grid
        problems, info = self._check(pix, w, h)
        self.assertEqual(problems, [], info)


if __name__ == '__main__':
    unittest.main()
