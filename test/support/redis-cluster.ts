/**
 * A real Redis Cluster for a test file: six redis-server processes on free loopback ports (three
 * masters with a replica each) joined by `redis-cli --cluster create`, keeping nothing but their node
 * files, in a directory of their own that stop() removes. A short node timeout (2 s) lets a killed
 * master's replica take over within seconds. `describeWithRedisCluster` runs a suite only where
 * redis-server and redis-cli are there (test/support/requirements.ts).
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describeWhereAvailable } from './requirements';

const run = promisify(execFile);

const NODE_TIMEOUT_MS = 2000;
/** How long one `CLUSTER FAILOVER` is given before it is asked again (Redis gives up on it after twice the node timeout). */
const FAILOVER_ATTEMPT_MS = 3 * NODE_TIMEOUT_MS;
/** Long enough for a start-up and a failover (the node timeout plus an election) on a busy machine. */
const WAIT_LIMIT_MS = 20_000;

function probeRedis(): string | null {
  for (const binary of ['redis-server', 'redis-cli']) {
    const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' });
    if (probe.status !== 0)
      return `${binary} is not runnable: ${(probe.error?.message ?? probe.stderr.trim()) || `exit ${String(probe.status)}`}`;
  }
  return null;
}

export function describeWithRedisCluster(name: string, suite: () => void): void {
  describeWhereAvailable(name, [{ name: 'redis-server', packages: ['redis-server'], missing: probeRedis() }], suite);
}

/** A master's port and its replica's (NaN when it has none, e.g. a replica promoted after its master died). */
export interface ClusterShard {
  master: number;
  replica: number;
}

export interface RedisCluster {
  /** `127.0.0.1:<port>` of every node started (REDIS_CLUSTER_NODES). */
  addresses: string[];
  /** Each master with its replica, as the live nodes see them now. */
  shards(): Promise<ClusterShard[]>;
  /** The keys the node on `port` holds that match `pattern` (SCAN). */
  keysOn(port: number, pattern: string): Promise<string[]>;
  /** `CLUSTER FAILOVER` on a replica: resolves once it is a master, the cluster is ok again and its old master is its replica. */
  failover(replica: number): Promise<void>;
  /** SIGKILL of a node (a crashed master): resolves once it is gone. */
  kill(port: number): Promise<void>;
  /** Resolves once the node on `port` is a master and every live node reports cluster_state:ok. */
  waitForMaster(port: number): Promise<void>;
  stop(): Promise<void>;
}

/** `count` distinct free loopback ports (each held open until all are found). */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    }
    return servers.map((server) => (server.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  }
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 5000 });
  return stdout;
}

/** The `field:value` lines of an INFO or CLUSTER INFO reply. */
async function info(port: number, ...command: string[]): Promise<Record<string, string>> {
  const fields: Record<string, string> = {};
  for (const line of (await cli(port, ...command)).split(/\r?\n/)) {
    const separator = line.indexOf(':');
    if (separator > 0) fields[line.slice(0, separator)] = line.slice(separator + 1);
  }
  return fields;
}

/** Whether `condition` holds within `limitMs`, asked every 50 ms. */
async function reached(condition: () => Promise<boolean>, limitMs: number): Promise<boolean> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    if (await condition().catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function waitFor(what: string, condition: () => Promise<boolean>): Promise<void> {
  if (!(await reached(condition, WAIT_LIMIT_MS))) throw new Error(`Redis Cluster: ${what} not reached within ${WAIT_LIMIT_MS} ms`);
}

export interface RedisClusterOptions {
  /**
   * Redis's `cluster-require-full-coverage` (default true, as in Redis): while a master is marked
   * failed and before its replica took over, every node refuses commands; false: only its slots fail.
   */
  requireFullCoverage?: boolean;
}

export async function startRedisCluster({ requireFullCoverage = true }: RedisClusterOptions = {}): Promise<RedisCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'sessions-redis-cluster-'));
  const ports = await freePorts(12);
  const dataPorts = ports.slice(0, 6);
  const servers = new Map<number, ChildProcess>();
  const live = () => [...servers.keys()];

  const stopServer = async (port: number, signal: NodeJS.Signals) => {
    const server = servers.get(port);
    servers.delete(port);
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill(signal);
    await exited;
  };
  const clusterOk = async (port: number) => (await info(port, 'CLUSTER', 'INFO')).cluster_state === 'ok';
  const role = async (port: number) => (await info(port, 'INFO', 'replication')).role;

  const cluster: RedisCluster = {
    addresses: dataPorts.map((port) => `127.0.0.1:${port}`),
    async shards() {
      // <id> <ip:port@bus> <flags> <master id> ... (CLUSTER NODES), from any live node.
      const lines = (await cli(live()[0], 'CLUSTER', 'NODES')).trim().split('\n');
      const nodes = lines.map((line) => {
        const [id, address, flags, masterId] = line.split(' ');
        return { id, port: Number(address.split('@')[0].split(':')[1]), flags: flags.split(','), masterId };
      });
      const up = nodes.filter((node) => !node.flags.includes('fail'));
      return up
        .filter((node) => node.flags.includes('master'))
        .map((master) => ({ master: master.port, replica: up.find((node) => node.masterId === master.id)?.port ?? NaN }));
    },
    async keysOn(port, pattern) {
      return (await cli(port, '--scan', '--pattern', pattern)).split('\n').filter(Boolean);
    },
    async failover(replica) {
      const master = (await cluster.shards()).find((shard) => shard.replica === replica)?.master;
      // Redis aborts a manual failover its master does not join in time (a stalled machine): asked again then.
      await waitFor(`node ${replica} a master`, async () => {
        await cli(replica, 'CLUSTER', 'FAILOVER');
        return reached(async () => (await role(replica)) === 'master', FAILOVER_ATTEMPT_MS);
      });
      await cluster.waitForMaster(replica);
      // The demoted master follows as its replica, linked and in the cluster's view (shards()), as the pair was before.
      await waitFor(`node ${master} a replica of ${replica}`, async () => {
        const fields = await info(master!, 'INFO', 'replication');
        const linked = fields.role === 'slave' && Number(fields.master_port) === replica && fields.master_link_status === 'up';
        return linked && (await cluster.shards()).some((shard) => shard.master === replica && shard.replica === master);
      });
    },
    kill: (port) => stopServer(port, 'SIGKILL'),
    async waitForMaster(port) {
      await waitFor(
        `node ${port} a master, cluster ok`,
        async () => (await role(port)) === 'master' && (await Promise.all(live().map(clusterOk))).every(Boolean),
      );
    },
    async stop() {
      await Promise.all(live().map((port) => stopServer(port, 'SIGTERM')));
      await rm(dir, { recursive: true, force: true });
    },
  };

  try {
    dataPorts.forEach((port, i) => {
      const server = spawn(
        'redis-server',
        // No persistence: nodes-<port>.conf (the cluster's own state) is the only file written. A
        // replica's first sync starts at once (Redis waits 5 s for more replicas by default).
        [
          '--port',
          String(port),
          '--cluster-port',
          String(ports[6 + i]),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          String(NODE_TIMEOUT_MS),
          '--cluster-require-full-coverage',
          requireFullCoverage ? 'yes' : 'no',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          dir,
          '--repl-diskless-sync-delay',
          '0',
        ],
        { stdio: 'ignore' },
      );
      servers.set(port, server);
    });
    await waitFor('every node answering PING', async () =>
      (await Promise.all(dataPorts.map((port) => cli(port, 'PING')))).every((reply) => reply.trim() === 'PONG'),
    );
    await run('redis-cli', ['--cluster', 'create', ...cluster.addresses, '--cluster-replicas', '1', '--cluster-yes'], {
      timeout: WAIT_LIMIT_MS,
    });
    await waitFor('cluster_state:ok on every node', async () => (await Promise.all(dataPorts.map(clusterOk))).every(Boolean));
    // Failover tests need each replica in sync with its master.
    await waitFor('every replica linked to its master', async () => {
      const links = await Promise.all(dataPorts.map((port) => info(port, 'INFO', 'replication')));
      return links.filter((fields) => fields.role === 'slave' && fields.master_link_status === 'up').length === 3;
    });
    // And the cluster's view (shards()) says so too: gossip can still show a replica as a master.
    await waitFor('3 masters, each with its replica, in the cluster view', async () => {
      const shards = await cluster.shards();
      return shards.length === 3 && shards.every((shard) => !Number.isNaN(shard.replica));
    });
    return cluster;
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}
