import { QueryFailedError, type DataSource } from 'typeorm';
import { driverErrorCode, isUniqueViolation, StatementRunner } from './statement-runner';

describe('isUniqueViolation', () => {
  it.each(['23505', 'SQLITE_CONSTRAINT_PRIMARYKEY', 'SQLITE_CONSTRAINT_UNIQUE', 'ER_DUP_ENTRY'])(
    'knows the taken-key code %s, thrown by the driver or wrapped in QueryFailedError',
    (code) => {
      const driverError = Object.assign(new Error('duplicate'), { code });
      expect(isUniqueViolation(driverError)).toBe(true);
      expect(isUniqueViolation(new QueryFailedError('INSERT', [], driverError))).toBe(true);
    },
  );

  it.each(['23503', 'SQLITE_CONSTRAINT_NOTNULL', 'ER_NO_SUCH_TABLE', undefined])('is false for %s', (code) => {
    expect(isUniqueViolation(Object.assign(new Error('other'), { code }))).toBe(false);
  });

  it('reads the code of the driver error inside a QueryFailedError before its own', () => {
    const wrapped = Object.assign(new QueryFailedError('INSERT', [], Object.assign(new Error('x'), { code: '42P01' })), { code: '23505' });
    expect(driverErrorCode(wrapped)).toBe('42P01');
  });
});

describe('StatementRunner on a driver it cannot reach directly (MySQL, Oracle, ...)', () => {
  function dataSourceAnswering(answer: () => Promise<unknown>) {
    const released: number[] = [];
    const asked: unknown[][] = [];
    const dataSource = {
      options: { type: 'mysql' },
      driver: {},
      createQueryRunner: (mode: string) => ({
        query: (...args: unknown[]) => {
          asked.push([mode, ...args]);
          return answer();
        },
        release: () => {
          released.push(1);
          return Promise.resolve();
        },
      }),
    } as unknown as DataSource;
    return { runner: new StatementRunner(dataSource), released, asked };
  }

  it('runs each statement through a QueryRunner on the primary, raw results as TypeORM gives them, and releases it', async () => {
    const { runner, released, asked } = dataSourceAnswering(() => Promise.resolve({ records: [{ n: 1 }], affected: 3 }));
    expect(await runner.run('SELECT ?', [1])).toEqual({ records: [{ n: 1 }], affected: 3 });
    expect(asked).toEqual([['master', 'SELECT ?', [1], true]]);
    expect(released).toHaveLength(1);
  });

  it('answers no records for a write whose driver result is not a list, and 0 rows when the driver counts none', async () => {
    const { runner } = dataSourceAnswering(() => Promise.resolve({ records: { insertId: 4 }, affected: null }));
    expect(await runner.run('INSERT', [])).toEqual({ records: [], affected: 0 });
  });

  it('releases the QueryRunner when the statement fails, and throws its error', async () => {
    const failure = new Error('gone');
    const { runner, released } = dataSourceAnswering(() => Promise.reject(failure));
    await expect(runner.run('SELECT 1', [])).rejects.toBe(failure);
    expect(released).toHaveLength(1);
  });
});
