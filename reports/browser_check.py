#!/usr/bin/env python3
"""`make report-browser-check`: open the HTML report in headless Chromium and
check that every <img> loaded (the page's own script marks each image with
data-loaded / data-natural-width once the load event fired; --dump-dom prints
the DOM after that).  Also saves a screenshot beside the report.

Exit 0 all images loaded, 1 some did not, 2 no browser / no report.
Chromium is not part of `make deps`: as root this installs Debian's
`chromium` (about 1-2 minutes); otherwise it prints the command.
"""
import argparse
import html.parser
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pngcheck
import runs as R

FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--hide-scrollbars', '--virtual-time-budget=10000']


def find_browser():
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        p = shutil.which(name)
        if p:
            return p
    return None


def install_browser():
    if os.geteuid() != 0:
        print('browser-check: chromium is not installed; run: sudo apt-get install -y chromium')
        return None
    print('browser-check: installing chromium (apt-get install -y chromium)...', flush=True)
    t0 = time.monotonic()
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    cmd = ['apt-get', 'install', '-y', '-q', 'chromium']
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        subprocess.run(['apt-get', 'update', '-q'], env=env, capture_output=True)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    print(f'browser-check: apt-get exited {r.returncode} after {time.monotonic() - t0:.0f} s')
    return find_browser()


class Imgs(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.body = [], {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == 'img':
            self.imgs.append(a)
        elif tag == 'body':
            self.body = a


def chromium(browser, args, timeout=120):
    with tempfile.TemporaryDirectory(prefix='chromium-') as prof:
        cmd = [browser] + FLAGS + [f'--user-data-dir={prof}'] + args
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--html', default=os.path.join(R.OUT_DIR, 'index.html'))
    ap.add_argument('--no-install', action='store_true')
    a = ap.parse_args()
    page = os.path.abspath(a.html)
    if not os.path.exists(page):
        # No live report yet: check the fixture report instead, and say so.
        out = os.path.join(R.OUT_DIR, 'fixture-report')
        print(f'browser-check: {os.path.relpath(page)} does not exist (run `make report`); '
              f'checking the fixture report in {os.path.relpath(out)} instead')
        td = os.path.join(R.HERE, 'testdata')
        r = subprocess.run([sys.executable, os.path.join(R.HERE, 'report.py'), '--data-dir', td,
                            '--conf-dir', td, '--catalogue', os.path.join(td, 'catalogue'),
                            '--baseline', os.path.join(td, 'run-a.json'), '--out', out, 'render'])
        if r.returncode != 0:
            print('browser-check: rendering the fixture report failed')
            return 2
        page = os.path.join(out, 'index.html')
    browser = find_browser() or (None if a.no_install else install_browser())
    if not browser:
        print('browser-check: no Chromium available')
        return 2
    ver = subprocess.run([browser, '--version'], capture_output=True, text=True).stdout.strip()
    t0 = time.monotonic()
    r = chromium(browser, ['--dump-dom', 'file://' + page])
    dt = time.monotonic() - t0
    p = Imgs()
    p.feed(r.stdout)
    if r.returncode != 0 or not p.body:
        print(f'browser-check: {ver} failed (exit {r.returncode}): {r.stderr.strip()[-500:]}')
        return 2
    n = len(p.imgs)
    if 'data-images' not in p.body:
        print('browser-check: the page script did not run (no data-images on <body>)')
        return 1
    bad = [i.get('src') for i in p.imgs
           if i.get('data-loaded') != 'yes' or int(i.get('data-natural-width') or 0) <= 0]
    shot = os.path.join(os.path.dirname(page), 'browser-screenshot.png')
    s = chromium(browser, [f'--screenshot={shot}', '--window-size=1400,2400', 'file://' + page])
    shot_bad = ['not taken'] if s.returncode != 0 or not os.path.exists(shot) \
        else pngcheck.check(shot)[0]
    shot_note = (f'screenshot {os.path.relpath(shot)}' if not shot_bad
                 else f'screenshot unusable (exit {s.returncode}: {"; ".join(shot_bad)})')
    print(f'browser-check: {ver}: {os.path.relpath(page)}: {n} images, '
          f'{n - len(bad)} loaded, {len(bad)} missing ({dt:.1f} s); {shot_note}')
    for src in bad:
        print(f'browser-check: MISSING {src}')
    if n == 0:
        print('browser-check: the report has no images')
        return 1
    return 1 if bad or shot_bad else 0


if __name__ == '__main__':
    sys.exit(main())
