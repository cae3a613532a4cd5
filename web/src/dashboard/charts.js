// Charts for the overview (Chart.js, only the parts used): a canvas inside
// div.chart with role="img" and an aria-label summarising the data; the
// numbers are also given as a table by the caller for screen readers.
import {
  Chart, LineController, LineElement, PointElement, BarController, BarElement,
  LinearScale, CategoryScale, Tooltip, Legend,
} from 'chart.js';
import { h } from '../common/dom.js';

Chart.register(LineController, LineElement, PointElement, BarController, BarElement, LinearScale, CategoryScale, Tooltip, Legend);

const live = new Set();
const COLOURS = ['#0b5cad', '#146c2e', '#a4161a', '#7a4a00'];

// Destroys the charts of a page that is gone.
export function destroyCharts() {
  for (const c of live) c.destroy();
  live.clear();
}

// A chart of type 'line' or 'bar': labels, datasets [{label, data}], summary for the aria-label.
export function chart(type, labels, datasets, summary, opts = {}) {
  const canvas = h('canvas', { role: 'img', 'aria-label': summary });
  const wrap = h('div.chart', canvas);
  const c = new Chart(canvas, {
    type,
    data: { labels, datasets: datasets.map((d, i) => ({
      borderColor: COLOURS[i % COLOURS.length], backgroundColor: COLOURS[i % COLOURS.length],
      spanGaps: true, tension: 0.2, pointRadius: 3, ...d })) },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { display: datasets.length > 1 } },
      scales: { y: { beginAtZero: true, ...(opts.y || {}) }, x: { ...(opts.x || {}) } },
      indexAxis: opts.indexAxis || 'x',
    },
  });
  live.add(c);
  return wrap;
}
