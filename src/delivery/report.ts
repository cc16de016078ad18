// The transition report (`livepatch apply --report out.html`, `livepatch demo`): one self-contained HTML
// file, inline SVG and CSS, no script and nothing fetched at view time. Per process: requests finished
// per time bin by the code version they ended on (stacked areas), the transition's start, signals,
// reverse and end marked, the blockers with file:line, and latency percentiles before, during and after.

import { writeFileSync } from 'node:fs';
import type { ApplyResult } from './apply.js';
import type { Blocker, DeliveryEvent } from './follow.js';
import type { RequestRecord } from './requests.js';
import { ms } from './render.js';

type Version = 'old' | 'new';

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

interface Phases {
  start: number;
  end: number;
  /** The patch's code runs after the end (complete or forced). */
  applied: boolean;
}

function phasesOf(events: DeliveryEvent[]): Phases | null {
  const start = events.find((e) => e.event === 'start');
  const end = events.find((e) => e.event === 'complete');
  if (!start || !end || end.event !== 'complete') return null;
  return { start: start.at, end: end.at, applied: end.outcome === 'complete' || end.outcome === 'forced' };
}

/** The version a request ended on: its task's patch state during the transition, the phase's code otherwise. */
function versionOf(r: RequestRecord, ph: Phases): Version {
  const [, ended, patchState, patch] = r;
  if (patch !== null) return patchState === 1 ? 'new' : 'old';
  if (ended < ph.start) return 'old';
  if (ended > ph.end) return ph.applied ? 'new' : 'old';
  return patchState === 1 ? 'new' : 'old';
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const sum = (list: number[]): number => list.reduce((a, b) => a + b, 0);

const W = 900;
const H = 260;
const PAD = { l: 50, r: 20, t: 20, b: 30 };

function chart(res: ApplyResult, ph: Phases): string {
  const recs = res.requests;
  const t0 = Math.min(ph.start, ...recs.map((r) => r[1]));
  const t1 = Math.max(ph.end, ...recs.map((r) => r[1]));
  const span = Math.max(t1 - t0, 1);
  const bins = Math.max(10, Math.min(120, Math.ceil(span / 100)));
  const binMs = span / bins;
  const counts = { old: new Array<number>(bins).fill(0), new: new Array<number>(bins).fill(0) };
  for (const r of recs) counts[versionOf(r, ph)][Math.min(bins - 1, Math.floor((r[1] - t0) / binMs))]++;
  const top = Math.max(1, ...counts.old.map((n, i) => n + counts.new[i]));
  const x = (t: number) => PAD.l + ((t - t0) / span) * (W - PAD.l - PAD.r);
  const y = (n: number) => H - PAD.b - (n / top) * (H - PAD.t - PAD.b);
  const binX = (i: number) => x(t0 + (i + 0.5) * binMs);
  // Stacked: old at the bottom, new above it.
  const area = (lower: number[], upper: number[]) => {
    const up = upper.map((n, i) => `${binX(i).toFixed(1)},${y(n).toFixed(1)}`);
    const down = lower.map((n, i) => `${binX(i).toFixed(1)},${y(n).toFixed(1)}`).reverse();
    return `M${up.join('L')}L${down.join('L')}Z`;
  };
  const zero = counts.old.map(() => 0);
  const stacked = counts.old.map((n, i) => n + counts.new[i]);
  const markers = res.events
    .filter((e) => e.event === 'start' || e.event === 'signal' || e.event === 'reverse' || e.event === 'complete')
    .map((e) => {
      const label = e.event === 'start' ? 'transition start' : e.event === 'complete' ? `end: ${e.outcome}` : e.event === 'reverse' ? `reverse (${e.reason})` : 'fake signal';
      const xx = x(e.at).toFixed(1);
      return `<g class="marker" data-event="${e.event}"><line x1="${xx}" x2="${xx}" y1="${PAD.t}" y2="${H - PAD.b}"/><text x="${xx}" y="${PAD.t - 6}">${esc(label)}</text></g>`;
    });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const t = t0 + f * span;
    return `<text class="tick" x="${x(t).toFixed(1)}" y="${H - 10}" text-anchor="${f === 0 ? 'start' : f === 1 ? 'end' : 'middle'}">${ms(Math.round(t - ph.start))}</text>`;
  });
  return `<svg class="requests" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="requests over time per code version">
<rect class="frame" x="${PAD.l}" y="${PAD.t}" width="${W - PAD.l - PAD.r}" height="${H - PAD.t - PAD.b}"/>
<path class="series old" data-version="old" data-count="${sum(counts.old)}" d="${area(zero, counts.old)}"/>
<path class="series new" data-version="new" data-count="${sum(counts.new)}" d="${area(counts.old, stacked)}"/>
<text class="tick" x="${PAD.l - 6}" y="${y(top) + 4}" text-anchor="end">${top}</text>
<text class="tick" x="${PAD.l - 6}" y="${H - PAD.b}" text-anchor="end">0</text>
${ticks.join('\n')}
${markers.join('\n')}
</svg>
<p class="legend"><span class="swatch old"></span>old code <span class="swatch new"></span>new code (the patch) — requests finished per ${ms(Math.round(binMs))}, by the version they ended on; time from the transition's start</p>`;
}

function latencyTable(res: ApplyResult, ph: Phases): string {
  const phase = (r: RequestRecord) => (r[1] < ph.start ? 'before' : r[1] <= ph.end ? 'during' : 'after');
  const rows = (['before', 'during', 'after'] as const).map((name) => {
    const d = res.requests.filter((r) => phase(r) === name).map((r) => r[1] - r[0]).sort((a, b) => a - b);
    const cell = (p: number) => (d.length ? `${percentile(d, p)} ms` : '–');
    return `<tr data-phase="${name}"><td>${name}</td><td>${d.length}</td><td>${cell(50)}</td><td>${cell(90)}</td><td>${cell(99)}</td><td>${d.length ? `${d[d.length - 1]} ms` : '–'}</td></tr>`;
  });
  return `<table class="latency"><thead><tr><th>phase</th><th>requests</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function blockersTable(list: Blocker[]): string {
  if (list.length === 0) return '<p class="blockers none">no task held the transition</p>';
  const rows = list.map((b) => `<tr><td>${esc(b.task)}</td><td>${esc(b.func)}</td><td class="where">${esc(b.where)}</td><td>${b.exact ? '' : '≤'}${ms(b.insideMs)}</td></tr>`);
  return `<table class="blockers"><thead><tr><th>task</th><th>function</th><th>file:line</th><th>inside for</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** Every task that held a transition that completed, as last seen (the longest it was inside). */
function heldDuring(events: DeliveryEvent[]): Blocker[] {
  const last = new Map<string, Blocker>();
  for (const e of events) if (e.event === 'progress') for (const b of e.blockers) last.set(`${b.id} ${b.func}`, b);
  return [...last.values()];
}

function section(res: ApplyResult): string {
  const ph = phasesOf(res.events);
  if (!ph) return `<section class="process" data-pid="${res.pid}"><h2>pid ${res.pid}</h2><p class="refused">${esc(res.error ? `${res.error.code}: ${res.error.message}` : 'no transition')}</p></section>`;
  const end = res.events.find((e) => e.event === 'complete');
  const blockers = end?.event === 'complete' && end.blockers.length ? end.blockers : heldDuring(res.events);
  const timeline = res.events
    .filter((e) => e.event !== 'progress')
    .map((e) => `<li data-event="${e.event}">+${ms(e.at - ph.start)} ${esc(e.event)}${e.event === 'complete' ? `: ${e.outcome} (exit ${e.exit})` : e.event === 'signal' ? `: ${e.tasks.length} task${e.tasks.length === 1 ? '' : 's'}` : e.event === 'reverse' ? `: ${e.reason}` : ''}</li>`);
  return `<section class="process" data-pid="${res.pid}">
<h2>pid ${res.pid}: ${end?.event === 'complete' ? esc(end.outcome) : ''} after ${ms(ph.end - ph.start)}</h2>
${chart(res, ph)}
<h3>events</h3><ul class="timeline">${timeline.join('')}</ul>
<h3>what held the transition${end?.event === 'complete' && end.blockers.length ? ' at its end' : ''}</h3>${blockersTable(blockers)}
<h3>latency (request start to end)</h3>${latencyTable(res, ph)}
</section>`;
}

const CSS = `body{font:14px system-ui,sans-serif;margin:24px;color:#222}svg{background:#fafafa}
.frame{fill:none;stroke:#ccc}.series.old{fill:#8aa4c8}.series.new{fill:#e8a33d}
.marker line{stroke:#c0392b;stroke-dasharray:4 3}.marker text,.tick{font-size:11px;fill:#555}
.swatch{display:inline-block;width:12px;height:12px;margin:0 4px}.swatch.old{background:#8aa4c8}.swatch.new{background:#e8a33d}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}`;

/** Write the report of `results` to `file`; returns the file. */
export function writeReport(file: string, patch: string, results: ApplyResult[]): string {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>livepatch: ${esc(patch)}</title><style>${CSS}</style></head>
<body><h1>livepatch transition report: '${esc(patch)}'</h1>
${results.map(section).join('\n')}
</body></html>
`;
  writeFileSync(file, html);
  return file;
}
