// Bundles the staff dashboard and the member portal into OUT (default dist/):
// index.html, portal.html, dashboard.js, portal.js, style.css. The C build
// embeds that folder into the patron binary (scripts/embed-assets.sh), so the
// pages carry no inline script and the Content-Security-Policy can forbid it.
import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, 'dist');
mkdirSync(out, { recursive: true });

await esbuild.build({
  entryPoints: {
    dashboard: join(here, 'src/dashboard/main.js'),
    portal: join(here, 'src/portal/main.js'),
    style: join(here, 'src/style.css'),
  },
  outdir: out,
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome100', 'firefox100', 'safari15'],
  legalComments: 'none',
  logLevel: 'warning',
});
for (const page of ['index.html', 'portal.html'])
  copyFileSync(join(here, 'src', page), join(out, page));
