/**
 * The page of `sktrace view`. It asks the view server (lib/view/server.ts) for one small document
 * at a time: the summary first (rendered at once), then the timeline, the object list and the
 * lifecycles; an object's versions and a diff only when one is selected. The URL's query holds
 * the view (filters, zoom window, selected object and version), so a link shows the same thing.
 *
 * Libraries (bundled by esbuild, nothing loaded from elsewhere): ECharts for the zoomable timeline
 * and the lifecycle Gantt chart, jsondiffpatch for the diff between consecutive versions.
 */
import { CustomChart, ScatterChart } from 'echarts/charts';
import { DataZoomComponent, GridComponent, TooltipComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';
import { create as createDiffer } from 'jsondiffpatch';
import * as htmlFormatter from 'jsondiffpatch/formatters/html';
import 'jsondiffpatch/formatters/styles/html.css';
import type {
  FindingsDoc,
  LifecyclesDoc,
  ObjectDoc,
  ObjectsDoc,
  SummaryDoc,
  TimelineDoc,
  VersionDoc,
} from '../lib/view/model.ts';
import './style.css';

echarts.use([ScatterChart, CustomChart, GridComponent, DataZoomComponent, TooltipComponent, CanvasRenderer]);

// ---------------------------------------------------------------------------------------------
// View state, kept in the URL's query.

interface ViewState {
  kind: string;
  ns: string;
  q: string;
  from?: number;
  to?: number;
  problems: boolean;
  /** Selected object: `gvk nsName` (a space never occurs in either). */
  obj?: string;
  /** Selected version of it (index; default the last). */
  v?: number;
  /** Show unchanged fields in the diff. */
  all: boolean;
}

function readState(): ViewState {
  const p = new URLSearchParams(location.search);
  const int = (name: string) => {
    const raw = p.get(name);
    return raw !== null && /^-?\d+$/.test(raw) ? Number(raw) : undefined;
  };
  const state: ViewState = {
    kind: p.get('kind') ?? '',
    ns: p.get('ns') ?? '',
    q: p.get('q') ?? '',
    problems: p.get('problems') === '1',
    all: p.get('all') === '1',
  };
  const from = int('from');
  const to = int('to');
  const v = int('v');
  const obj = p.get('obj');
  if (from !== undefined) state.from = from;
  if (to !== undefined) state.to = to;
  if (v !== undefined) state.v = v;
  if (obj) state.obj = obj;
  return state;
}

function writeState(push = false): void {
  const p = new URLSearchParams();
  if (state.kind) p.set('kind', state.kind);
  if (state.ns) p.set('ns', state.ns);
  if (state.q) p.set('q', state.q);
  if (state.from !== undefined) p.set('from', String(state.from));
  if (state.to !== undefined) p.set('to', String(state.to));
  if (state.problems) p.set('problems', '1');
  if (state.obj) p.set('obj', state.obj);
  if (state.v !== undefined) p.set('v', String(state.v));
  if (state.all) p.set('all', '1');
  const url = `${location.pathname}${p.size ? `?${p}` : ''}`;
  if (push) history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}

let state = readState();

// ---------------------------------------------------------------------------------------------
// Small helpers: element builder (text only through textContent), fetch, time formatting.

type Child = Node | string | number | null | undefined | false;

function h(
  tag: string,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function byId(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el;
}

async function api<T>(path: string, params: Record<string, string | number | undefined> = {}): Promise<T> {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') p.set(k, String(v));
  const res = await fetch(`/api/${path}${p.size ? `?${p}` : ''}`);
  const body = (await res.json()) as T & { error?: { message: string } };
  if (!res.ok) throw new Error(body.error?.message ?? `${path}: HTTP ${res.status}`);
  return body;
}

function iso(tsSec: number): string {
  return new Date(tsSec * 1000).toISOString().replace('.000Z', 'Z');
}

function clock(tsSec: number): string {
  return iso(tsSec).slice(11, 20);
}

function duration(sec: number): string {
  if (sec < 120) return `${sec} s`;
  if (sec < 7200) return `${Math.round(sec / 60)} min`;
  return `${(sec / 3600).toFixed(1)} h`;
}

/** `apps/v1.Deployment` → `Deployment`. */
function kindName(gvk: string): string {
  return gvk.slice(gvk.lastIndexOf('.') + 1);
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
}

function objKey(gvk: string, nsName: string): string {
  return `${gvk} ${nsName}`;
}

function splitKey(key: string): { gvk: string; nsName: string } {
  const at = key.indexOf(' ');
  return { gvk: key.slice(0, at), nsName: key.slice(at + 1) };
}

const INDEX_LABEL: Record<string, string> = {
  match: 'index ✓',
  'document-order': 'index ✓ (old key order)',
  mismatch: 'index ≠',
  missing: 'not in events',
  unindexed: 'not indexed',
};

function indexBadge(status: string): HTMLElement {
  const ok = status === 'match' || status === 'document-order';
  return h(
    'span',
    { class: `badge ${ok ? 'ok' : 'bad'}`, title: `index check: ${status}` },
    INDEX_LABEL[status] ?? status,
  );
}

function showError(where: HTMLElement, err: unknown): void {
  where.replaceChildren(h('p', { class: 'error' }, `error: ${(err as Error).message}`));
}

// ---------------------------------------------------------------------------------------------
// Summary (first paint).

let summary: SummaryDoc;

function renderSummary(doc: SummaryDoc): void {
  const s = doc.summary;
  const ic = doc.indexCheck;
  document.title = `sktrace view: ${doc.source.label}`;
  byId('source').replaceChildren(
    h('strong', {}, doc.source.label),
    ` — SimKube trace v${s.version} (${doc.source.format}, ${plural(doc.source.bytes, 'byte')})`,
  );
  const okIndex = ic.mismatched === 0 && ic.missing === 0 && ic.unindexed === 0;
  const cards: HTMLElement[] = [
    card(
      'Window',
      s.window ? `${duration(s.window.lastTs - s.window.firstTs)}` : 'no events',
      s.window ? `${iso(s.window.firstTs)} → ${iso(s.window.lastTs)}` : '',
    ),
    card('Events', plural(s.events, 'event'), s.emptyEvents ? `${s.emptyEvents} empty` : ''),
    card(
      'Objects',
      plural(
        Object.values(s.kinds).reduce((n, k) => n + k.objects, 0),
        'object',
      ),
      `${plural(Object.keys(s.kinds).length, 'kind')}`,
    ),
    card(
      'Index check',
      `${ic.matched + ic.matchedDocumentOrder} of ${ic.entries}`,
      okIndex
        ? "every stored hash equals SimKube's, recomputed"
        : [
            ic.mismatched && `${ic.mismatched} differ`,
            ic.missing && `${ic.missing} not in events`,
            ic.unindexed && `${ic.unindexed} not indexed`,
          ]
            .filter(Boolean)
            .join(', '),
      okIndex ? 'ok' : 'bad',
    ),
    card(
      'Pod lifecycles',
      plural(s.lifecycles.lifecycles, 'lifecycle'),
      plural(s.lifecycles.owners, 'owner'),
    ),
  ];
  if (doc.findings) {
    const f = doc.findings;
    cards.push(
      card(
        'Validation',
        f.error + f.warning + f.info === 0 ? 'no findings' : `${f.error} errors, ${f.warning} warnings`,
        f.info ? `${f.info} notes` : '',
        f.error ? 'bad' : f.warning ? 'warn' : 'ok',
      ),
    );
  }
  const rows = Object.entries(s.kinds).map(([gvk, k]) =>
    h(
      'tr',
      {},
      h('td', {}, h('a', { href: '#', 'data-kind': gvk, class: 'kind-link' }, gvk)),
      h('td', { class: 'num' }, k.objects),
      h('td', { class: 'num' }, k.applied),
      h('td', { class: 'num' }, k.deleted),
      h('td', { class: 'num' }, s.index[gvk] ?? 0),
      h('td', {}, s.trackedKinds.includes(gvk) ? 'tracked' : 'not in config'),
    ),
  );
  const table = h(
    'table',
    { id: 'kinds', class: 'grid' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', {}, 'kind'),
        h('th', {}, 'objects'),
        h('th', {}, 'applied'),
        h('th', {}, 'deleted'),
        h('th', {}, 'index'),
        h('th', {}, 'config'),
      ),
    ),
    h('tbody', {}, ...rows),
  );
  byId('summary').replaceChildren(h('div', { class: 'cards' }, ...cards), table);
  for (const a of byId('summary').querySelectorAll<HTMLAnchorElement>('a.kind-link')) {
    a.addEventListener('click', (e) => {
      e.preventDefault();
      setFilter({ kind: a.dataset.kind ?? '' });
    });
  }
  // Filters: options from the summary.
  const kindSelect = byId('f-kind') as HTMLSelectElement;
  for (const gvk of Object.keys(s.kinds)) kindSelect.append(h('option', { value: gvk }, gvk));
  const nsSelect = byId('f-ns') as HTMLSelectElement;
  for (const ns of doc.namespaces) nsSelect.append(h('option', { value: ns }, ns));
}

function card(title: string, value: string, note: string, tone = ''): HTMLElement {
  return h(
    'div',
    { class: `card ${tone}` },
    h('h3', {}, title),
    h('p', { class: 'value' }, value),
    h('p', { class: 'note' }, note),
  );
}

// ---------------------------------------------------------------------------------------------
// Filters.

function syncFilterInputs(): void {
  (byId('f-kind') as HTMLSelectElement).value = state.kind;
  (byId('f-ns') as HTMLSelectElement).value = state.ns;
  (byId('f-q') as HTMLInputElement).value = state.q;
  (byId('f-problems') as HTMLInputElement).checked = state.problems;
  const w = byId('f-window');
  if (state.from !== undefined || state.to !== undefined) {
    const reset = h('button', { type: 'button', id: 'f-window-reset' }, 'whole trace');
    reset.addEventListener('click', () => {
      setFilter({ from: undefined, to: undefined });
      zoomTimeline();
    });
    w.replaceChildren(
      `window: ${state.from !== undefined ? clock(state.from) : 'start'} – ${state.to !== undefined ? clock(state.to) : 'end'} `,
      reset,
    );
  } else {
    w.replaceChildren('window: whole trace (zoom the timeline to narrow it)');
  }
}

function setFilter(change: Partial<ViewState>): void {
  state = { ...state, ...change };
  for (const [k, v] of Object.entries(change))
    if (v === undefined) delete (state as unknown as Record<string, unknown>)[k];
  writeState();
  syncFilterInputs();
  void loadObjects();
  if ('kind' in change || 'ns' in change || 'q' in change) void loadLifecycles();
}

function wireFilters(): void {
  byId('filters').addEventListener('submit', (e) => e.preventDefault());
  byId('f-kind').addEventListener('change', (e) =>
    setFilter({ kind: (e.target as HTMLSelectElement).value }),
  );
  byId('f-ns').addEventListener('change', (e) => setFilter({ ns: (e.target as HTMLSelectElement).value }));
  let typing: number | undefined;
  byId('f-q').addEventListener('input', (e) => {
    clearTimeout(typing);
    typing = window.setTimeout(() => setFilter({ q: (e.target as HTMLInputElement).value }), 200);
  });
  byId('f-problems').addEventListener('change', (e) =>
    setFilter({ problems: (e.target as HTMLInputElement).checked }),
  );
}

// ---------------------------------------------------------------------------------------------
// Timeline of changes per kind (zoomable; the zoom is the window filter).

let timelineChart: echarts.ECharts | undefined;
let ganttChart: echarts.ECharts | undefined;
let axis = { min: 0, max: 1 };

async function loadTimeline(): Promise<void> {
  const el = byId('timeline');
  let doc: TimelineDoc;
  try {
    doc = await api<TimelineDoc>('timeline');
  } catch (err) {
    showError(el, err);
    return;
  }
  if (!doc.window || doc.kinds.length === 0) {
    el.replaceChildren(h('p', {}, 'no changes in this trace'));
    el.classList.remove('chart');
    return;
  }
  const pad = Math.max(5, Math.round((doc.window.lastTs - doc.window.firstTs) * 0.02));
  axis = { min: (doc.window.firstTs - pad) * 1000, max: (doc.window.lastTs + pad) * 1000 };
  const kinds = doc.kinds.map((k) => k.gvk);
  el.style.height = `${130 + 44 * kinds.length}px`;
  timelineChart = echarts.init(el);
  // Sized by count while points are few; past that, ECharts' large mode draws them all in one pass
  // (it needs one size for every point).
  const many = doc.kinds.reduce((n, k) => n + k.points.length, 0) > 5000;
  const series = (type: 'applied' | 'deleted', color: string) => ({
    name: type,
    type: 'scatter' as const,
    large: many,
    largeThreshold: 5000,
    itemStyle: { color },
    symbolSize: many ? 5 : (value: number[]) => Math.min(28, 7 + Math.sqrt(value[2] ?? 1) * 3),
    data: doc.kinds.flatMap((k, y) =>
      k.points
        .filter((p) => (type === 'applied' ? p[1] : p[2]) > 0)
        .map((p) => [p[0] * 1000, y, type === 'applied' ? p[1] : p[2]]),
    ),
  });
  timelineChart.setOption({
    useUTC: true,
    animation: false,
    grid: { left: 150, right: 30, top: 20, bottom: 70 },
    tooltip: {
      trigger: 'item',
      formatter: (p: { seriesName: string; value: number[] }) =>
        `${kinds[p.value[1] ?? 0]}<br>${iso((p.value[0] ?? 0) / 1000)}<br>${p.value[2]} ${p.seriesName}`,
    },
    xAxis: { type: 'time', min: axis.min, max: axis.max, splitLine: { show: true } },
    yAxis: {
      type: 'category',
      data: kinds,
      axisLabel: { formatter: (gvk: string) => kindName(gvk) },
      splitLine: { show: true },
    },
    dataZoom: [
      { type: 'inside', xAxisIndex: 0, filterMode: 'none' },
      {
        type: 'slider',
        xAxisIndex: 0,
        filterMode: 'none',
        height: 22,
        bottom: 12,
        labelFormatter: (v: number) => iso(v / 1000).slice(11, 19),
      },
    ],
    series: [series('applied', '#2f6fdb'), series('deleted', '#d33c3c')],
  });
  zoomTimeline();
  let zooming: number | undefined;
  timelineChart.on('datazoom', () => {
    const range = zoomRange(timelineChart!);
    ganttChart?.dispatchAction({ type: 'dataZoom', startValue: range.startMs, endValue: range.endMs });
    clearTimeout(zooming);
    zooming = window.setTimeout(() => {
      const whole = range.startMs <= axis.min && range.endMs >= axis.max;
      const from = whole ? undefined : Math.floor(range.startMs / 1000);
      const to = whole ? undefined : Math.ceil(range.endMs / 1000);
      // The URL's own window applied on load comes back here: nothing to reload then.
      if (from === state.from && to === state.to) return;
      setFilter({ from, to });
    }, 250);
  });
  timelineChart.on('click', (p) => {
    const value = p.value as number[];
    const ts = Math.round((value[0] ?? 0) / 1000);
    setFilter({ kind: kinds[value[1] ?? 0] ?? '', from: ts, to: ts });
  });
}

function zoomRange(chart: echarts.ECharts): { startMs: number; endMs: number } {
  const dz = (chart.getOption() as { dataZoom?: { start?: number; end?: number }[] }).dataZoom?.[0];
  const span = axis.max - axis.min;
  return {
    startMs: axis.min + (span * (dz?.start ?? 0)) / 100,
    endMs: axis.min + (span * (dz?.end ?? 100)) / 100,
  };
}

/** Applies the URL's window to the charts' zoom. */
function zoomTimeline(): void {
  const action =
    state.from !== undefined || state.to !== undefined
      ? {
          type: 'dataZoom',
          startValue: Math.max(axis.min, ((state.from ?? axis.min / 1000) - 1) * 1000),
          endValue: Math.min(axis.max, ((state.to ?? axis.max / 1000) + 1) * 1000),
        }
      : { type: 'dataZoom', start: 0, end: 100 };
  timelineChart?.dispatchAction(action);
  ganttChart?.dispatchAction(action);
}

// ---------------------------------------------------------------------------------------------
// Pod lifecycles per owner: a Gantt chart.

async function loadLifecycles(): Promise<void> {
  const el = byId('gantt');
  const note = byId('gantt-note');
  let doc: LifecyclesDoc;
  try {
    doc = await api<LifecyclesDoc>('lifecycles', { gvk: state.kind, ns: state.ns, q: state.q, limit: 100 });
  } catch (err) {
    showError(el, err);
    return;
  }
  ganttChart?.dispose();
  ganttChart = undefined;
  el.hidden = doc.owners.length === 0;
  if (doc.owners.length === 0) {
    note.textContent =
      summary.summary.lifecycles.lifecycles === 0
        ? 'this trace records no pod lifecycles'
        : 'no owner matches the filters';
    return;
  }
  note.textContent =
    doc.total > doc.owners.length
      ? `the first ${doc.owners.length} of ${doc.total} owners; narrow the filters to see others`
      : '';
  const endTs = doc.window?.lastTs ?? 0;
  const owners = doc.owners.map((o) => `${kindName(o.gvk)} ${o.nsName}`);
  const palette = ['#2f6fdb', '#e08a1e', '#2a9d5c', '#8a4fd1', '#c2416b', '#1f9eb3', '#7a7a2a'];
  const data: { value: (number | string)[]; itemStyle: { color: string; opacity: number } }[] = [];
  doc.owners.forEach((o, y) => {
    o.specs.forEach((spec, i) => {
      for (const lc of spec.lifecycles) {
        data.push({
          value: [y, lc.startTs * 1000, (lc.endTs ?? endTs) * 1000, spec.hash, lc.endTs === null ? 1 : 0, i],
          itemStyle: { color: palette[i % palette.length]!, opacity: lc.endTs === null ? 0.55 : 0.9 },
        });
      }
    });
  });
  el.style.height = `${110 + 30 * owners.length}px`;
  ganttChart = echarts.init(el);
  ganttChart.setOption({
    useUTC: true,
    animation: false,
    grid: { left: 260, right: 30, top: 10, bottom: 40 },
    tooltip: {
      formatter: (p: { value: (number | string)[] }) => {
        const [y, s, e, hash, running] = p.value as [number, number, number, string, number];
        return `${owners[y]}<br>pod spec ${hash}<br>${iso(s / 1000)} → ${running ? 'running' : iso(e / 1000)} (${duration(Math.round((e - s) / 1000))})`;
      },
    },
    xAxis: { type: 'time', min: axis.min, max: axis.max },
    yAxis: { type: 'category', data: owners, inverse: true, axisLabel: { width: 240, overflow: 'truncate' } },
    dataZoom: [{ type: 'inside', xAxisIndex: 0, filterMode: 'none', zoomLock: true }],
    series: [
      {
        type: 'custom',
        encode: { x: [1, 2], y: 0 },
        data,
        renderItem: (
          _params: unknown,
          api: {
            value: (i: number) => number;
            coord: (v: number[]) => number[];
            size: (v: number[]) => number[];
            style: () => Record<string, unknown>;
          },
        ) => {
          const y = api.value(0);
          const start = api.coord([api.value(1), y]);
          const end = api.coord([api.value(2), y]);
          const height = (api.size([0, 1])[1] ?? 20) * 0.6;
          return {
            type: 'rect',
            shape: {
              x: start[0],
              y: (start[1] ?? 0) - height / 2,
              width: Math.max(2, (end[0] ?? 0) - (start[0] ?? 0)),
              height,
            },
            style: api.style(),
          };
        },
      },
    ],
  });
  zoomTimeline();
}

// ---------------------------------------------------------------------------------------------
// Object list and detail.

let objectsRequest = 0;

async function loadObjects(): Promise<void> {
  const el = byId('objects');
  const mine = ++objectsRequest;
  let doc: ObjectsDoc;
  try {
    doc = await api<ObjectsDoc>('objects', {
      gvk: state.kind,
      ns: state.ns,
      q: state.q,
      from: state.from,
      to: state.to,
      problems: state.problems ? '1' : undefined,
      limit: 200,
    });
  } catch (err) {
    showError(el, err);
    return;
  }
  if (mine !== objectsRequest) return; // a newer filter answered first
  const rows = doc.objects.map((o) => {
    const key = objKey(o.gvk, o.nsName);
    const row = h(
      'tr',
      { class: key === state.obj ? 'selected' : undefined, 'data-key': key, tabindex: '0' },
      h('td', { title: o.gvk }, kindName(o.gvk)),
      h('td', { class: 'name' }, o.nsName),
      h('td', { class: 'num', title: 'versions in the events' }, o.versions),
      h('td', {}, o.deleted ? h('span', { class: 'badge gone' }, 'deleted') : null, indexBadge(o.index)),
    );
    const select = () => selectObject(key);
    row.addEventListener('click', select);
    row.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') select();
    });
    return row;
  });
  el.replaceChildren(
    h(
      'h2',
      {},
      plural(doc.total, 'object'),
      doc.total > doc.objects.length ? h('small', {}, ` (first ${doc.objects.length})`) : null,
    ),
    h('table', { class: 'grid objects' }, h('tbody', {}, ...rows)),
  );
}

function selectObject(key: string, version?: number): void {
  state.obj = key;
  if (version === undefined) delete state.v;
  else state.v = version;
  writeState(true);
  for (const row of byId('objects').querySelectorAll<HTMLElement>('tr')) {
    row.classList.toggle('selected', row.dataset.key === key);
  }
  void loadDetail();
}

const differ = createDiffer({
  // Kubernetes lists of named things (containers, env, ports, volumes) match by name, not position.
  objectHash: (item: object, index?: number) => {
    const o = item as { name?: unknown; key?: unknown; containerPort?: unknown };
    const id = o.name ?? o.key ?? o.containerPort;
    return id === undefined ? `$$index:${index}` : String(id);
  },
  arrays: { detectMove: true },
});

async function loadDetail(): Promise<void> {
  const el = byId('detail');
  if (!state.obj) {
    el.replaceChildren(
      h('p', { class: 'hint' }, 'Select an object to see its versions and what changed between them.'),
    );
    return;
  }
  const ref = splitKey(state.obj);
  let obj: ObjectDoc;
  try {
    obj = await api<ObjectDoc>('object', ref);
  } catch (err) {
    showError(el, err);
    return;
  }
  const ix = obj.index;
  const indexLine =
    ix.status === 'match'
      ? `index hash ${ix.stored} equals SimKube's hash of the last applied spec, recomputed`
      : ix.status === 'document-order'
        ? `index hash ${ix.stored} equals older SimKube's hash (keys in document order); today's is ${ix.recomputed}`
        : ix.status === 'mismatch'
          ? `index hash ${ix.stored} ≠ ${ix.recomputed}, SimKube's hash of the last applied spec${ix.earlierVersionTs !== undefined ? ` (it hashes the version of ${iso(ix.earlierVersionTs)})` : ''}`
          : ix.status === 'missing'
            ? `indexed (${ix.stored}) but never applied in the events`
            : 'applied in the events but missing from the index';
  const header = h(
    'div',
    { class: 'detail-head' },
    h('h2', {}, h('span', { class: 'kind' }, obj.gvk), ' ', obj.nsName),
    h(
      'p',
      { class: `index-line ${ix.status === 'match' || ix.status === 'document-order' ? 'ok' : 'bad'}` },
      indexLine,
    ),
  );
  if (obj.versions.length === 0) {
    el.replaceChildren(header, h('p', {}, 'no versions in the events'));
    return;
  }
  const selected =
    state.v === undefined ? obj.versions.length - 1 : Math.min(Math.max(0, state.v), obj.versions.length - 1);
  const versions = h(
    'ol',
    { class: 'versions', start: '0' },
    ...obj.versions.map((v, i) => {
      const li = h(
        'li',
        { class: i === selected ? 'selected' : undefined, 'data-version': String(i), tabindex: '0' },
        h('span', { class: `type ${v.type}` }, v.type),
        ` ${iso(v.ts)} `,
        h('span', { class: 'hash', title: 'spec hash' }, `#${v.specHash}`),
      );
      li.addEventListener('click', () => selectObject(state.obj!, i));
      return li;
    }),
  );
  const diffBox = h('div', { id: 'diff' }, 'loading the diff…');
  const toggle = h(
    'label',
    { class: 'check' },
    h('input', { type: 'checkbox', id: 'diff-all', checked: state.all }),
    ' show unchanged fields',
  );
  toggle.querySelector('input')!.addEventListener('change', (e) => {
    state.all = (e.target as HTMLInputElement).checked;
    writeState();
    htmlFormatter.showUnchanged(state.all, diffBox);
  });
  el.replaceChildren(
    header,
    h('h3', {}, plural(obj.versions.length, 'version')),
    versions,
    h('h3', {}, 'Diff'),
    toggle,
    diffBox,
  );
  let doc: VersionDoc;
  try {
    doc = await api<VersionDoc>('version', { ...ref, v: selected });
  } catch (err) {
    showError(diffBox, err);
    return;
  }
  const raw = h(
    'details',
    {},
    h('summary', {}, `object at version ${doc.version}`),
    h('pre', {}, JSON.stringify(doc.object, null, 2)),
  );
  if (!doc.previous) {
    diffBox.replaceChildren(
      h(
        'p',
        { class: 'caption' },
        `version 0 (${iso(doc.ts)}, ${doc.type}): the first in the trace, nothing to compare with`,
      ),
      raw,
    );
    return;
  }
  const delta = differ.diff(doc.previous.object, doc.object);
  const caption = h(
    'p',
    { class: 'caption' },
    `version ${doc.previous.version} (${iso(doc.previous.ts)}) → version ${doc.version} (${iso(doc.ts)}, ${doc.type})`,
  );
  const body = h('div', { class: 'jsondiffpatch-host' });
  if (delta === undefined) body.append(h('p', {}, 'no difference'));
  else body.innerHTML = htmlFormatter.format(delta, doc.previous.object) ?? '';
  diffBox.replaceChildren(caption, body, raw);
  htmlFormatter.showUnchanged(state.all, diffBox, 0);
}

// ---------------------------------------------------------------------------------------------
// Validation findings (when a validator ran).

async function loadFindings(): Promise<void> {
  const doc = await api<FindingsDoc>('findings');
  const section = byId('findings-section');
  if (!doc.available) return;
  section.hidden = false;
  if (doc.findings.length === 0) {
    byId('findings').replaceChildren(h('p', { class: 'ok' }, 'the validator found nothing to report'));
    return;
  }
  const rows = doc.findings.map((f) => {
    const target = f.gvk && f.nsName ? objKey(f.gvk, f.nsName) : undefined;
    const link = target ? h('a', { href: '#' }, `${kindName(f.gvk!)} ${f.nsName}`) : '';
    if (target && link instanceof HTMLElement) {
      link.addEventListener('click', (e) => {
        e.preventDefault();
        selectObject(target);
      });
    }
    return h(
      'tr',
      {},
      h(
        'td',
        {},
        h(
          'span',
          { class: `badge ${f.severity === 'error' ? 'bad' : f.severity === 'warning' ? 'warn' : 'ok'}` },
          f.code,
        ),
      ),
      h('td', {}, link),
      h('td', {}, f.ts !== undefined ? iso(f.ts) : ''),
      h('td', {}, f.message),
    );
  });
  byId('findings').replaceChildren(h('table', { class: 'grid' }, h('tbody', {}, ...rows)));
}

// ---------------------------------------------------------------------------------------------

async function start(): Promise<void> {
  try {
    summary = await api<SummaryDoc>('summary');
  } catch (err) {
    showError(byId('summary'), err);
    return;
  }
  renderSummary(summary);
  syncFilterInputs();
  wireFilters();
  // Paint the summary before the rest arrives: parsing and drawing a large timeline would
  // otherwise hold the first frame back.
  await new Promise<void>((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  // Milliseconds since navigation, for bench/view.ts (a test driver may see it later than a user).
  document.body.dataset.summaryMs = String(Math.round(performance.now()));
  await Promise.all([loadObjects(), loadDetail(), loadTimeline().then(loadLifecycles), loadFindings()]);
  document.body.dataset.readyMs = String(Math.round(performance.now()));
  document.body.dataset.ready = 'true';
}

window.addEventListener('popstate', () => {
  state = readState();
  syncFilterInputs();
  zoomTimeline();
  void loadObjects();
  void loadDetail();
});
window.addEventListener('resize', () => {
  timelineChart?.resize();
  ganttChart?.resize();
});

void start();
