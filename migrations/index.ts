import { CreateDjangoSession1700000000000 } from './1700000000000-CreateDjangoSession';

/** Every migration, in order (a class list: no globs, so it works from ts-node, dist/ and Jest alike). */
export const migrations = [CreateDjangoSession1700000000000];
