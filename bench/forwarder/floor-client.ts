/**
 * The floor of the forwarder's throughput: a minimal Kubernetes client in its own process that
 * only receives — paged lists and a watch stream read over node:http, one JSON.parse per page or
 * per line, no sanitising, hashing, batching or posting. Its CPU per event is the cost of just
 * receiving the events from the simulated API server.
 *
 *   node --import tsx bench/forwarder/floor-client.ts <apiserver URL> <token>
 *
 * Commands on stdin, one per line; answers on stdout:
 *   list            → `listed <items>` after every page of Deployments (limit 500, as the forwarder)
 *   watch <rv>      → `watching`, then `count <n>` each time n (ADDED/MODIFIED events so far) is a
 *                     multiple of 100
 *   cpu             → `cpu <µs>`: its own user + system CPU (process.cpuUsage, µs resolution; the
 *                     floor's CPU per event is too small for /proc's 10 ms ticks)
 */
import { Agent, get, type IncomingMessage } from 'node:http';
import { createInterface } from 'node:readline';

const [base, token] = process.argv.slice(2);
if (!base || !token) throw new Error('usage: floor-client.ts <apiserver URL> <token>');
const agent = new Agent({ keepAlive: true });
const PATH = '/apis/apps/v1/deployments';

function request(path: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    get(`${base}${path}`, { agent, headers: { authorization: `Bearer ${token}` } }, resolve).on(
      'error',
      reject,
    );
  });
}

async function list(): Promise<number> {
  let items = 0;
  let cont = '';
  do {
    const res = await request(`${PATH}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
    res.setEncoding('utf8');
    let body = '';
    for await (const chunk of res) body += chunk as string;
    const page = JSON.parse(body) as { items: unknown[]; metadata: { continue?: string } };
    items += page.items.length;
    cont = page.metadata.continue ?? '';
  } while (cont);
  return items;
}

let watched = 0;

async function watch(rv: string): Promise<void> {
  const res = await request(
    `${PATH}?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=3600`,
  );
  process.stdout.write('watching\n');
  res.setEncoding('utf8');
  let rest = '';
  for await (const chunk of res) {
    const lines = (rest + (chunk as string)).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (!line) continue;
      const event = JSON.parse(line) as { type: string };
      if (event.type === 'ADDED' || event.type === 'MODIFIED') {
        watched++;
        if (watched % 100 === 0) process.stdout.write(`count ${watched}\n`);
      }
    }
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.split(' ');
  if (cmd === 'list') process.stdout.write(`listed ${await list()}\n`);
  else if (cmd === 'cpu') {
    const { user, system } = process.cpuUsage();
    process.stdout.write(`cpu ${user + system}\n`);
  } else if (cmd === 'watch' && arg) void watch(arg);
}
