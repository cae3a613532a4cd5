// The portal's pages in navigation order: id (the hash), title, render(main, ctx).
import * as home from './home.js';
import * as rewards from './rewards.js';
import * as account from './account.js';
import * as help from './help.js';

export const PAGES = [
  { id: 'home', title: 'Home', render: home.renderHome },
  { id: 'statement', title: 'Statement', render: home.renderStatement },
  { id: 'rewards', title: 'Rewards', render: rewards.renderRewards },
  { id: 'coupons', title: 'Coupons', render: rewards.renderCoupons },
  { id: 'offers', title: 'Offers', render: rewards.renderOffers },
  { id: 'stamp-cards', title: 'Stamp cards', render: rewards.renderStampCards },
  { id: 'refer', title: 'Refer a friend', render: account.renderRefer },
  { id: 'feed', title: 'My feed', render: account.renderFeed },
  { id: 'surveys', title: 'Surveys', render: account.renderSurveys },
  { id: 'help', title: 'Help', render: help.renderHelp },
  { id: 'terms', title: 'Terms', render: account.renderTerms },
  { id: 'preferences', title: 'Preferences', render: account.renderPreferences },
];
