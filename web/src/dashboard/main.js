// The staff dashboard (placeholder until the pages land).
import { h, mount } from '../common/dom.js';
mount(document.getElementById('app'), h('main#main', h('h1', 'patron')));
