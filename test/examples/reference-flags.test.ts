/**
 * The README's table of the reference server's flags is what `npm start`
 * takes: every flag in it exists, is listed by `--help` with its variable,
 * reads that variable (the flag winning), and has the documented default;
 * and `--help` lists no flag the table leaves out.
 */
import { hostname } from 'node:os';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import {
  exposureWarning,
  flagFor,
  inFlagTerms,
  readConfig,
  type ServerConfig,
  settingFor,
  usage,
} from '../../examples/reference-server/config.js';
import { main } from '../../examples/reference-server/main.js';
import { startReferenceServer } from '../../examples/reference-server/server.js';
import { resolveClusterOptions } from '../../src/cluster/cluster-options.js';
import { resolveOptions } from '../../src/index.js';
import { readPage } from '../helpers/docs.js';

const readme = readPage('docs/reference-server.md');

interface FlagRow {
  flag: string;
  variable: string;
  default: string;
}

function flagTable(): FlagRow[] {
  const lines = readme.split('\n');
  const header = lines.indexOf('| Flag | Environment | Default |');
  if (header === -1) throw new Error('docs/reference-server.md has no table of the reference server’s flags');
  const rows: FlagRow[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith('|')) break;
    const [flag = '', variable = '', fallback = ''] = line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim());
    rows.push({ flag: flag.replaceAll('`', ''), variable: variable.replaceAll('`', ''), default: fallback });
  }
  return rows;
}

const rows = flagTable();

/** A valid value for each flag that differs from its default. */
const sample: Record<string, string> = {
  '--port': '8080',
  // Loopback: any other host needs --dashboard-token or --dashboard-open (tested below).
  '--host': '127.0.0.2',
  '--dashboard-token': 's3cret-token-0123456789',
  // A switch: the flag takes no value, its variable takes this one.
  '--dashboard-open': '1',
  '--preset': 'test',
  '--max-per-user': '3',
  '--eviction-threshold': '0.5',
  '--idle-timeout-ms': '1234',
  '--heartbeat-ms': '2345',
  '--connect-timeout-ms': '3456',
  '--drain-timeout-ms': '4567',
  '--shutdown-pace-ms': '20000',
  '--max-connections': '99',
  '--refuse': 'close',
  '--allowed-origins': 'https://app.example.com,http://localhost:8080',
  '--redis': 'redis://127.0.0.1:6390',
  '--redis-cluster': 'redis://127.0.0.1:7000,redis://127.0.0.1:7001',
  '--redis-sentinel': 'mymaster@127.0.0.1:26379,127.0.0.1:26380',
  '--node-id': 'node-a',
  '--lease-ttl-ms': '9000',
  '--store-unavailable': 'reject',
  '--admission-rate': '2/5',
  '--message-rate': '50/200',
  '--max-payload-bytes': '4096',
  '--max-buffered-bytes': '2097152', // above what the echo of a 1 MiB message needs (the preset's --max-payload-bytes)
  '--activity': 'inbound',
  '--linger-ms': '777',
  '--retry-after-ms': '3000',
  '--heartbeat-message': 'hb',
  '--command-timeout-ms': '250',
  '--key-prefix': 'app-a',
  '--max-close-refusals': '10',
  '--close-refusal-timeout-ms': '250',
  '--capacity-levels': '0.25,0.75',
  '--capacity-hysteresis': '0.2',
  '--reaper-interval-ms': '4000',
};
/** The cluster's flags need --redis (its variable, when they are read from the environment). */
const needsRedis = (flag: string) =>
  [
    '--node-id',
    '--lease-ttl-ms',
    '--store-unavailable',
    '--command-timeout-ms',
    '--key-prefix',
    '--reaper-interval-ms',
  ].includes(flag);

/** The flags that take no value. */
const switches = ['--dashboard-open'];

const config = (argv: string[], env: NodeJS.ProcessEnv = {}) => readConfig(argv, env) as ServerConfig;

describe("the README's table of the reference server's flags", () => {
  it('lists what --help lists, each flag with its environment variable', () => {
    const helped = [...usage.matchAll(/^ {2}(?:-h, )?(--[a-z-]+)/gm)].map((match) => match[1]);
    expect(rows.map((row) => row.flag).sort()).toEqual(helped.filter((flag) => flag !== '--help').sort());
    for (const { flag, variable } of rows) {
      const line = usage.slice(usage.indexOf(`  ${flag} `)).split(/\n {2}-/)[0] ?? '';
      expect(line, flag).toContain(`[${variable}]`);
    }
  });

  it.each(rows.map((row) => [row.flag, row]))(
    '%s: read from the flag or its variable, the flag first',
    (flag, row) => {
      const value = sample[flag];
      expect(value, `a sample value for ${flag}`).toBeDefined();
      const redisFlag = needsRedis(flag) ? ['--redis', 'redis://127.0.0.1:6390'] : [];
      const redisEnv = needsRedis(flag) ? { WSSUP_REDIS_URL: 'redis://127.0.0.1:6390' } : {};
      const given = switches.includes(flag) ? [flag] : [flag, value as string];
      const fromFlag = config([...redisFlag, ...given]);
      const fromEnv = config([], { ...redisEnv, [row.variable]: value });
      expect(fromEnv).toEqual(fromFlag);
      expect(fromFlag).not.toEqual(config(redisFlag));
      // The flag wins over the variable.
      expect(config([...redisFlag, ...given], { [row.variable]: 'not used' })).toEqual(fromFlag);
    },
  );

  it('has the documented defaults', () => {
    const defaults = Object.fromEntries(rows.map((row) => [row.flag, row.default]));
    const plain = config([]);
    expect(defaults['--port']).toMatch(/^0 /);
    expect(plain.port).toBe(0);
    expect(defaults['--host']).toMatch(/^127\.0\.0\.1 /);
    expect(plain.host).toBe('127.0.0.1');
    expect(defaults['--dashboard-token']).toMatch(/^none/);
    expect(plain.dashboardToken).toBeUndefined();
    expect(defaults['--dashboard-open']).toMatch(/^off/);
    expect(plain.dashboardOpen).toBeUndefined();
    expect(plain.cluster).toBeUndefined();

    const resolved = resolveOptions({ ...plain.limits, authenticate: () => null });
    expect(defaults['--preset']).toBe(resolved.preset);
    expect(defaults['--refuse']).toMatch(new RegExp(`^\`${resolved.refuse}\`;`));
    expect(defaults['--max-connections']).toBe('none');
    expect(defaults['--allowed-origins']).toMatch(/^none/);
    expect(resolved.allowedOrigins).toBeUndefined();
    expect(resolved.maxConnections).toBeUndefined();
    for (const flag of [
      '--max-per-user',
      '--eviction-threshold',
      '--idle-timeout-ms',
      '--heartbeat-ms',
      '--connect-timeout-ms',
      '--drain-timeout-ms',
      '--linger-ms',
    ]) {
      expect(defaults[flag], flag).toBe('from the preset');
    }
    for (const flag of ['--max-payload-bytes', '--max-buffered-bytes']) {
      expect(defaults[flag], flag).toMatch(/^from the preset; /);
    }
    expect(defaults['--admission-rate']).toMatch(/^none: no rate limit;/);
    expect(resolved.admissionRate).toBeUndefined();
    expect(defaults['--activity']).toMatch(new RegExp(`^\`${resolved.activity}\`, or \`inbound\``));
    expect(defaults['--heartbeat-message']).toMatch(/^none: pings only;/);
    expect(resolved.heartbeatMessage).toBeUndefined();
    const { 'shutting-down': shuttingDown, ...others } = resolved.retryAfterMs;
    expect(new Set(Object.values(others))).toEqual(new Set([5000]));
    expect(defaults['--retry-after-ms']).toMatch(
      new RegExp(`^5000 \\(${shuttingDown} for \`shutting-down\`\\);`),
    );
    expect(defaults['--max-close-refusals']).toMatch(new RegExp(`^${resolved.maxCloseRefusals};`));
    expect(defaults['--close-refusal-timeout-ms']).toMatch(new RegExp(`^${resolved.closeRefusalTimeoutMs};`));
    expect(defaults['--capacity-levels']).toMatch(new RegExp(`^\`${resolved.capacityLevels.join(',')}\`:`));
    expect(defaults['--capacity-hysteresis']).toMatch(new RegExp(`^${resolved.capacityHysteresis}:`));
    expect(plain.limits).toEqual({});
    expect(defaults['--shutdown-pace-ms']).toMatch(/^0: on SIGTERM every connection is closed at once;/);
    expect(plain.shutdownPaceMs).toBeUndefined();
    expect(config(['--shutdown-pace-ms', '0'])).toEqual(plain);

    const cluster = resolveClusterOptions(config(['--redis', 'redis://127.0.0.1:6390']).cluster);
    expect(defaults['--redis']).toMatch(/^none;/);
    expect(defaults['--redis-cluster']).toMatch(/^none;/);
    expect(defaults['--redis-sentinel']).toMatch(/^none;/);
    expect(defaults['--lease-ttl-ms']).toBe(
      `${cluster.leaseTtlMs} (needs \`--redis\`, \`--redis-cluster\` or \`--redis-sentinel\`)`,
    );
    expect(defaults['--store-unavailable']).toMatch(new RegExp(`^\`${cluster.onStoreUnavailable}\`, or`));
    expect(cluster.commandTimeoutMs).toBe(500);
    expect(
      resolveClusterOptions(config(['--redis', 'redis://127.0.0.1:6390', '--lease-ttl-ms', '900']).cluster)
        .commandTimeoutMs,
    ).toBe(300);
    expect(defaults['--command-timeout-ms']).toBe(
      '500, or a third of `--lease-ttl-ms` when that is less (needs `--redis`, `--redis-cluster` or `--redis-sentinel`)',
    );
    expect(cluster.reaperIntervalMs).toBe(cluster.leaseTtlMs);
    expect(defaults['--reaper-interval-ms']).toMatch(/^`--lease-ttl-ms`: /);
    expect(defaults['--key-prefix']).toBe(
      `\`${cluster.keyPrefix}\` (needs \`--redis\`, \`--redis-cluster\` or \`--redis-sentinel\`)`,
    );
    expect(defaults['--node-id']).toBe(
      '`<hostname>:<pid>` (needs `--redis`, `--redis-cluster` or `--redis-sentinel`)',
    );
    // Whole when it fits a node id (test/unit/cluster-node-id-default.test.ts has the long ones).
    const host = hostname().replace(/[^A-Za-z0-9._-]/g, '-');
    if (`${host}:${process.pid}`.length <= 64) expect(cluster.nodeId).toBe(`${host}:${process.pid}`);
    else expect(cluster.nodeId).toMatch(new RegExp(`^${host.slice(0, 20)}.*-[0-9a-f]{10}:${process.pid}$`));
  });
});

describe('--admission-rate and --capacity-levels', () => {
  it('read <perSecond>[/<burst>], and a list of levels or none', () => {
    expect(config(['--admission-rate', '2/5']).limits.admissionRate).toEqual({ perSecond: 2, burst: 5 });
    // The burst defaults to a second's worth, at least 1.
    expect(config(['--admission-rate', '2.5']).limits.admissionRate).toEqual({ perSecond: 2.5, burst: 3 });
    expect(config(['--admission-rate', '0.1']).limits.admissionRate).toEqual({ perSecond: 0.1, burst: 1 });
    expect(config([], { WSSUP_ADMISSION_RATE: ' 3 / 4 ' }).limits.admissionRate).toEqual({
      perSecond: 3,
      burst: 4,
    });
    for (const bad of ['', '/', '2/', '/5', 'fast', '2/5/7', '2/five']) {
      // A string: the whole message (toThrow with a string checks that the message contains it).
      expect(() => config(['--admission-rate', bad]), bad).toThrow(
        `--admission-rate must be <perSecond>[/<burst>] (e.g. 2/5: 2 a second, 5 at once), got ${JSON.stringify(bad)}`,
      );
    }
    expect(() => config([], { WSSUP_ADMISSION_RATE: 'x' })).toThrow(
      /^WSSUP_ADMISSION_RATE \(--admission-rate\) must be <perSecond>/,
    );
    expect(config(['--capacity-levels', '0.25, 0.75']).limits.capacityLevels).toEqual([0.25, 0.75]);
    expect(config(['--capacity-levels', 'none']).limits.capacityLevels).toEqual([]);
    expect(() => config(['--capacity-levels', '0.5,,0.9'])).toThrow(
      /^--capacity-levels must be comma-separated/,
    );
    // What createSupervisor refuses is named by the flag, and for the rate by which number.
    expect(flagFor('admissionRate.perSecond')).toBe('--admission-rate');
    expect(settingFor('admissionRate.burst', ['--admission-rate', '2/0'], {})).toBe(
      '--admission-rate (burst)',
    );
    expect(settingFor('admissionRate.perSecond', [], { WSSUP_ADMISSION_RATE: '0' })).toBe(
      'WSSUP_ADMISSION_RATE (--admission-rate) (perSecond)',
    );
    expect(settingFor('messageRate.burst', ['--message-rate', '2/0'], {})).toBe('--message-rate (burst)');
    expect(config(['--message-rate', '2.5']).limits.messageRate).toEqual({ perSecond: 2.5, burst: 3 });
    expect(flagFor('capacityLevels')).toBe('--capacity-levels');
    expect(inFlagTerms('at most a third of cluster.leaseTtlMs')).toBe('at most a third of --lease-ttl-ms');
  });
});

describe('--redis and --redis-cluster over TLS', () => {
  it('--help and the README name rediss:// beside redis://, and both take it', () => {
    const entries = usage
      .slice(usage.indexOf('Options'))
      .split(/\n(?= {2}-)/)
      .map((entry) => entry.replace(/\s+/g, ' ').trim());
    for (const flag of ['--redis', '--redis-cluster']) {
      const entry = entries.find((line) => line.startsWith(`${flag} `)) ?? '';
      expect(entry, flag).toContain('redis://host:port');
      expect(entry, flag).toContain('rediss://host:port');
      const row = rows.find((r) => r.flag === flag);
      expect(row?.default, flag).toContain('`rediss://`');
    }
    const tls = 'rediss://127.0.0.1:6390';
    expect(resolveClusterOptions(config(['--redis', tls]).cluster).redis).toBe(tls);
    expect(
      resolveClusterOptions(config(['--redis-cluster', `${tls},rediss://127.0.0.1:6391`]).cluster).redis,
    ).toEqual({
      rootNodes: [tls, 'rediss://127.0.0.1:6391'],
    });
  });
});

describe('--redis-cluster', () => {
  it('takes root nodes as one comma-separated value, and not beside --redis', () => {
    const rootNodes = ['redis://127.0.0.1:7000', 'redis://127.0.0.1:7001'];
    expect(config(['--redis-cluster', `${rootNodes[0]}, ${rootNodes[1]}`]).cluster?.redis).toEqual({
      rootNodes,
    });
    expect(config([], { WSSUP_REDIS_CLUSTER: rootNodes.join(',') }).cluster?.redis).toEqual({ rootNodes });
    expect(config(['--redis-cluster', rootNodes.join(','), '--node-id', 'a']).cluster?.nodeId).toBe('a');
    expect(resolveClusterOptions(config(['--redis-cluster', rootNodes.join(',')]).cluster).redis).toEqual({
      rootNodes,
    });
    expect(() =>
      config(['--redis', 'redis://127.0.0.1:6390', '--redis-cluster', rootNodes.join(',')]),
    ).toThrow(/give one of them/);
    // A bad root node is named by the flag that gave it.
    expect(flagFor('cluster.redis.rootNodes')).toBe('--redis-cluster');
    expect(() =>
      resolveClusterOptions(config(['--redis-cluster', 'redis://a:1,http://b:2']).cluster),
    ).toThrow(expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option: 'cluster.redis.rootNodes' }));
  });
});

describe('--redis-sentinel', () => {
  it('takes name@host:port,host:port as the sentinels of a primary, and not beside --redis or --redis-cluster', () => {
    const sentinels = {
      name: 'mymaster',
      sentinelRootNodes: [
        { host: '127.0.0.1', port: 26379 },
        { host: '::1', port: 26380 },
      ],
    };
    const value = 'mymaster@127.0.0.1:26379, [::1]:26380';
    expect(config(['--redis-sentinel', value]).cluster?.redis).toEqual(sentinels);
    expect(config([], { WSSUP_REDIS_SENTINEL: value }).cluster?.redis).toEqual(sentinels);
    expect(resolveClusterOptions(config(['--redis-sentinel', value]).cluster).redis).toEqual(sentinels);
    expect(config(['--redis-sentinel', value, '--node-id', 'a']).cluster?.nodeId).toBe('a');
    for (const other of [
      ['--redis', 'redis://127.0.0.1:6390'],
      ['--redis-cluster', 'redis://127.0.0.1:7000'],
    ]) {
      expect(() => config([...other, '--redis-sentinel', value])).toThrow(/give one of them/);
    }
    expect(() => config(['--redis-sentinel', '127.0.0.1:26379'])).toThrow(/name@host:port/);
    // A bad address or name is named by the flag that gave it.
    expect(flagFor('cluster.redis.sentinelRootNodes')).toBe('--redis-sentinel');
    expect(flagFor('cluster.redis.name')).toBe('--redis-sentinel');
    expect(() => resolveClusterOptions(config(['--redis-sentinel', 'mymaster@127.0.0.1']).cluster)).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option: 'cluster.redis.sentinelRootNodes' }),
    );
    expect(() => resolveClusterOptions(config(['--redis-sentinel', '@127.0.0.1:26379']).cluster)).toThrow(
      expect.objectContaining({ code: 'WSSUP_INVALID_OPTION', option: 'cluster.redis.name' }),
    );
  });
});

describe("--redis-sentinel's credentials", () => {
  const spec = 'mymaster@127.0.0.1:26379';
  const credentials = {
    WSSUP_REDIS_USERNAME: 'app',
    WSSUP_REDIS_PASSWORD: 'node s3cret',
    WSSUP_REDIS_SENTINEL_USERNAME: 'sentinel-app',
    WSSUP_REDIS_SENTINEL_PASSWORD: 'sentinel s3cret',
  };

  it('come from the environment only, as nodeClientOptions and sentinelClientOptions', () => {
    expect(config(['--redis-sentinel', spec], credentials).cluster?.redis).toEqual({
      name: 'mymaster',
      sentinelRootNodes: [{ host: '127.0.0.1', port: 26379 }],
      nodeClientOptions: { username: 'app', password: 'node s3cret' },
      sentinelClientOptions: { username: 'sentinel-app', password: 'sentinel s3cret' },
    });
    // Each alone: a password without a user (requirepass), the sentinels' and not the servers'.
    expect(
      config([], { WSSUP_REDIS_SENTINEL: spec, WSSUP_REDIS_PASSWORD: 'x' }).cluster?.redis,
    ).toMatchObject({
      nodeClientOptions: { password: 'x' },
    });
    const sentinelsOnly = config(['--redis-sentinel', spec], { WSSUP_REDIS_SENTINEL_PASSWORD: 'y' }).cluster
      ?.redis;
    expect(sentinelsOnly).toEqual(expect.objectContaining({ sentinelClientOptions: { password: 'y' } }));
    expect(sentinelsOnly).not.toHaveProperty('nodeClientOptions');
    expect(
      resolveClusterOptions(config(['--redis-sentinel', spec], credentials).cluster).redis,
    ).toMatchObject({
      nodeClientOptions: { username: 'app' },
    });
    // No flag for them: a flag's value shows in ps.
    expect(() => config(['--redis-password', 'x', '--redis-sentinel', spec])).toThrow(/Unknown option/);
    for (const variable of Object.keys(credentials)) {
      expect(usage).toContain(`  ${variable} `);
      expect(readme.replace(/\s+/g, ' ')).toContain(`\`${variable}\``);
    }
  });

  it('refused empty, or without --redis-sentinel, naming the variable and never its value', () => {
    for (const variable of Object.keys(credentials)) {
      expect(() => config(['--redis-sentinel', spec], { [variable]: '' })).toThrow(
        new RegExp(`^${variable} must not be empty$`),
      );
      for (const other of [
        ['--redis', 'redis://127.0.0.1:6390'],
        ['--redis-cluster', 'redis://127.0.0.1:7000'],
        [],
      ]) {
        expect(() => config(other, { [variable]: 'p s3cret' })).toThrow(
          new RegExp(
            `^${variable} needs --redis-sentinel \\(with --redis or --redis-cluster, give the credentials in the URL`,
          ),
        );
      }
    }
  });

  it('npm start: exit 2 and an error line naming the variable, the password nowhere in the output', async () => {
    const printed: string[] = [];
    const spies = (['error', 'log'] as const).map((stream) =>
      vi.spyOn(console, stream).mockImplementation((line: unknown) => void printed.push(String(line))),
    );
    onTestFinished(() => {
      for (const spy of spies) spy.mockRestore();
    });
    expect(await main(['--redis', 'redis://127.0.0.1:6390'], { WSSUP_REDIS_PASSWORD: 'p s3cret' })).toBe(2);
    expect(printed[0]).toMatch(/^error: WSSUP_REDIS_PASSWORD needs --redis-sentinel /);
    expect(printed.join('\n')).not.toContain('s3cret-token-0123456789');
  });
});

describe('the warning for a server others can reach without a dashboard token', () => {
  it('is given for any host but loopback, and never with --dashboard-token', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.20', 'example.com']) {
      expect(exposureWarning({ host }), host).toMatch(
        new RegExp(
          `^warning: listening on ${host.replaceAll('.', '\\.')} without --dashboard-token: .* open to anyone`,
        ),
      );
      expect(exposureWarning({ host, dashboardToken: 's3cret-token-0123456789' }), host).toBeUndefined();
    }
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) {
      expect(exposureWarning({ host }), host).toBeUndefined();
    }
  });
});

describe('a host others can reach, without a dashboard token', () => {
  // Names that merely begin as 127.x does are names, resolved anywhere (127.internal.example).
  const exposed = [
    '0.0.0.0',
    '::',
    '192.168.1.20',
    'example.com',
    '127.internal.example',
    '127.0.0.1.attacker.example',
  ];

  it('is refused, saying what to do: a token, or --dashboard-open', () => {
    for (const host of exposed) {
      expect(() => config(['--host', host]), host).toThrow(
        new RegExp(
          `^--host ${host.replaceAll('.', '\\.')} is not loopback, and without --dashboard-token, /dashboard, ` +
            '.*set --dashboard-token <secret> \\(better: WSSUP_DASHBOARD_TOKEN, .*\\) to put them behind it, ' +
            'or pass --dashboard-open \\(WSSUP_DASHBOARD_OPEN=1\\) to serve them open on purpose$',
        ),
      );
    }
    // As containers set it: named by its variable.
    expect(() => config([], { HOST: '0.0.0.0' })).toThrow(/^HOST \(--host\) 0\.0\.0\.0 is not loopback, /);
    expect(() => config(['--host', '0.0.0.0'], { WSSUP_DASHBOARD_OPEN: '0' })).toThrow(/is not loopback/);
    expect(() => config(['--host', '0.0.0.0'], { WSSUP_DASHBOARD_OPEN: 'false' })).toThrow(/is not loopback/);
  });

  it('starts behind a token, or open when told so by --dashboard-open or WSSUP_DASHBOARD_OPEN', () => {
    for (const host of exposed) {
      expect(config(['--host', host, '--dashboard-token', 's3cret-token-0123456789']).dashboardToken).toBe(
        's3cret-token-0123456789',
      );
      expect(
        config([], { HOST: host, WSSUP_DASHBOARD_TOKEN: 's3cret-token-0123456789' }).dashboardToken,
      ).toBe('s3cret-token-0123456789');
      expect(config(['--host', host, '--dashboard-open']).dashboardOpen).toBe(true);
      expect(config([], { HOST: host, WSSUP_DASHBOARD_OPEN: '1' }).dashboardOpen).toBe(true);
      expect(config([], { HOST: host, WSSUP_DASHBOARD_OPEN: 'true' }).dashboardOpen).toBe(true);
      // The flag wins over the variable.
      expect(config(['--host', host, '--dashboard-open'], { WSSUP_DASHBOARD_OPEN: '0' }).dashboardOpen).toBe(
        true,
      );
    }
  });

  it('changes nothing on loopback: open without either', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) {
      const plain = config(['--host', host]);
      expect([plain.dashboardToken, plain.dashboardOpen], host).toEqual([undefined, undefined]);
    }
  });

  it('refuses --dashboard-open with --dashboard-token, however each is given', () => {
    expect(() => config(['--dashboard-open', '--dashboard-token', 's3cret-token-0123456789'])).toThrow(
      /^--dashboard-open and --dashboard-token contradict each other: .*give one of them$/,
    );
    expect(() =>
      config([], { WSSUP_DASHBOARD_OPEN: '1', WSSUP_DASHBOARD_TOKEN: 's3cret-token-0123456789' }),
    ).toThrow(
      /^WSSUP_DASHBOARD_OPEN \(--dashboard-open\) and WSSUP_DASHBOARD_TOKEN \(--dashboard-token\) contradict/,
    );
    expect(() =>
      config(['--host', '0.0.0.0', '--dashboard-open'], { WSSUP_DASHBOARD_TOKEN: 's3cret-token-0123456789' }),
    ).toThrow(/^--dashboard-open and WSSUP_DASHBOARD_TOKEN \(--dashboard-token\) contradict/);
    // Off says nothing: a token with WSSUP_DASHBOARD_OPEN=0 is no contradiction.
    expect(
      config([], { WSSUP_DASHBOARD_OPEN: '0', WSSUP_DASHBOARD_TOKEN: 's3cret-token-0123456789' })
        .dashboardToken,
    ).toBe('s3cret-token-0123456789');
  });

  it('reads WSSUP_DASHBOARD_OPEN as 1, true, 0 or false, and refuses anything else', () => {
    for (const raw of ['yes', '', 'on', 'TRUE', '2']) {
      expect(() => config([], { WSSUP_DASHBOARD_OPEN: raw }), raw).toThrow(
        new RegExp(`^WSSUP_DASHBOARD_OPEN \\(--dashboard-open\\) must be 1, true, 0 or false, got "${raw}"$`),
      );
    }
    expect(() => config(['--dashboard-open=1'])).toThrow(/'--dashboard-open' does not take an argument/);
  });

  it('is refused by startReferenceServer too, for a config built in code, before anything starts', async () => {
    await expect(startReferenceServer({ host: '0.0.0.0', port: 0, limits: {} })).rejects.toThrow(
      /^--host 0\.0\.0\.0 is not loopback, /,
    );
  });
});

describe('--max-buffered-bytes below what the echo of the largest message needs', () => {
  // The echo sends a message of up to --max-payload-bytes back whole; the supervisor refuses a
  // message that cannot fit in maxBufferedBytes with its frame header and a heartbeat's frames,
  // so the echo threw and the client was closed with 1011 for a message the server accepted.
  it('is refused at start, naming both settings and the way out', () => {
    expect(() => config(['--max-buffered-bytes', '65536'])).toThrow(
      /^--max-buffered-bytes 65536 cannot hold the echo of a client's largest message, --max-payload-bytes 1048576 \(from the preset production\): with its frame header and room for a heartbeat's ping it needs 1048588 bytes, .*give --max-buffered-bytes at least 1048588, or --max-payload-bytes at most 65530$/,
    );
    expect(() => config(['--max-payload-bytes', '65531'], { WSSUP_MAX_BUFFERED_BYTES: '65536' })).toThrow(
      /^WSSUP_MAX_BUFFERED_BYTES \(--max-buffered-bytes\) 65536 cannot hold .* --max-payload-bytes 65531: .*needs 65537 bytes/,
    );
    // The keepalive text rides with every ping: its frame counts too (2 + 5 bytes).
    expect(() =>
      config([
        '--max-payload-bytes',
        '65530',
        '--max-buffered-bytes',
        '65536',
        '--heartbeat-message',
        'alive',
      ]),
    ).toThrow(/ping and --heartbeat-message it needs 65543 bytes, .*--max-payload-bytes at most 65523$/);
    // Just enough: it starts.
    expect(config(['--max-payload-bytes', '65530', '--max-buffered-bytes', '65536']).limits).toMatchObject({
      maxPayloadBytes: 65530,
      maxBufferedBytes: 65536,
    });
    expect(
      config([
        '--max-payload-bytes',
        '65523',
        '--max-buffered-bytes',
        '65536',
        '--heartbeat-message',
        'alive',
      ]).limits,
    ).toMatchObject({ maxPayloadBytes: 65523 });
    // Within the same preset: the test preset's 64 KiB messages fit its 1 MiB buffer.
    expect(config(['--preset', 'test']).limits).toEqual({ preset: 'test' });
  });

  it('is refused by startReferenceServer too, for a config built in code, before anything starts', async () => {
    await expect(
      startReferenceServer({
        host: '127.0.0.1',
        port: 0,
        limits: { preset: 'test', maxBufferedBytes: 1000 },
      }),
    ).rejects.toThrow(
      /^--max-buffered-bytes 1000 cannot hold the echo of a client's largest message, --max-payload-bytes 65536 \(from the preset test\): .*--max-payload-bytes at most 994$/,
    );
  });
});

describe('the echo check, with values out of their own ranges', () => {
  // The echo check ran before the options' own rules: a --heartbeat-message over 125 bytes, or
  // a --max-payload-bytes above 2147483647, got the echo's error (whose advice could not help)
  // instead of the range's; and --max-payload-bytes 2147483647 was told to give a
  // --max-buffered-bytes above that option's own maximum.
  it('leaves a value out of its range to its own rule', async () => {
    const tooLong = 'k'.repeat(126);
    expect(
      config([
        '--max-payload-bytes',
        '65530',
        '--max-buffered-bytes',
        '65536',
        '--heartbeat-message',
        tooLong,
      ]).limits,
    ).toMatchObject({ maxPayloadBytes: 65530, heartbeatMessage: tooLong });
    await expect(
      startReferenceServer({
        host: '127.0.0.1',
        port: 0,
        limits: {
          preset: 'test',
          maxPayloadBytes: 65530,
          maxBufferedBytes: 65536,
          heartbeatMessage: tooLong,
        },
      }),
    ).rejects.toThrow(/heartbeatMessage/);
    expect(config(['--max-payload-bytes', '2147483648']).limits).toMatchObject({
      maxPayloadBytes: 2147483648,
    });
    await expect(
      startReferenceServer({
        host: '127.0.0.1',
        port: 0,
        limits: { preset: 'test', maxPayloadBytes: 2147483648 },
      }),
    ).rejects.toThrow(/maxPayloadBytes/);
    expect(config(['--max-buffered-bytes', '2147483648']).limits).toMatchObject({
      maxBufferedBytes: 2147483648,
    });
  });

  it('does not advise a --max-buffered-bytes above its maximum', () => {
    let message = '';
    try {
      config(['--max-payload-bytes', '2147483647', '--max-buffered-bytes', '2147483647']);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/ it needs 2147483659 bytes, .*; give --max-payload-bytes at most 2147483635$/);
    expect(message).not.toMatch(/give --max-buffered-bytes/);
  });
});

describe('a bad value read from the environment', () => {
  // Set in a unit file or a pod spec, it is not on the command line: the message that
  // named only --max-per-user sent the reader looking for a flag nobody had typed.
  it('is named by its variable, then its flag; a flag given on the command line by the flag alone', () => {
    expect(() => config([], { WSSUP_MAX_PER_USER: 'abc' })).toThrow(
      /^WSSUP_MAX_PER_USER \(--max-per-user\) must be a number, got "abc"$/,
    );
    expect(() => config(['--max-per-user', 'abc'], { WSSUP_MAX_PER_USER: '5' })).toThrow(
      /^--max-per-user must be a number, got "abc"$/,
    );
    expect(() => config([], { PORT: 'http' })).toThrow(/^PORT \(--port\) must be a number, got "http"$/);
    expect(() => config([], { HOST: ' ' })).toThrow(/^HOST \(--host\) must not be empty$/);
    expect(() => config([], { WSSUP_DASHBOARD_TOKEN: '' })).toThrow(
      /^WSSUP_DASHBOARD_TOKEN \(--dashboard-token\) must not be empty$/,
    );
    expect(() =>
      config([], { WSSUP_REDIS_URL: 'redis://127.0.0.1:6390', WSSUP_LEASE_TTL_MS: 'long' }),
    ).toThrow(/^WSSUP_LEASE_TTL_MS \(--lease-ttl-ms\) must be a number/);
  });

  // A WSSUP_NODE_ID left in a pod spec after --redis was taken out of the command line: the
  // message listed all six flags, none of them typed, and not the variable that was set.
  it('needing --redis is named by what set it, each variable then its flag', () => {
    expect(() => config([], { WSSUP_NODE_ID: 'pod-1' })).toThrow(
      /^WSSUP_NODE_ID \(--node-id\) needs --redis, --redis-cluster or --redis-sentinel$/,
    );
    expect(() => config(['--key-prefix', 'app'], { WSSUP_LEASE_TTL_MS: '9000' })).toThrow(
      /^WSSUP_LEASE_TTL_MS \(--lease-ttl-ms\) and --key-prefix need --redis, --redis-cluster or --redis-sentinel$/,
    );
  });

  it('that the supervisor refuses is named the same way by npm start', async () => {
    const errors: string[] = [];
    const spy = vi
      .spyOn(console, 'error')
      .mockImplementation((line: unknown) => void errors.push(String(line)));
    onTestFinished(() => spy.mockRestore());
    expect(await main([], { WSSUP_MAX_PER_USER: '0' })).toBe(2);
    expect(await main(['--max-per-user', '0'], {})).toBe(2);
    expect(errors).toEqual([
      expect.stringMatching(
        /^error: WSSUP_MAX_PER_USER \(--max-per-user\): expected an integer from 1 to 100000, got 0$/,
      ),
      expect.stringMatching(/^error: --max-per-user: expected an integer from 1 to 100000, got 0$/),
    ]);
  });
});

/**
 * A stray argument is often half of a secret: a token with a space left unquoted
 * (`--dashboard-token Sup3r SecretPW`), or a Redis URL whose flag was forgotten
 * (`serve redis://:pw@host`). parseArgs's message quoted it, and it went to stderr, so to
 * the journal or the pod's log. It is named by its place, and by the flag it follows.
 */
describe('a stray argument is never printed', () => {
  it('names its place, and the flag whose value it follows, not the argument', async () => {
    const errors: string[] = [];
    const spy = vi
      .spyOn(console, 'error')
      .mockImplementation((line: unknown) => void errors.push(String(line)));
    onTestFinished(() => spy.mockRestore());
    expect(await main(['--port', '0', '--dashboard-token', 'Sup3r', 'SecretPW'], {})).toBe(2);
    expect(await main(['redis://:Hunter2pw@10.0.0.1:6379'], {})).toBe(2);
    expect(await main(['--dashboard-token=Sup3r', 'SecretPW', '--port', '0'], {})).toBe(2);
    expect(errors.join('\n')).not.toMatch(/SecretPW|Hunter2pw|Sup3r/);
    expect(errors.map((text) => text.split('\n', 1)[0])).toEqual([
      'error: unexpected argument 5, after the value of --dashboard-token (not shown: it may be a secret): ' +
        'this command takes no positional arguments; quote a value that has spaces',
      'error: unexpected argument 1 (not shown: it may be a secret): ' +
        'this command takes no positional arguments; quote a value that has spaces',
      'error: unexpected argument 2, after the value of --dashboard-token (not shown: it may be a secret): ' +
        'this command takes no positional arguments; quote a value that has spaces',
    ]);
  });
});

/**
 * Number() reads `0x50` as 80, `1e3` as 1000, `+80` as 80, `80.0` as 80: a typo or a
 * value from another syntax became a port or a deadline nobody wrote. Every number
 * setting, from its flag or its variable, is written in decimal, or refused with exit 2.
 */
describe('numbers written other than in decimal', () => {
  const whole = [
    '--port',
    '--max-per-user',
    '--idle-timeout-ms',
    '--heartbeat-ms',
    '--connect-timeout-ms',
    '--drain-timeout-ms',
    '--shutdown-pace-ms',
    '--max-connections',
    '--max-payload-bytes',
    '--max-buffered-bytes',
    '--linger-ms',
    '--retry-after-ms',
    '--max-close-refusals',
    '--close-refusal-timeout-ms',
    '--lease-ttl-ms',
    '--command-timeout-ms',
    '--reaper-interval-ms',
  ];
  const fractional = ['--eviction-threshold', '--capacity-hysteresis'];
  const variableOf = (flag: string) => rows.find((row) => row.flag === flag)?.variable as string;

  /** main()'s exit code and the first line it printed on stderr. */
  async function run(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<[number, string]> {
    const errors: string[] = [];
    const spies = (['error', 'log'] as const).map((stream) =>
      vi.spyOn(console, stream).mockImplementation((line: unknown) => void errors.push(String(line))),
    );
    try {
      const code = await main(argv, env);
      return [code, (errors[0] ?? '').split('\n', 1)[0] as string];
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  }

  it.each(whole)(
    '%s: 0x50, 1e3, 80.0, +80, 0b1010, 0o120 refused, exit 2, by the flag or its variable',
    async (flag) => {
      const redis = needsRedis(flag) ? ['--redis', 'redis://127.0.0.1:9'] : [];
      const variable = variableOf(flag);
      for (const bad of ['0x50', '1e3', '80.0', '+80', '0b1010', '0o120', '8e1', '80.']) {
        expect(await run([...redis, `${flag}=${bad}`]), `${flag}=${bad}`).toEqual([
          2,
          `error: ${flag} must be an integer in decimal digits, got ${JSON.stringify(bad)}`,
        ]);
        expect(await run(redis, { [variable]: bad }), `${variable}=${bad}`).toEqual([
          2,
          `error: ${variable} (${flag}) must be an integer in decimal digits, got ${JSON.stringify(bad)}`,
        ]);
      }
      for (const empty of ['', ' ']) {
        expect(await run([...redis, `${flag}=${empty}`])).toEqual([
          2,
          `error: ${flag} must be a number, got ${JSON.stringify(empty)}`,
        ]);
      }
    },
  );

  it.each(fractional)('%s: 7e-1, 0x1, +0.5 refused, exit 2; 0.5 and .5 read', async (flag) => {
    for (const bad of ['7e-1', '0x1', '+0.5', '1.']) {
      expect(await run([`${flag}=${bad}`]), bad).toEqual([
        2,
        `error: ${flag} must be a number written in decimal (such as 0.7), got ${JSON.stringify(bad)}`,
      ]);
    }
    const option = flag === '--eviction-threshold' ? 'evictionThreshold' : 'capacityHysteresis';
    expect(config([flag, '0.5']).limits[option]).toBe(0.5);
    expect(config([flag, '.5']).limits[option]).toBe(0.5);
  });

  it('--admission-rate and --capacity-levels: each number in decimal, the burst in digits', async () => {
    for (const bad of ['0x2', '2e0/5', '2/0x5', '2/5.0', '+2/5']) {
      expect(await run(['--admission-rate', bad]), bad).toEqual([
        2,
        `error: --admission-rate must be <perSecond>[/<burst>] (e.g. 2/5: 2 a second, 5 at once), got ${JSON.stringify(bad)}`,
      ]);
    }
    expect(await run(['--capacity-levels', '0.5,8e-1'])).toEqual([
      2,
      'error: --capacity-levels must be comma-separated numbers (0.5,0.8,0.9) or none, got "0.5,8e-1"',
    ]);
  });

  it('reads plain decimal digits, with spaces around them dropped; a fraction or a sign is left to the range', async () => {
    expect(config(['--port', '8080']).port).toBe(8080);
    expect(config([], { PORT: ' 8080 ' }).port).toBe(8080);
    expect(config(['--max-per-user', '007']).limits.maxConnectionsPerUser).toBe(7);
    expect(config(['--drain-timeout-ms', '1000']).limits.drainTimeoutMs).toBe(1000);
    // Not whole, or below the range: the supervisor's check, which names its range (and, for a
    // duration that reads as seconds, the milliseconds probably meant).
    expect(await run(['--retry-after-ms', '1.5'])).toEqual([
      2,
      'error: --retry-after-ms: expected an integer from 0 to 2147483647, got 1.5, which looks like seconds: 1.5 s is 1500',
    ]);
    expect(await run(['--linger-ms=-1'])).toEqual([
      2,
      'error: --linger-ms: expected an integer from 0 to 2147483647, got -1',
    ]);
    expect(await run(['--port', '80.5'])).toEqual([
      2,
      'error: --port must be an integer from 0 to 65535, got "80.5"',
    ]);
  });

  // Ops user trial: parseArgs refused `--idle-timeout-ms -5` as ambiguous ("use
  // '--idle-timeout-ms=-5'"), not the range check the README promises for a negative number.
  it('a negative number after a flag is its value, refused by the range, however written', async () => {
    expect(await run(['--idle-timeout-ms', '-5'])).toEqual([
      2,
      'error: --idle-timeout-ms: expected an integer from 1 to 2147483647, got -5',
    ]);
    expect(await run(['--linger-ms', '-1'])).toEqual([
      2,
      'error: --linger-ms: expected an integer from 0 to 2147483647, got -1',
    ]);
    expect(await run(['--eviction-threshold', '-.5'])).toEqual([
      2,
      'error: --eviction-threshold: expected a number from 0 to 1, got -0.5',
    ]);
    expect(await run(['--port', '-1'])).toEqual([
      2,
      'error: --port must be an integer from 0 to 65535, got "-1"',
    ]);
    expect(await run(['--max-per-user', '-Infinity'])).toEqual([
      2,
      'error: --max-per-user must be a number, got "-Infinity"',
    ]);
    // Still refused as before: a negative number where no value is taken, and a word after a flag.
    expect((await run(['--dashboard-open', '-5']))[0]).toBe(2);
    expect((await run(['--idle-timeout-ms', '-x']))[1]).toMatch(/ambiguous/);
    // A stray argument's place is the one typed, the joined value counting as two.
    expect(await run(['--linger-ms', '-1', 'SecretPW'])).toEqual([
      2,
      'error: unexpected argument 3, after the value of --linger-ms (not shown: it may be a secret): ' +
        'this command takes no positional arguments; quote a value that has spaces',
    ]);
  });
});
