// Charts with Chart.js: a canvas in div.chart with role="img" and a label
// that says what it shows (the numbers go in a table beside it).
import { Chart, BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale,
  Legend, Tooltip, Filler } from 'chart.js';
import { h } from '../common/dom.js';

Chart.register(BarController, BarElement, LineController, LineElement, PointElement, CategoryScale, LinearScale,
  Legend, Tooltip, Filler);

// Colours with at least 3:1 against white (lines and bars), distinct in grey too.
export const COLOURS = ['#0b5cad', '#b5400b', '#2e7d32', '#6a3d9a', '#8a6d00'];

// A chart: type 'bar' | 'line', labels, datasets [{label, data}], aria label; returns div.chart.
export function chart(type, labels, datasets, label, opts = {}) {
  const canvas = h('canvas', { role: 'img', 'aria-label': label });
  const box = h('div.chart', canvas);
  const data = {
    labels,
    datasets: datasets.map((d, i) => ({
      borderColor: COLOURS[i % COLOURS.length], backgroundColor: COLOURS[i % COLOURS.length],
      borderWidth: type === 'line' ? 2 : 0, pointRadius: type === 'line' ? 0 : undefined, ...d })),
  };
  new Chart(canvas, {
    type, data,
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { display: datasets.length > 1 } },
      scales: { x: { title: { display: !!opts.x, text: opts.x } }, y: { beginAtZero: true, title: { display: !!opts.y, text: opts.y } } },
    },
  });
  return box;
}
