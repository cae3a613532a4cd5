// The Program page (to be written).
import { h, mount } from '../common/dom.js';

// Renders the page into main.
export async function render(main) {
  mount(main, h('h1', 'Program'), h('p', 'Coming soon.'));
}
