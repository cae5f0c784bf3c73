/** The options exactly as the user passed them to forRoot / forRootAsync. */
export const SESSIONS_MODULE_OPTIONS = 'SESSIONS:MODULE_OPTIONS';
/** The validated options with every default filled in (`SessionsConfig`). */
export const SESSIONS_CONFIG = 'SESSIONS:CONFIG';
/** The TypeORM DataSource of the database engines (null when the module is told `dataSource: false`). */
export const SESSIONS_DATA_SOURCE = 'SESSIONS:DATA_SOURCE';
/** The `SessionsCache` of the cache and cached_db engines (their cache-manager Cache with Django's semantics). */
export const SESSIONS_CACHE = 'SESSIONS:CACHE';
