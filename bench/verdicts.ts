/**
 * The goals of `npm run bench` (issue 17) and their verdicts: the table's lines (each route's median
 * round, with the spread of all rounds) and, per platform and goal, the median of the per-round ratios.
 */
import type { HttpPlatform } from './peers/nest-app';
import type { Row } from './load';
import { PLATFORMS, round, ROUNDS, ROUTES, type RouteName } from './settings';
import type { Subject } from './systems';

export interface Goal {
  ours: [string, RouteName];
  theirs: [string, RouteName];
  /** The least ratio of the two sides' req/s that meets it. */
  goal: number;
}

/** Issue 17's goals, on each platform. */
export const GOALS: Goal[] = [
  { ours: ['db', 'untouched'], theirs: ['ceiling', 'untouched'], goal: 0.95 },
  { ours: ['db', 'read'], theirs: ['peer-pg', 'read'], goal: 3 },
  { ours: ['db', 'increment'], theirs: ['peer-pg', 'increment'], goal: 3 },
  { ours: ['cache', 'read'], theirs: ['peer-redis', 'read'], goal: 1.2 },
  { ours: ['cache', 'increment'], theirs: ['peer-redis', 'increment'], goal: 1.2 },
  { ours: ['cached_db', 'read'], theirs: ['peer-redis', 'read'], goal: 1.2 },
  { ours: ['db-scale', 'read'], theirs: ['db', 'read'], goal: 0.9 },
  { ours: ['db-scale', 'increment'], theirs: ['db', 'increment'], goal: 0.9 },
];

/** One line of the table: the round with the median req/s of a system's route, and the spread of all rounds. */
export interface Summary extends Row {
  rounds: number;
  requestsPerSecondMin: number;
  requestsPerSecondMax: number;
}

export function summarise(rows: Row[]): Summary[] {
  const groups = new Map<string, Row[]>();
  for (const row of rows) {
    const id = `${row.platform} ${row.system} ${row.route}`;
    groups.set(id, [...(groups.get(id) ?? []), row]);
  }
  return [...groups.values()].map((runs) => {
    const sorted = [...runs].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond);
    const median = sorted[Math.floor((sorted.length - 1) / 2)];
    return {
      ...median,
      rounds: runs.length,
      requestsPerSecondMin: sorted[0].requestsPerSecond,
      requestsPerSecondMax: sorted.at(-1)!.requestsPerSecond,
    };
  });
}

export interface Target {
  platform: HttpPlatform;
  claim: string;
  /**
   * The verdict's ratio: the median of the per-round ratios (`rounds`). Each round measures the two
   * sides of a goal seconds apart, so its ratio is a pair that the machine's drift hits alike.
   */
  ratio: number | null;
  rounds: number[];
  /** The ratio of the two sides' median req/s, for reference (the drift between rounds is in it). */
  ratioOfMedians: number | null;
  goal: number;
  met: boolean | null;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

export function targets(goals: Goal[], all: Subject[], summary: Summary[], rows: Row[]): Target[] {
  const rate = (list: Row[], platform: HttpPlatform, [system, route]: [string, RouteName]) =>
    list.find((r) => r.platform === platform && r.system === system && r.route === route)?.requestsPerSecond;
  const ratioOf = (list: Row[], platform: HttpPlatform, goal: Goal) => {
    const [a, b] = [rate(list, platform, goal.ours), rate(list, platform, goal.theirs)];
    return a && b ? round(a / b) : null;
  };
  const side = (platform: HttpPlatform, [system, route]: [string, RouteName]) =>
    `${all.find((s) => s.platform === platform && s.system.id === system)?.label ?? system} ${ROUTES[route]}`;
  const platforms = PLATFORMS.filter((platform) => all.some((s) => s.platform === platform));
  return platforms.flatMap((platform) =>
    goals.map((goal) => {
      const rounds = Array.from({ length: ROUNDS }, (_, i) =>
        ratioOf(
          rows.filter((r) => r.round === i + 1),
          platform,
          goal,
        ),
      ).filter((r) => r !== null);
      const paired = median(rounds);
      const ratio = paired === null ? null : round(paired);
      return {
        platform,
        claim: `${side(platform, goal.ours)} vs ${side(platform, goal.theirs)}`,
        ratio,
        rounds,
        ratioOfMedians: ratioOf(summary, platform, goal),
        goal: goal.goal,
        met: ratio === null ? null : ratio >= goal.goal,
      };
    }),
  );
}
