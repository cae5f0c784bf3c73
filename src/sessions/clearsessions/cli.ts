#!/usr/bin/env node
/** The package's command line (`npx nest-django-sessions clearsessions <module file>`), see clear-sessions.command.ts. */
import { main } from './clear-sessions.command';

main();
