"""Is a PNG a real plot?  A small decoder (8-bit greyscale, RGB, RGBA and
palette, not interlaced: what pngcairo and gd write) and the checks."""
import collections
import os
import struct
import zlib

SIGNATURE = b'\x89PNG\r\n\x1a\n'
MIN_BYTES = 8000          # an empty 900x540 pngcairo frame is ~3 KB
MIN_COLOURS = 8           # antialiased text and lines give hundreds
MIN_INK = 0.01            # at least 1% of pixels differ from the background
MIN_CHROMA_PIXELS = 150   # data is drawn in colour; axes and text are grey


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode(path):
    """(width, height, rows of RGB tuples' bytes, channels) or raises ValueError."""
    with open(path, 'rb') as f:
        data = f.read()
    if data[:8] != SIGNATURE:
        raise ValueError('not a PNG (bad signature)')
    pos, idat, ihdr, palette = 8, [], None, None
    while pos + 8 <= len(data):
        n, typ = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if len(body) != n:
            raise ValueError('truncated chunk')
        if zlib.crc32(typ + body) != struct.unpack('>I', data[pos + 8 + n:pos + 12 + n])[0]:
            raise ValueError(f'bad CRC in {typ!r} chunk')
        pos += 12 + n
        if typ == b'IHDR':
            ihdr = struct.unpack('>IIBBBBB', body)
        elif typ == b'PLTE':
            palette = body
        elif typ == b'IDAT':
            idat.append(body)
        elif typ == b'IEND':
            break
    if ihdr is None or not idat:
        raise ValueError('no IHDR or IDAT')
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or interlace or ctype not in (0, 2, 3, 4, 6):
        raise ValueError(f'unsupported PNG layout (depth {depth}, type {ctype}, interlace {interlace})')
    bpp = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[ctype]
    raw = zlib.decompress(b''.join(idat))
    stride = w * bpp
    if len(raw) < h * (stride + 1):
        raise ValueError('image data too short')
    prev = bytearray(stride)
    rows = []
    i = 0
    for _ in range(h):
        ft = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += stride + 1
        if ft == 1:
            for x in range(bpp, stride):
                line[x] = (line[x] + line[x - bpp]) & 255
        elif ft == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif ft == 3:
            for x in range(stride):
                left = line[x - bpp] if x >= bpp else 0
                line[x] = (line[x] + ((left + prev[x]) >> 1)) & 255
        elif ft == 4:
            for x in range(stride):
                if x >= bpp:
                    line[x] = (line[x] + _paeth(line[x - bpp], prev[x], prev[x - bpp])) & 255
                else:
                    line[x] = (line[x] + prev[x]) & 255
        elif ft != 0:
            raise ValueError(f'bad filter type {ft}')
        rows.append(line)
        prev = line
    return w, h, _pixels(rows, ctype, bpp, palette)


def _pixels(rows, ctype, bpp, palette):
    """Per row, an iterable of RGB tuples (zip keeps the counting in C)."""
    for line in rows:
        if ctype in (2, 6):
            yield zip(line[0::bpp], line[1::bpp], line[2::bpp])
        elif ctype == 3:
            if palette is None:
                raise ValueError('palette image without PLTE')
            pal = [tuple(palette[3 * i:3 * i + 3]) for i in range(len(palette) // 3)]
            yield (pal[v] for v in line)
        else:
            yield ((v, v, v) for v in line[::bpp])


def check(path):
    """(problems, description): no problems if the PNG looks like a real plot."""
    problems = []
    try:
        size = os.path.getsize(path)
    except OSError as e:
        return [f'cannot stat: {e}'], 
    if size < MIN_BYTES:
        problems.append(f'only {size} bytes (< {MIN_BYTES})')
    try:
        w, h, rows = decode(path)
    except (ValueError, zlib.error, struct.error) as e:
        return problems + [f'cannot decode: {e}'], f'{size} bytes'
    counts = collections.Counter()
    try:
        for line in rows:
            counts.update(line)
    except (ValueError, IndexError) as e:
        return problems + [f'cannot decode: {e}'], f'{size} bytes'
    total = w * h
    bg, bg_n = max(counts.items(), key=lambda kv: kv[1])
    chroma = sum(n for px, n in counts.items() if max(px) - min(px) > 40)
    if len(counts) < MIN_COLOURS:
        problems.append(f'{len(counts)} colours (< {MIN_COLOURS}): blank or single colour')
    if (total - bg_n) / total < MIN_INK:
        problems.append(f'{(total - bg_n) / total:.2%} of pixels drawn (< {MIN_INK:.0%})')
    if chroma < MIN_CHROMA_PIXELS:
        problems.append(f'{chroma} coloured pixels (< {MIN_CHROMA_PIXELS}): no data drawn')
    return problems, (f'{w}x{h}, {size} bytes, {len(counts)} colours, '
                      f'{(total - bg_n) / total:.0%} ink, {chroma} coloured px')
