// Benchmark-only devDependencies that ship no type declarations.
declare module 'autocannon';
declare module 'express-session';
declare module 'connect-pg-simple';
