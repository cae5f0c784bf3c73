/** The options exactly as the user passed them to forRoot / forRootAsync. */
export const SESSIONS_MODULE_OPTIONS = 'SESSIONS:MODULE_OPTIONS';
/** The validated options with every default filled in (`SessionsConfig`). */
export const SESSIONS_CONFIG = 'SESSIONS:CONFIG';
/** The TypeORM DataSource of the database engines (null when the module is told `dataSource: false`). */
export const SESSIONS_DATA_SOURCE = 'SESSIONS:DATA_SOURCE';
/** The cache-manager Cache of the cache engines. */
export const SESSIONS_CACHE = 'SESSIONS:CACHE';
