/**
 * The dashboard page: one HTML document with its CSS and JS inline, no build
 * step and nothing loaded from elsewhere. It is a TS string because tsc does
 * not copy .html files to dist/.
 *
 * The script draws what <base>/events sends (see stream.ts), and passes
 * the page's own query string (a `?token=`) on to its requests. <base> is
 * the page's own path, so the page works wherever an app mounts it. User ids come
 * from clients, so they only ever reach the DOM as textContent. The CSP allows
 * exactly this script and this style sheet (by hash) and requests to this
 * origin.
 */
import { createHash } from 'node:crypto';
import { OVER_THE_LIMIT_REASON, REPLACED_REASON, SUPERSEDED_REASON } from '../../machines/client-close.js';
import type { EvictionCause } from '../../machines/events.js';

/** The close reason of a 4001 by the `evicted` event's cause, as the connection machine sends it. */
const EVICTION_REASONS: Record<EvictionCause, string> = {
  idle: 'evicted: idle',
  'over-limit': OVER_THE_LIMIT_REASON,
  superseded: SUPERSEDED_REASON,
  replaced: REPLACED_REASON,
};

/**
 * How often the page asks for `<base>/cluster`; the handler serves a view read less than this
 * long ago again, so the Cluster card costs one read per period however many pages are open.
 */
export const clusterPollMs = 5_000;

/**
 * The most users' books the Cluster card's totals are read from per view (a Redis command each,
 * every clusterPollMs): past it the card says "at least" and about how many users are booked.
 */
export const clusterCardBooks = 1_000;

const style = `
:root {
  --bg: #f4f6fa; --card: #ffffff; --border: #e3e8ef; --text: #0f172a; --muted: #64748b; --faint: #94a3b8;
  --connecting: #6366f1; --active: #2563eb; --live: #16a34a; --idle: #d97706; --draining: #dc2626;
  --disposed: #64748b; --evict: #d97706; --limit: #dc2626;
  color-scheme: light;
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
header {
  display: flex; flex-wrap: wrap; align-items: center; gap: 4px 16px; padding: 14px 28px;
  background: #0f172a; color: #e2e8f0;
}
header h1 { margin: 0; font-size: 17px; font-weight: 600; letter-spacing: 0.2px; white-space: nowrap; }
header h1 span { color: #94a3b8; font-weight: 400; }
header .config { color: #94a3b8; font-size: 13px; }
header .spacer { flex: 1; }
.status {
  display: inline-flex; align-items: center; gap: 8px; padding: 4px 12px; border-radius: 999px;
  background: #1e293b; font-size: 12px; font-weight: 600; text-transform: uppercase; letter-spacing: 0.6px;
}
.status::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--faint); }
.status.live::before { background: #22c55e; box-shadow: 0 0 0 3px rgba(34, 197, 94, 0.25); }
.status.down::before { background: #f97316; }
main {
  max-width: 1480px; margin: 0 auto; padding: 20px 28px 32px;
  display: grid; grid-template-columns: minmax(0, 1fr); gap: 20px;
}
.metrics { display: grid; grid-template-columns: repeat(6, minmax(0, 1fr)); gap: 14px; }
.metric { background: var(--card); border: 1px solid var(--border); border-radius: 10px; padding: 12px 16px; }
.metric .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: 0.5px; }
.metric .value { font-size: 26px; font-weight: 650; font-variant-numeric: tabular-nums; margin-top: 2px; }
.card { background: var(--card); border: 1px solid var(--border); border-radius: 12px; overflow: hidden; }
.card > h2 {
  margin: 0; padding: 12px 18px; font-size: 14px; font-weight: 600; border-bottom: 1px solid var(--border);
  display: flex; flex-wrap: wrap; align-items: baseline; gap: 2px 12px;
}
.card > h2 small { color: var(--muted); font-weight: 400; font-size: 12px; }
.columns { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 20px; align-items: start; }
#chart { padding: 8px 12px 0; min-height: 120px; }
#chart svg { display: block; width: 100%; height: auto; margin: 0 auto; }
#chart .placeholder { color: var(--muted); padding: 40px; text-align: center; }
#chart g.state > rect { transition: stroke 0.2s, stroke-width 0.2s; }
#chart g.state.occupied > rect { stroke: var(--c); stroke-width: 3px; }
#chart g.state.occupied > text.state-label { fill: var(--c); }
#chart g.count rect { fill: var(--c); stroke: #ffffff; stroke-width: 2px; transition: fill 0.2s; }
#chart g.count text { fill: #ffffff; font-weight: 700; font-size: 15px; font-family: system-ui, sans-serif; }
#chart g.count.zero rect { fill: #e2e8f0; }
#chart g.count.zero text { fill: #64748b; }
.legend { display: flex; flex-wrap: wrap; gap: 18px; padding: 8px 18px 14px; color: var(--muted); font-size: 12px; }
.legend span { display: inline-flex; align-items: center; gap: 6px; }
.legend b { font-weight: 400; }
.legend i { width: 10px; height: 10px; border-radius: 3px; background: var(--c); }
.users { list-style: none; margin: 0; padding: 6px 18px 14px; }
.axis, .user { display: grid; grid-template-columns: 9rem minmax(0, 1fr) 8.5rem; gap: 14px; align-items: center; }
.axis { padding: 10px 18px 0; color: var(--muted); font-size: 11px; }
.axis .scale { position: relative; height: 16px; }
.axis .scale span { position: absolute; transform: translateX(-50%); white-space: nowrap; font-variant-numeric: tabular-nums; }
.axis .scale .evict { color: var(--evict); font-weight: 700; }
.axis .scale .limit { color: var(--limit); font-weight: 700; }
.legend i.busy { background: var(--live); }
.legend i.idle { background: var(--idle); }
.legend i.evict-mark { width: 0; height: 12px; border-radius: 0; border-left: 2px dashed var(--evict); }
.legend i.limit-mark { width: 0; height: 12px; border-radius: 0; border-left: 2px solid var(--limit); }
.user { padding: 7px 0; border-bottom: 1px solid #f1f5f9; }
.user:last-child { border-bottom: 0; }
.user-id { font: 13px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.bar {
  position: relative; height: 18px; border-radius: 5px; background-color: #eef2f7;
  background-image: repeating-linear-gradient(to right, transparent 0, transparent calc(100% / var(--slots) - 1px),
    #ffffff calc(100% / var(--slots) - 1px), #ffffff calc(100% / var(--slots)));
}
.bar .fill { position: absolute; inset: 0; display: flex; border-radius: 5px; overflow: hidden; }
.bar .seg { height: 100%; transition: width 0.25s ease; }
.bar .busy { background: var(--live); }
.bar .idle { background: var(--idle); }
.bar .mark { position: absolute; top: -4px; bottom: -4px; width: 0; }
.bar .mark.evict { border-left: 2px dashed var(--evict); }
.bar .mark.limit { right: 0; border-left: 2px solid var(--limit); }
.user-nums { font-variant-numeric: tabular-nums; color: var(--muted); font-size: 12px; white-space: nowrap; }
.user-nums b { color: var(--text); font-size: 14px; }
.user.warn .user-nums b { color: var(--evict); }
.user.full .user-nums b { color: var(--limit); }
.empty { color: var(--muted); padding: 18px; text-align: center; font-size: 13px; }
.more { color: var(--muted); font-size: 12px; padding: 0 18px 12px; }
.activity { list-style: none; margin: 0; padding: 4px 0; max-height: 420px; overflow-y: auto; }
.act {
  display: grid; grid-template-columns: 6.6rem 5.2rem 7rem minmax(0, 1fr); gap: 10px; align-items: center;
  padding: 6px 18px; border-bottom: 1px solid #f1f5f9; font-size: 13px;
}
.act time { color: var(--muted); font-variant-numeric: tabular-nums; font-size: 12px; }
.act .tag {
  justify-self: start; padding: 1px 8px; border-radius: 999px; font-size: 11px; font-weight: 600;
  text-transform: uppercase; letter-spacing: 0.4px;
}
.act[data-kind="admitted"] .tag { background: #dcfce7; color: #166534; }
.act[data-kind="rejected"] .tag { background: #fee2e2; color: #991b1b; }
.act[data-kind="evicted"] .tag { background: #fef3c7; color: #92400e; }
.act[data-kind="capacity"] .tag { background: #e0e7ff; color: #3730a3; }
.act[data-kind="store"] .tag { background: #fce7f3; color: #9d174d; }
.act[data-kind="incarnation"] .tag { background: #f3e8ff; color: #6b21a8; }
.act .who { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
/* A refusal's reason is what the operator came for: it wraps rather than being cut off. */
.act .what { color: var(--muted); overflow-wrap: anywhere; }
.act.fresh { animation: fresh 1.2s ease-out; }
/*
 * A Cluster card row has three cells (tag, id, details), not an event's four: in the events'
 * grid its details fell in the 7 rem column and broke mid-word over four or five lines.
 */
.cluster-list .act { grid-template-columns: 5.2rem clamp(8rem, 25%, 16rem) minmax(0, 1fr); }
@keyframes fresh { from { background: #eff6ff; } to { background: transparent; } }
/*
 * Side by side only above 1200 px, where each card is at least 560 px wide: at 1000 px a card
 * would be 462 px and an event's details would get about 90 px, wrapping every event. Stacked,
 * the bars list is bounded to nine and a half rows (the busiest users come first; the half row
 * says the rest scroll inside the card), so the newest events stay on a 900 px high first
 * screen. The scale keeps a scrollbar's gutter too, so its marks stay over the bars' ends.
 */
@media (max-width: 1200px) {
  .columns { grid-template-columns: minmax(0, 1fr); }
  .users { max-height: 21.5rem; overflow-y: auto; scrollbar-gutter: stable; }
  .axis { overflow: hidden; scrollbar-gutter: stable; }
}
@media (max-width: 1000px) {
  #updated { display: none; }
  .metrics { grid-template-columns: repeat(3, minmax(0, 1fr)); }
}
/*
 * A phone: the settings take a line of their own under the title and the badge; a user's
 * bar and an event's details get the row's whole width, on a line under the id and the
 * counts (side by side, three fixed columns left the bar no width at all). The chart keeps a
 * readable size and scrolls sideways in its card, not the page.
 */
@media (max-width: 600px) {
  header { padding: 10px 14px; gap: 4px 12px; }
  header h1 { font-size: 16px; }
  header #config { order: 1; flex-basis: 100%; }
  main { padding: 12px 10px 24px; gap: 12px; }
  .metrics { gap: 8px; }
  .metric { padding: 8px 10px; }
  .metric .label { font-size: 11px; letter-spacing: 0.2px; }
  .metric .value { font-size: 22px; }
  .card > h2 { padding: 10px 14px; }
  .axis, .user { grid-template-columns: minmax(0, 1fr) auto; gap: 4px 12px; }
  .axis { padding: 8px 14px 0; }
  .axis > span { display: none; }
  .axis .scale, .user .bar { grid-column: 1 / -1; }
  .user .bar { grid-row: 2; }
  .users { padding: 4px 14px 12px; max-height: none; overflow-y: visible; scrollbar-gutter: auto; }
  .axis { overflow: visible; scrollbar-gutter: auto; }
  .legend { gap: 6px 14px; padding: 8px 14px 12px; }
  .act { grid-template-columns: auto auto minmax(0, 1fr); gap: 2px 10px; padding: 6px 14px; }
  .act .who { white-space: normal; overflow-wrap: anywhere; }
  .act .what { grid-column: 1 / -1; }
  .cluster-list .act { grid-template-columns: auto minmax(0, 1fr); }
  #chart { overflow-x: auto; padding: 8px 4px 0; }
  #chart svg { min-width: 720px; }
}
`;

// No backticks and no dollar-brace in here: this is a template literal.
const script = String.raw`
(() => {
  'use strict';
  const SVG = 'http://www.w3.org/2000/svg';
  // As many entries as the server's log keeps (its activityCapacity option), which the snapshot says.
  let maxActivity = 50;
  // The dashboard's own path (the page is served at <base> and <base>/): its
  // chart and events are under it, wherever the app mounted the dashboard.
  const base = location.pathname.replace(/\/+$/, '');
  const STATES = [
    ['connecting', 'var(--connecting)', 'connecting'],
    ['active', 'var(--active)', 'active (live + idle)'],
    ['active.activity.live', 'var(--live)', 'live'],
    ['active.activity.idle', 'var(--idle)', 'idle'],
    ['draining', 'var(--draining)', 'draining'],
    ['disposed', 'var(--disposed)', 'disposed (total)'],
  ];
  const byId = (id) => document.getElementById(id);
  const el = (tag, className, text) => {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = String(text);
    return node;
  };

  let stats = null;
  const badges = new Map();
  const rows = new Map();

  // The chart: inline SVG (so CSS and counts can reach into it), one count badge per state.
  async function loadChart() {
    const response = await fetch(base + '/chart.svg' + location.search);
    // 501: elkjs is not installed, and the one-line answer says what to run.
    if (!response.ok) throw new Error('HTTP ' + response.status + (response.status === 501 ? ': ' + (await response.text()).trim() : ''));
    const parsed = new DOMParser().parseFromString(await response.text(), 'image/svg+xml');
    const svg = document.importNode(parsed.documentElement, true);
    // Drawn at most at its own size: scaled up to a wide screen's width, it was taller than two screens.
    const width = Number(svg.getAttribute('width'));
    if (width > 0) svg.style.maxWidth = width + 'px';
    svg.removeAttribute('width');
    svg.removeAttribute('height');
    byId('chart').replaceChildren(svg);
    const layer = document.createElementNS(SVG, 'g');
    layer.setAttribute('class', 'counts');
    svg.appendChild(layer);
    for (const [id, color, title] of STATES) {
      const group = svg.querySelector('g.state[data-state="' + id + '"]');
      if (!group) continue;
      group.style.setProperty('--c', color);
      // The state's own box is its first rect; the chart is drawn in absolute coordinates.
      const box = (group.querySelector(':scope > rect') || group).getBBox();
      const badge = document.createElementNS(SVG, 'g');
      badge.setAttribute('class', 'count zero');
      badge.setAttribute('data-count-for', id);
      badge.style.setProperty('--c', color);
      const hint = document.createElementNS(SVG, 'title');
      hint.textContent = title;
      const pill = document.createElementNS(SVG, 'rect');
      pill.setAttribute('height', '24');
      pill.setAttribute('rx', '12');
      const text = document.createElementNS(SVG, 'text');
      text.setAttribute('text-anchor', 'middle');
      text.setAttribute('dominant-baseline', 'central');
      badge.append(hint, pill, text);
      layer.appendChild(badge);
      // Centred just off the top right corner: on a narrow box (disposed) it would cover the state's name.
      badges.set(id, { group, badge, pill, text, x: box.x + box.width + 2, y: box.y - 4 });
    }
    if (stats) drawCounts(stats.states);
  }

  function drawCounts(states) {
    for (const [id, entry] of badges) {
      const count = states[id] ?? 0;
      const label = String(count);
      const width = Math.max(30, 14 + label.length * 9);
      entry.text.textContent = label;
      entry.text.setAttribute('x', String(entry.x));
      entry.text.setAttribute('y', String(entry.y));
      entry.pill.setAttribute('x', String(entry.x - width / 2));
      entry.pill.setAttribute('y', String(entry.y - 12));
      entry.pill.setAttribute('width', String(width));
      entry.badge.setAttribute('data-count', label);
      entry.badge.classList.toggle('zero', count === 0);
      // disposed is a running total, not a place where connections wait.
      entry.group.classList.toggle('occupied', count > 0 && id !== 'disposed');
    }
  }

  // The header and the legend say T the same way: 0 (evictionThreshold 0) is "at once", not "at 0".
  function evictWords(evictAt) {
    return evictAt === 0 ? 'idle ones evicted at once' : 'idle ones evicted from ' + evictAt + ' live';
  }

  function drawStats(next) {
    stats = next;
    byId('m-connections').textContent = next.connections;
    byId('m-users').textContent = next.users;
    byId('m-admitted').textContent = next.counters.admitted;
    byId('m-rejected').textContent = next.counters.rejected;
    byId('m-evicted').textContent = next.counters.evicted;
    byId('m-disposed').textContent = next.counters.disposed;
    const cluster = next.cluster
      ? ' \u00b7 cluster node ' + next.cluster.nodeId + ' (incarnation ' + next.cluster.incarnation + ', ' +
        (next.cluster.leaseHeld ? 'lease held' : 'no lease') + ', store ' + next.cluster.breaker +
        (next.cluster.unavailableShards.length > 0
          ? ', masters away: ' + next.cluster.unavailableShards.join(', ')
          : '') +
        (next.cluster.unsynced > 0 ? ', ' + next.cluster.unsynced + ' unsynced' : '') + ')'
      : '';
    byId('config').textContent =
      'limit ' + next.limit + ' per user \u00b7 ' + evictWords(next.evictAt) + cluster;
    drawCounts(next.states);
    drawUsers(next);
    if (next.cluster && clusterTimer === null) {
      byId('cluster').hidden = false;
      loadCluster();
      clusterTimer = setInterval(loadCluster, ${clusterPollMs});
    }
    byId('updated').textContent = 'updated ' + clock(Date.now());
  }

  // Cluster mode: the nodes and the users' cluster-wide books cost a store round
  // trip per user, so they are asked for every ${clusterPollMs / 1000} s rather than pushed (and the
  // server reads them at most once in that time, for every page).
  let clusterTimer = null;
  function loadCluster() {
    fetch(base + '/cluster' + location.search)
      .then((response) => (response.ok ? response.json() : Promise.reject(new Error('HTTP ' + response.status))))
      .then(drawCluster, (error) => {
        byId('cluster-note').textContent = 'The cluster-wide view is unavailable: ' + error.message;
      });
  }

  function drawCluster(view) {
    // A Redis Cluster master away: what answered is shown, and what did not is said.
    const unread = view.unread ? view.unread.nodes + view.unread.users : 0;
    byId('cluster-note').textContent =
      (unread > 0 || view.capped ? 'at least ' : '') +
      view.users + ' users, ' + view.connections + ' connections across ' + view.nodes.length + ' nodes' +
      (unread > 0 ? ' (not read: ' + view.unread.nodes + ' node lists, ' + view.unread.users + ' user books)' : '') +
      // Bounded: the totals of the first books read, of about this many users booked.
      (view.capped ? ' (from ' + view.capped.read + ' of about ' + view.capped.booked + ' booked users’ books, the most one view reads)' : '') +
      (view.perUserUnread ? ' \u00b7 ' + view.perUserUnread + ' shown users’ books did not answer' : '') +
      // Another page may have asked first: the server answers with the view it read then.
      ' \u00b7 read at ' + clock(view.readAt);
    byId('cluster-nodes').replaceChildren(
      ...view.nodes.map((node) => {
        const li = el('li', 'act');
        li.dataset.node = node.nodeId;
        const lease = node.leaseExpiresInMs >= 0 ? 'lease ' + Math.ceil(node.leaseExpiresInMs / 1000) + ' s left' : 'lease expired';
        // The id is cut off in its column: the whole of it on hover (a title is text, never markup).
        const who = el('span', 'who', node.nodeId);
        who.title = node.nodeId;
        li.append(el('span', 'tag', 'node'), who, el('span', 'what', 'incarnation ' + node.incarnation + ' \u00b7 ' + lease));
        return li;
      }),
    );
    byId('cluster-users').replaceChildren(
      ...view.perUser.map((book) => {
        const li = el('li', 'act');
        li.dataset.user = book.userId;
        const where = Object.entries(book.byNode).map(([node, count]) => node + ' ' + count).join(', ');
        const who = el('span', 'who', book.userId);
        who.title = book.userId;
        // Replaced by a reconnect, not released yet (a dead node's until its lease runs out): apart, as admission counts.
        const replaced = book.superseded ? ' \u00b7 ' + book.superseded.count + ' superseded' : '';
        li.append(el('span', 'tag', 'user'), who, el('span', 'what', book.live + ' live, ' + book.idle + ' idle \u00b7 ' + where + replaced));
        return li;
      }),
    );
  }

  function drawUsers(next) {
    const list = byId('users');
    const scale = byId('scale');
    // One tick per slot while they fit; the threshold and the limit always (once each: T may be 0).
    const ticks =
      next.limit <= 20
        ? Array.from({ length: next.limit + 1 }, (_, i) => i)
        : [...new Set([0, next.evictAt, next.limit])];
    scale.replaceChildren(
      ...ticks.map((tick) => {
        const kind = tick === next.limit ? 'limit' : tick === next.evictAt ? 'evict' : '';
        const label = el('span', kind, tick);
        label.style.left = (100 * tick) / next.limit + '%';
        if (kind) label.title = kind === 'limit' ? 'limit' : 'eviction threshold';
        return label;
      }),
    );
    byId('evict-legend').textContent = evictWords(next.evictAt);
    byId('limit-legend').textContent = 'limit ' + next.limit;
    const seen = new Set();
    for (const user of next.perUser) {
      seen.add(user.userId);
      let row = rows.get(user.userId);
      if (!row) row = makeRow(user.userId);
      const slots = Math.max(1, user.limit);
      row.li.dataset.live = String(user.live);
      row.li.dataset.idle = String(user.idle);
      // T 0 (evictionThreshold 0) evicts every idle one at once: no row is nearer to it than another.
      row.li.classList.toggle('warn', user.evictAt > 0 && user.live >= user.evictAt && user.live < user.limit);
      row.li.classList.toggle('full', user.live >= user.limit);
      row.bar.style.setProperty('--slots', String(Math.min(slots, 50)));
      // A user above its limit (a plan lowered while it held more) fills its bar, no further.
      const busy = Math.min(slots, Math.max(0, user.live - user.idle));
      row.busy.style.width = (100 * busy) / slots + '%';
      row.idle.style.width = (100 * Math.min(user.idle, slots - busy)) / slots + '%';
      row.evict.style.left = (100 * user.evictAt) / slots + '%';
      row.live.textContent = user.live;
      row.limit.textContent = ' / ' + user.limit;
      const extra = [];
      if (user.idle > 0) extra.push(user.idle + ' idle');
      if (user.draining > 0) extra.push(user.draining + ' draining');
      row.extra.textContent = extra.length ? ' \u00b7 ' + extra.join(', ') : '';
      list.appendChild(row.li); // keeps the server's order (busiest first)
    }
    for (const [userId, row] of rows) {
      if (!seen.has(userId)) {
        row.li.remove();
        rows.delete(userId);
      }
    }
    byId('users-empty').hidden = next.perUser.length > 0;
    byId('users-more').hidden = next.moreUsers === 0;
    byId('users-more').textContent = 'and ' + next.moreUsers + ' more users';
  }

  function makeRow(userId) {
    const li = el('li', 'user');
    li.dataset.user = userId;
    const id = el('span', 'user-id', userId);
    id.title = userId;
    const bar = el('div', 'bar');
    const fill = el('div', 'fill');
    const busy = el('div', 'seg busy');
    const idle = el('div', 'seg idle');
    busy.title = 'live, in use';
    idle.title = 'live, idle (evictable)';
    fill.append(busy, idle);
    const evict = el('div', 'mark evict');
    evict.title = 'eviction threshold';
    const limitMark = el('div', 'mark limit');
    limitMark.title = 'limit';
    bar.append(fill, evict, limitMark);
    const nums = el('span', 'user-nums');
    const live = el('b', 'user-live');
    const limit = el('span', '');
    const extra = el('span', 'user-extra');
    nums.append(live, limit, extra);
    li.append(id, bar, nums);
    const row = { li, bar, busy, idle, evict, live, limit, extra };
    rows.set(userId, row);
    return row;
  }

  const clock = (at) => {
    const d = new Date(at);
    const two = (n) => String(n).padStart(2, '0');
    return two(d.getHours()) + ':' + two(d.getMinutes()) + ':' + two(d.getSeconds()) + '.' +
      String(d.getMilliseconds()).padStart(3, '0');
  };
  const shortId = (id) => (id ? '\u2026' + id.slice(-6) : '');
  // The close reason the evicted client read, by the event's cause.
  const evictionReasons = ${JSON.stringify(EVICTION_REASONS)};
  const tags = {
    admitted: 'admitted',
    rejected: 'refused',
    evicted: 'evicted',
    capacity: 'capacity',
    store: 'store',
    incarnation: 'incarnation',
  };

  function activityItem(entry) {
    const li = el('li', 'act');
    li.dataset.kind = entry.kind;
    li.dataset.user = entry.userId ?? '';
    const what =
      entry.kind === 'rejected'
        ? (entry.status === undefined ? 'no answer' : 'HTTP ' + entry.status) + ' \u00b7 ' + entry.reason
        : entry.kind === 'evicted'
          ? 'connection ' + shortId(entry.connectionId) + ' \u00b7 ' +
            (evictionReasons[entry.evictionCause] ?? 'evicted') + ', close 4001'
          : entry.kind === 'capacity'
            ? (entry.direction === 'up' ? 'reached ' : 'back below ') + Math.round(entry.level * 100) +
              '% of the limit \u00b7 ' + entry.live + ' live'
            : entry.kind === 'store'
              ? 'breaker ' + entry.breaker + (entry.shard === undefined ? '' : ' \u00b7 master ' + entry.shard) +
                (entry.breaker === 'open' ? ' \u00b7 policy ' + entry.policy : '')
              : entry.kind === 'incarnation'
                ? 'incarnation ' + entry.incarnation + ' (was ' + entry.previous + ') \u00b7 ' + entry.cause
                : 'connection ' + shortId(entry.connectionId);
    // Cluster events are the node's: its id where a user's goes.
    const node = entry.kind === 'store' || entry.kind === 'incarnation';
    const who = el('span', 'who', (node ? entry.nodeId : entry.userId) ?? '\u2014');
    who.title = node ? 'node ' + entry.nodeId : (entry.userId ?? 'no valid user id');
    li.append(el('time', '', clock(entry.at)), el('span', 'tag', tags[entry.kind] ?? entry.kind), who, el('span', 'what', what));
    return li;
  }

  // The list is the only copy of the entries: a snapshot redraws it, an event adds one at the top
  // and drops the oldest (no array beside it, which was copied on every event and never read).
  function drawActivity(entries) {
    const list = byId('activity');
    list.replaceChildren(...entries.slice(-maxActivity).reverse().map(activityItem));
    byId('activity-empty').hidden = entries.length > 0;
  }

  function addActivity(entry) {
    const list = byId('activity');
    const li = activityItem(entry);
    li.classList.add('fresh');
    list.prepend(li);
    while (list.children.length > maxActivity) list.lastElementChild.remove();
    byId('activity-empty').hidden = true;
  }

  function setStatus(text, kind) {
    const status = byId('status');
    status.textContent = text;
    status.className = 'status ' + kind;
  }

  const legend = byId('legend');
  for (const [, color, title] of STATES) {
    const item = el('span');
    const swatch = el('i');
    swatch.style.setProperty('--c', color);
    item.append(swatch, title);
    legend.appendChild(item);
  }

  loadChart().catch((error) => {
    byId('chart').replaceChildren(el('div', 'placeholder', 'The state chart could not be loaded: ' + error.message));
  });

  // The page's own query (e.g. ?token=) goes on to the chart and the events:
  // an EventSource cannot set an Authorization header.
  const events = new EventSource(base + '/events' + location.search);
  events.addEventListener('open', () => setStatus('live', 'live'));
  events.addEventListener('error', () =>
    setStatus(events.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting', 'down'),
  );
  events.addEventListener('snapshot', (message) => {
    const data = JSON.parse(message.data);
    if (Number.isInteger(data.activityCapacity) && data.activityCapacity > 0) {
      maxActivity = data.activityCapacity;
      byId('activity-limit').textContent = String(maxActivity);
    }
    drawActivity(data.activity);
    drawStats(data.stats);
  });
  events.addEventListener('stats', (message) => drawStats(JSON.parse(message.data)));
  events.addEventListener('activity', (message) => addActivity(JSON.parse(message.data)));
})();
`;

const body = `
<header>
  <h1>ws-supervisor <span>live dashboard</span></h1>
  <span class="config" id="config"></span>
  <span class="spacer"></span>
  <span class="config" id="updated"></span>
  <span class="status" id="status">connecting</span>
</header>
<main>
  <section class="metrics" aria-label="Totals">
    <div class="metric"><div class="label">Connections</div><div class="value" id="m-connections">–</div></div>
    <div class="metric"><div class="label">Users</div><div class="value" id="m-users">–</div></div>
    <div class="metric"><div class="label">Admitted</div><div class="value" id="m-admitted">–</div></div>
    <div class="metric"><div class="label">Refused</div><div class="value" id="m-rejected">–</div></div>
    <div class="metric"><div class="label">Evicted</div><div class="value" id="m-evicted">–</div></div>
    <div class="metric"><div class="label">Disposed</div><div class="value" id="m-disposed">–</div></div>
  </section>
  <div class="columns">
    <section class="card" aria-labelledby="users-title">
      <h2 id="users-title">Capacity per user <small>live connections against the eviction threshold and the limit</small></h2>
      <div class="axis"><span></span><div class="scale" id="scale"></div><span></span></div>
      <ol class="users" id="users"></ol>
      <div class="empty" id="users-empty">No user is connected.</div>
      <div class="more" id="users-more" hidden></div>
      <div class="legend">
        <span><i class="busy"></i>in use</span><span><i class="idle"></i>idle</span>
        <span><i class="evict-mark"></i><b id="evict-legend">eviction threshold</b></span>
        <span><i class="limit-mark"></i><b id="limit-legend">limit</b></span>
      </div>
    </section>
    <section class="card" aria-labelledby="activity-title">
      <h2 id="activity-title">Latest events <small>admissions, refusals and evictions, newest first (last <span id="activity-limit">50</span>)</small></h2>
      <ol class="activity" id="activity"></ol>
      <div class="empty" id="activity-empty">Nothing has happened yet.</div>
    </section>
  </div>
  <section class="card" aria-labelledby="cluster-title" id="cluster" hidden>
    <h2 id="cluster-title">Cluster <small>every node with a lease, and the cluster-wide books of the users above (every ${clusterPollMs / 1000} s)</small></h2>
    <div class="more" id="cluster-note"></div>
    <ol class="activity cluster-list" id="cluster-nodes"></ol>
    <ol class="activity cluster-list" id="cluster-users"></ol>
  </section>
  <section class="card" aria-labelledby="chart-title">
    <h2 id="chart-title">Connection states <small>live count of connections in each state of the connection actor</small></h2>
    <div id="chart"><div class="placeholder">Loading the state chart…</div></div>
    <div class="legend" id="legend"></div>
  </section>
</main>`;

const favicon = `data:image/svg+xml,${encodeURIComponent(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="4" fill="#2563eb"/>' +
    '<circle cx="8" cy="8" r="3.5" fill="#fff"/></svg>',
)}`;

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

export const dashboardPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ws-supervisor · dashboard</title>
<link rel="icon" href="${favicon}">
<style>${style}</style>
</head>
<body>${body}
<script>${script}</script>
</body>
</html>
`;

/** Only this page's own script and style sheet run, and it talks only to this origin. */
export const dashboardCsp = [
  "default-src 'none'",
  `script-src ${hash(script)}`,
  `style-src ${hash(style)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
