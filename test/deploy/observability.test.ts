// What an operator's Prometheus and Grafana get: promtool (Debian's prometheus package) lints each
// service's /metrics after real traffic, checks and unit-tests the alert rules, and parses every
// dashboard query; every metric the alerts and the dashboard use is one the services export.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { runFirstLight } from '../e2e/first-light.js';
import { ROOT, type RunningBroker, startSeparateProcesses } from '../support/brokers.js';
import { RawSipSocket, rawRequest } from '../support/raw-sip.js';

const ALERTS = path.join(ROOT, 'charts/sip-pubsub/files/alerts.yaml');
const DASHBOARD = path.join(ROOT, 'charts/sip-pubsub/files/grafana-dashboard.json');
// Series Prometheus and kube-state-metrics make, not the services.
const EXTERNAL = new Set(['up', 'kube_deployment_status_replicas_ready']);

function promtool(args: string[], input?: string) {
  const run = spawnSync('promtool', args, { encoding: 'utf8', input, cwd: path.join(ROOT, 'test/deploy') });
  return { status: run.status, out: `${run.stdout}${run.stderr}` };
}

/** Metric names an expression reads: identifiers not followed by `(` and not PromQL keywords or labels. */
function metricNames(expr: string): string[] {
  const stripped = expr.replace(/\{[^}]*\}/g, '{}').replace(/"[^"]*"/g, '""');
  const keywords = new Set([
    'sum',
    'count',
    'min',
    'max',
    'avg',
    'group',
    'topk',
    'bottomk',
    'quantile',
    'stddev',
    'stdvar',
    'count_values',
    'by',
    'without',
    'on',
    'ignoring',
    'group_left',
    'group_right',
    'or',
    'and',
    'unless',
    'bool',
    'offset',
    'le',
    'vector',
    'inf',
  ]);
  const names = [...stripped.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)].map((m) => m[1]);
  const inGrouping = new Set(
    [...stripped.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) =>
      m[1].split(',').map((s) => s.trim()),
    ),
  );
  return names.filter((n) => !keywords.has(n) && !inGrouping.has(n) && !/^\d/.test(n) && !n.startsWith('__'));
}

const dashboardExprs = (): string[] =>
  JSON.parse(readFileSync(DASHBOARD, 'utf8')).panels.flatMap((p: { targets?: { expr: string }[] }) =>
    (p.targets ?? []).map((t) => t.expr),
  );
const alertExprs = (): string[] =>
  parse(readFileSync(ALERTS, 'utf8')).groups.flatMap((g: { rules: { expr: string }[] }) =>
    g.rules.map((r) => r.expr),
  );

describe('observability', () => {
  let broker: RunningBroker;
  let dir: string;
  const scraped = new Map<string, string>();
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'observability-'));
    broker = await startSeparateProcesses();
    await runFirstLight(broker.sipPort, 'plant-9/boiler/temp');
    // A method nobody knows, before any authentication: it must not become a series of its own.
    const socket = await RawSipSocket.open();
    try {
      const res = await socket.request(
        rawRequest({ method: 'XYZZY', uri: 'sip:factory@localhost', localPort: socket.port }),
        broker.sipPort,
        5_000,
      );
      expect(res.status).toBeGreaterThanOrEqual(400);
    } finally {
      socket.close();
    }
    for (const s of broker.services ?? []) {
      const res = await fetch(`http://127.0.0.1:${s.httpPort}/metrics`);
      scraped.set(s.name, await res.text());
    }
  });
  afterAll(async () => {
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('promtool check metrics passes on the /metrics of every service after real traffic', () => {
    expect([...scraped.keys()].sort()).toEqual([
      'focus-controller',
      'media-relay',
      'notifier',
      'signalling-edge',
    ]);
    for (const [name, text] of scraped) {
      const run = promtool(['check', 'metrics'], text);
      expect(run.out, name).toBe('');
      expect(run.status, name).toBe(0);
      expect(text, name).toMatch(
        /^sip_pubsub_build_info\{version="0\.1\.0",node_version="v[\d.]+",service="[a-z-]+",instance="[^"]+"\} 1$/m,
      );
      expect(text, name).toMatch(/^sip_pubsub_nats_connected\{.*\} 1$/m);
      // Every project metric carries the prefix; only prom-client's process_* and nodejs_* do not.
      const families = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
      expect(
        families.filter((f) => !/^(sip_pubsub_|process_|nodejs_)/.test(f)),
        name,
      ).toEqual([]);
      expect(families.filter((f) => f.startsWith('sip_pubsub_')).length, name).toBeGreaterThan(2);
    }
    const edge = scraped.get('signalling-edge')!;
    expect(edge).toMatch(/^sip_pubsub_sip_requests_total\{method="other",status="\d{3}"/m);
    expect(edge).not.toContain('XYZZY');
    expect(edge).toMatch(/^sip_pubsub_sip_transaction_duration_seconds_count\{.*method="INVITE".*\} [1-9]/m);
    // The focus created the topic's conference: a KV create it timed.
    expect(scraped.get('focus-controller')).toMatch(
      /^sip_pubsub_kv_operation_duration_seconds_count\{.*bucket="conferences",operation="create",outcome="ok".*\} [1-9]/m,
    );
    const relay = scraped.get('media-relay')!;
    expect(relay).toContain('# TYPE sip_pubsub_relay_topic_deliveries_out_total counter');
    expect(relay).toMatch(/^sip_pubsub_relay_deliveries_out_total\{.*\} [1-9]/m);
    expect(relay).toMatch(/^sip_pubsub_relay_ports_free\{.*\} \d+$/m);
  });

  it('the alert rules pass promtool check rules and fire in its unit tests only on what they are about', () => {
    const check = promtool(['check', 'rules', ALERTS]);
    expect(check.status, check.out).toBe(0);
    expect(check.out).toContain('SUCCESS: 5 rules found');
    const unit = promtool(['test', 'rules', 'alerts.promtool-test.yaml']);
    expect(unit.status, unit.out).toBe(0);
    // The unit tests are not vacuous: the same tests against a rule that never fires fail.
    const broken = path.join(dir, 'alerts.yaml');
    writeFileSync(
      broken,
      readFileSync(ALERTS, 'utf8').replace(
        'sip_pubsub_relay_ports_free / sip_pubsub_relay_port_capacity < 0.1',
        'sip_pubsub_relay_ports_free / sip_pubsub_relay_port_capacity < 0',
      ),
    );
    const tests = parse(readFileSync(path.join(ROOT, 'test/deploy/alerts.promtool-test.yaml'), 'utf8'));
    tests.rule_files = [broken];
    writeFileSync(path.join(dir, 'tests.yaml'), stringify(tests));
    const mutated = spawnSync('promtool', ['test', 'rules', path.join(dir, 'tests.yaml')], {
      encoding: 'utf8',
    });
    expect(mutated.status).not.toBe(0);
    expect(mutated.stdout + mutated.stderr).toContain('SipPubsubRelayPortsNearlyExhausted');
  });

  it('every dashboard query is valid PromQL', () => {
    const exprs = dashboardExprs();
    expect(exprs.length).toBeGreaterThan(15);
    // promtool parses rule expressions: check each query as a recording rule, Grafana's variables filled in.
    const rules = {
      groups: [
        {
          name: 'dashboard',
          rules: exprs.map((expr, i) => ({
            record: `dashboard:query_${i}`,
            expr: expr.replaceAll('$__rate_interval', '5m').replaceAll('$namespace', '.*'),
          })),
        },
      ],
    };
    const file = path.join(dir, 'dashboard-rules.yaml');
    writeFileSync(file, stringify(rules));
    const run = promtool(['check', 'rules', file]);
    expect(run.status, run.out).toBe(0);
    expect(run.out).toContain(`SUCCESS: ${exprs.length} rules found`);
  });

  it('every metric the alerts and the dashboard read is exported by a service', () => {
    const exported = new Set<string>();
    for (const text of scraped.values())
      for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        exported.add(m[1]);
        if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exported.add(`${m[1]}${s}`);
      }
    const used = new Set([...dashboardExprs(), ...alertExprs()].flatMap(metricNames));
    expect(used.has('sip_pubsub_relay_topic_deliveries_out_total')).toBe(true);
    expect([...used].filter((n) => !exported.has(n) && !EXTERNAL.has(n))).toEqual([]);
  });
});
