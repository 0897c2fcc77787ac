// openclaw-supervisor's rescue tool on Kubernetes (written by `export
// kubernetes` into a rescue's workspace, next to its skill): the agent looks
// at and restarts its main gateway's pod through the Kubernetes API, with
// this pod's ServiceAccount, whose Role allows exactly that and nothing more.
// Run: node main.mjs status | logs [N] [--previous] | restart
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';

const SA = '/var/run/secrets/kubernetes.io/serviceaccount';
const env = process.env;
const ns = env.OPENCLAW_SUPERVISOR_NAMESPACE;
const pod = env.OPENCLAW_SUPERVISOR_MAIN_POD;
const set = env.OPENCLAW_SUPERVISOR_MAIN_STATEFULSET;
// The API server as every pod sees it; the override is for tests.
const api = env.OPENCLAW_SUPERVISOR_KUBE_API
  || `https://${env.KUBERNETES_SERVICE_HOST}:${env.KUBERNETES_SERVICE_PORT}`;
const tokenFile = env.OPENCLAW_SUPERVISOR_KUBE_TOKEN_FILE || `${SA}/token`;

function fail(text) {
  process.stderr.write(`${text}\n`);
  process.exit(1);
}

function call(method, path) {
  return new Promise((resolve, reject) => {
    const url = new URL(path, api);
    const lib = url.protocol === 'http:' ? http : https;
    // The token is read for each call (the kubelet rotates it) and never printed.
    const headers = {
      authorization: `Bearer ${fs.readFileSync(tokenFile, 'utf8').trim()}`,
      accept: 'application/json, */*',
    };
    const options = { method, headers };
    if (lib === https) options.ca = fs.readFileSync(`${SA}/ca.crt`);
    const request = lib.request(url, options, (response) => {
      let data = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => { data += chunk; });
      response.on('end', () => resolve({ status: response.statusCode, body: data }));
    });
    request.on('error', reject);
    request.setTimeout(20000, () => request.destroy(new Error('no answer within 20 s')));
    request.end();
  });
}

async function must(what, method, path) {
  const answer = await call(method, path).catch((err) => fail(`${what}: ${err.message}`));
  if (answer.status < 200 || answer.status > 299) {
    let reason = answer.body.slice(0, 300);
    try { reason = JSON.parse(answer.body).message || reason; } catch { /* not JSON */ }
    fail(`${what}: the API answered ${answer.status}: ${reason}`);
  }
  return answer.body;
}

const podPath = `/api/v1/namespaces/${ns}/pods/${pod}`;

function describe(state) {
  if (!state) return 'unknown';
  if (state.running) return `running since ${state.running.startedAt}`;
  if (state.waiting) return `waiting: ${state.waiting.reason || ''} ${state.waiting.message || ''}`.trim();
  if (state.terminated) {
    const t = state.terminated;
    return `exited ${t.exitCode}${t.signal ? ` (signal ${t.signal})` : ''}${t.reason ? ` ${t.reason}` : ''} at ${t.finishedAt}`;
  }
  return 'unknown';
}

async function status() {
  const found = JSON.parse(await must(`status of ${pod}`, 'GET', podPath));
  const gateway = (found.status?.containerStatuses || []).find((c) => c.name === 'gateway') || {};
  const lines = [
    `pod ${pod} (namespace ${ns}): ${found.status?.phase || 'unknown'}${found.metadata?.deletionTimestamp ? ', being deleted' : ''}`,
    `  node: ${found.spec?.nodeName || 'not scheduled'}`,
    `  gateway: ${describe(gateway.state)}, ready: ${gateway.ready === true}, restarts: ${gateway.restartCount ?? 0}`,
  ];
  if (gateway.lastState?.terminated) lines.push(`  last exit: ${describe(gateway.lastState)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function logs(args) {
  const count = Number.parseInt(args.find((a) => /^\d+$/.test(a)) || '100', 10);
  const previous = args.includes('--previous') ? '&previous=true' : '';
  process.stdout.write(await must(`logs of ${pod}`, 'GET', `${podPath}/log?container=gateway&tailLines=${count}${previous}`));
}

async function restart() {
  await must(`restart of ${pod}`, 'DELETE', podPath);
  process.stdout.write(`deleted pod ${pod}: its StatefulSet ${set} starts a new one\n`);
}

if (!ns || !pod || !set) fail('OPENCLAW_SUPERVISOR_NAMESPACE, OPENCLAW_SUPERVISOR_MAIN_POD and OPENCLAW_SUPERVISOR_MAIN_STATEFULSET must be set (the export sets them in the rescue pod)');
const [command, ...rest] = process.argv.slice(2);
const commands = { status, logs, restart };
if (!commands[command]) fail('usage: node main.mjs status | logs [N] [--previous] | restart');
await commands[command](rest);
