// The dashboard's pages, in navigation order, with the roles that see each.
// A page is {id, title, roles, render(main, ctx)}; ctx = {params, query, me, navigate}.
import * as overview from './overview.js';
import * as members from './members.js';
import * as service from './service.js';
import * as program from './program.js';
import * as campaigns from './campaigns.js';
import * as analytics from './analytics.js';
import * as settings from './settings.js';

const ALL = ['admin', 'manager', 'supervisor', 'agent', 'analyst'];

export const PAGES = [
  { id: 'overview', title: 'Overview', roles: ['admin', 'manager', 'supervisor', 'analyst'], render: overview.render },
  { id: 'members', title: 'Members', roles: ALL, render: members.render },
  { id: 'service', title: 'Service', roles: ['admin', 'manager', 'supervisor', 'agent'], render: service.render },
  { id: 'program', title: 'Program', roles: ['admin', 'manager'], render: program.render },
  { id: 'campaigns', title: 'Campaigns', roles: ['admin', 'manager'], render: campaigns.render },
  { id: 'analytics', title: 'Analytics', roles: ['admin', 'manager', 'supervisor', 'analyst'], render: analytics.render },
  { id: 'settings', title: 'Settings', roles: ['admin', 'manager'], render: settings.render },
];
