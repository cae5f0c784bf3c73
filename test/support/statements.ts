import type { Logger as TypeOrmLogger } from 'typeorm';

/** A TypeORM logger keeping every statement on one table, with its parameters. */
export class StatementRecorder implements TypeOrmLogger {
  readonly statements: { query: string; parameters: unknown[] }[] = [];

  constructor(private readonly table: string) {}

  logQuery(query: string, parameters?: unknown[]): void {
    if (query.includes(this.table)) this.statements.push({ query, parameters: parameters ?? [] });
  }
  logQueryError(): void {}
  logQuerySlow(): void {}
  logSchemaBuild(): void {}
  logMigration(): void {}
  log(): void {}

  reset(): void {
    this.statements.length = 0;
  }

  /** The statements' SQL. */
  queries(): string[] {
    return this.statements.map((statement) => statement.query);
  }

  /** Every string parameter, arrays flattened. */
  stringParameters(): string[] {
    return this.statements.flatMap((s) => s.parameters.flat(2)).filter((p): p is string => typeof p === 'string');
  }
}
