/**
 * Following a Redis Cluster's failovers (no Django counterpart: Django's Redis cache has no cluster
 * mode). node-redis's cluster client re-reads the cluster's slot map only when a node answers MOVED
 * or ASK, which a master that died never does: its keys would go on being sent to it after its
 * replica took over (node-redis #2806). See docs/redis-cluster.md.
 */

/** The parts of node-redis's cluster client (`@keyv/redis` on a Redis Cluster) used to follow a failover. `_slots.rediscover` is the re-read it runs itself on MOVED. */
export interface RedisClusterClient {
  readonly masters: readonly { client?: { readonly isReady: boolean } }[];
  readonly _slots: { rediscover(startWith: object): Promise<void> };
  on(event: 'node-error', listener: () => void): unknown;
  off(event: 'node-error', listener: () => void): unknown;
}

export function isRedisCluster(client: unknown): client is RedisClusterClient {
  const candidate = client as Partial<RedisClusterClient> | undefined;
  return Array.isArray(candidate?.masters) && typeof candidate._slots?.rediscover === 'function' && typeof candidate.on === 'function';
}

/** How often the slot map is read again while a master of the cluster is unreachable. */
const CLUSTER_REDISCOVER_INTERVAL_MS = 500;

/**
 * Follows a failover of the cluster: from a node's connection error until every master answers
 * again (its replica took over, or it came back), the slot map is read again from a master that
 * answers, every 500 ms. Costs nothing while the cluster is healthy.
 */
export class ClusterFailoverWatch {
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly cluster: RedisClusterClient) {
    cluster.on('node-error', this.#watch);
  }

  readonly #watch = (): void => {
    this.#timer ??= setInterval(() => void this.#rediscover(), CLUSTER_REDISCOVER_INTERVAL_MS).unref();
  };

  async #rediscover(): Promise<void> {
    // A master without a client is one not connected to yet (minimizeConnections), not a failing one.
    const clients = this.cluster.masters.map((master) => master.client);
    if (clients.every((client) => client === undefined || client.isReady)) return this.stop();
    const answering = clients.find((client) => client?.isReady);
    // The cluster emits a failed re-read as an 'error' of its own; the next tick tries again.
    if (answering) await this.cluster._slots.rediscover(answering).catch(() => undefined);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  close(): void {
    this.cluster.off('node-error', this.#watch);
    this.stop();
  }
}
