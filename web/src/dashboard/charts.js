// Charts with Chart.js (only the parts used): a canvas inside div.chart with
// role="img" and an aria-label summarising the data; the caller also gives
// the numbers as a table for screen readers.
import {
  Chart, LineController, LineElement, PointElement, BarController, BarElement,
  LinearScale, CategoryScale, Tooltip, Legend, Filler,
} from 'chart.js';
import { h } from '../common/dom.js';

Chart.register(LineController, LineElement, PointElement, BarController, BarElement, LinearScale, CategoryScale,
  Tooltip, Legend, Filler);

// Colours with at least 3:1 against white (lines and bars), distinct in grey too.
export const COLOURS = ['#0b5cad', '#b5400b', '#2e7d32', '#6a3d9a', '#8a6d00'];
const live = new Set();

// Destroys the charts of a page that is gone.
export function destroyCharts() {
  for (const c of live) c.destroy();
  live.clear();
}

// An axis option: a string is the axis title, an object is Chart.js scale options.
function axis(o) {
  if (!o) return {};
  return typeof o === 'string' ? { title: { display: true, text: o } } : o;
}

// A chart of type 'line' or 'bar': labels, datasets [{label, data}], summary for the
// aria-label; opts.x / opts.y: an axis title or scale options; opts.indexAxis. Returns div.chart.
export function chart(type, labels, datasets, summary, opts = {}) {
  const canvas = h('canvas', { role: 'img', 'aria-label': summary });
  const wrap = h('div.chart', canvas);
  const c = new Chart(canvas, {
    type,
    data: { labels, datasets: datasets.map((d, i) => ({
      borderColor: COLOURS[i % COLOURS.length], backgroundColor: COLOURS[i % COLOURS.length],
      borderWidth: type === 'line' ? 2 : 0, spanGaps: true, tension: 0.2, pointRadius: 3, ...d })) },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { display: datasets.length > 1 } },
      scales: { y: { beginAtZero: true, ...axis(opts.y) }, x: axis(opts.x) },
      indexAxis: opts.indexAxis || 'x',
    },
  });
  live.add(c);
  return wrap;
}
